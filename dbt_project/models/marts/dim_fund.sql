{{ config(materialized='table') }}

{#- The registry's funds, plus any fund the marts hold that the registry lacks (in_registry = false), so
    that every fact's fund has a row here. -#}
with registry as (

    select * from {{ ref('stg_funds') }}

),

managers as (

    select * from {{ ref('stg_fund_managers') }}

),

seen as (

    select distinct fund_cnpj from {{ ref('mart_fund_daily') }}

),

funds as (

    select
        coalesce(registry.fund_cnpj, seen.fund_cnpj) as fund_cnpj,
        registry.fund_name,
        registry.manager_id,
        managers.manager_name,
        registry.custodians,
        registry.fund_cnpj is not null as in_registry
    from registry
    full outer join seen on seen.fund_cnpj = registry.fund_cnpj
    left join managers on managers.manager_id = registry.manager_id

)

select * from funds
