{{ config(materialized='table') }}

with asset_types as (

    select * from {{ ref('stg_asset_types') }}

)

select
    asset_type,
    asset_type_name,
    category,
    default_currency
from asset_types
