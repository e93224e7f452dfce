{{ config(materialized='table') }}

with custodians as (

    select * from {{ ref('stg_custodians') }}

),

final as (

    select
        custodian_id,
        custodian_name
    from custodians
    union all
    select
        'legacy' as custodian_id,
        'Legacy system (migrated history)' as custodian_name
    where not exists (
        select custodians.custodian_id from custodians
        where custodians.custodian_id = 'legacy'
    )

)

select * from final
