with source as (

    select * from {{ source('reference', 'custodians') }}

),

renamed as (

    select
        custodian_id,
        custodian_name
    from source

)

select * from renamed
