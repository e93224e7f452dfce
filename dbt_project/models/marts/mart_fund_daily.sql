{{ config(materialized='partitioned_incremental', partition_by='reference_date') }}

with positions as (

    select * from {{ ref('fct_receivable_position_daily') }}
    where reference_date between '{{ var("min_date") }}'::date and '{{ var("max_date") }}'::date

),

per_fund_day as (

    select
        fund_cnpj,
        reference_date,
        count(*)::integer as receivable_count,
        sum(nominal_value)::numeric(18, 2) as nominal_value,
        sum(present_value)::numeric(18, 2) as present_value,
        sum(coalesce(acquisition_value, 0))::numeric(18, 2) as acquisition_value,
        sum(pdd_value)::numeric(18, 2) as pdd_value,
        sum(case when days_overdue > 0 then present_value else 0 end)::numeric(18, 2) as overdue_present_value
    from positions
    group by fund_cnpj, reference_date

)

select * from per_fund_day
