with source as (

    select * from {{ source('reference', 'fund_managers') }}

),

renamed as (

    select
        manager_id,
        manager_name,
        tenant_role
    from source

)

select * from renamed
