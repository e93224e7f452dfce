with source as (

    select * from {{ source('reference', 'funds') }}

),

renamed as (

    select
        fund_cnpj,
        fund_name,
        manager_id,
        custodians
    from source

)

select * from renamed
