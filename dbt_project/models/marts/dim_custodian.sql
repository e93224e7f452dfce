{{ config(materialized='table') }}

with custodians as (

    select * from {{ ref('stg_custodians') }}

),

final as (

    select custodian_id, custodian_name from custodians
    union all
    select 'legacy', 'Legacy system (migrated history)'
    where not exists (select 1 from custodians where custodian_id = 'legacy')

)

select * from final
