with source as (

    select * from {{ source('reference', 'asset_types') }}

),

renamed as (

    select
        asset_type,
        asset_type_name,
        category,
        coalesce(default_currency, 'BRL') as default_currency
    from source

)

select * from renamed
