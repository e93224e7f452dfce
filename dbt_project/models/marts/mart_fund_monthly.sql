{{ config(
    materialized='partitioned_incremental',
    partition_by='reference_month',
    partition_interval='year',
    window_grain='month',
) }}

{#-
  Per fund and month, shaped like the CVM "Informe Mensal de FIDC": the position figures of the month's last
  reported business day (PL, stock, PDD, ratings, aging buckets, delinquency, concentration, subordination)
  and the month's flows summed. The run's window is widened to whole months (window_grain='month').
-#}
{%- set position_columns = [
    'pl', 'pl_senior', 'pl_mezzanine', 'pl_junior', 'subordination_junior_ratio',
    'subordination_junior_mezzanine_ratio', 'receivable_count', 'nominal_value', 'present_value',
    'acquisition_value', 'pdd_value', 'pdd_ratio', 'pdd_cmn2682_value',
] -%}
{%- for rating in cmn2682_ratings() %}{% do position_columns.append('pv_rating_' ~ rating | lower) %}{% endfor -%}
{%- for bucket in aging_bucket_names() %}{% do position_columns.append('pv_' ~ bucket) %}{% endfor -%}
{%- do position_columns.append('overdue_value') -%}
{%- for days in [30, 60, 90, 180] -%}
{%- do position_columns.append('overdue_over_' ~ days ~ '_value') -%}
{%- do position_columns.append('delinquency_over_' ~ days ~ '_ratio') -%}
{%- endfor -%}
{%- do position_columns.extend(['pdd_coverage_ratio', 'pdd_coverage_over_90_ratio']) -%}
{%- for party in ['cedente', 'sacado'] -%}
{%- for n in [1, 5, 10] %}{% do position_columns.append('top' ~ n ~ '_' ~ party ~ '_ratio') %}{% endfor -%}
{%- endfor -%}
{%- do position_columns.append('weighted_average_term_days') -%}
{%- set flow_columns = [
    'acquisitions_count', 'acquisitions_nominal_value', 'acquisitions_value', 'settlements_count',
    'settlements_value', 'repurchases_count', 'repurchases_value', 'write_offs_count',
] -%}

-- the relationships tests read these: dbt builds them first (tests/unit/test_dbt_manifest.py)
-- depends_on: {{ ref('dim_fund') }}

with daily as (

    select * from {{ ref('mart_fund_daily') }}
    where {{ in_window('reference_date', grain='month') }}

),

calendar as (

    select * from {{ ref('dim_date') }}
    where {{ in_window('calendar_date', grain='month') }}

),

months as (

    select
        fund_cnpj,
        date_trunc('month', reference_date)::date as reference_month,
        max(reference_date) filter (where receivable_count > 0 or pl is not null) as position_date,
        count(*) filter (where receivable_count > 0) as days_with_stock,
        {%- for column in flow_columns %}
        sum({{ column }}) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from daily
    group by fund_cnpj, date_trunc('month', reference_date)

),

month_ends as (

    select
        month_start,
        max(calendar_date) filter (where is_month_last_business_day) as last_business_day
    from calendar
    group by month_start

),

final as (

    select
        months.fund_cnpj,
        months.reference_month,
        months.position_date,
        coalesce(months.position_date = month_ends.last_business_day, false) as is_month_complete,
        months.days_with_stock::integer as days_with_stock,
        {%- for column in position_columns %}
        position_day.{{ column }},
        {%- endfor %}
        {%- for column in flow_columns %}
        {%- set column_type = 'integer' if column.endswith('_count') else 'numeric(18, 2)' %}
        months.{{ column }}::{{ column_type }} as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from months
    left join daily as position_day
        on position_day.fund_cnpj = months.fund_cnpj and position_day.reference_date = months.position_date
    left join month_ends on month_ends.month_start = months.reference_month

)

select * from final
