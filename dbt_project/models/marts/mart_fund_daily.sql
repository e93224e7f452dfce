{{ config(
    materialized='partitioned_incremental',
    partition_by='reference_date',
    partition_indexes=[['fund_cnpj', 'reference_date']],
) }}

{#-
  Per fund and business day, every figure an analyst starts from. All values in BRL. Ratios are fractions
  (0.0123 = 1.23 %) rounded to 6 places, null when their denominator is 0.
-#}
with positions as (

    select * from {{ ref('fct_receivable_position_daily') }}
    where {{ in_window('reference_date') }}

),

quotas as (

    select * from {{ ref('stg_fund_quotas') }}
    where {{ in_window('reference_date') }}

),

acquisitions as (

    select * from {{ ref('fct_acquisition') }}
    where {{ in_window('event_date') }}

),

settlements as (

    select * from {{ ref('fct_settlement') }}
    where {{ in_window('event_date') }}

),

stock as (

    select
        fund_cnpj,
        reference_date,
        count(*) as receivable_count,
        sum(nominal_value_brl) as nominal_value,
        sum(present_value_brl) as present_value,
        sum(coalesce(acquisition_value_brl, 0)) as acquisition_value,
        sum(pdd_value_brl) as pdd_value,
        round(sum(present_value_brl * cmn2682_provision_rate), 2) as pdd_cmn2682_value,
        {%- for rating in cmn2682_ratings() %}
        sum(case when cmn2682_rating = '{{ rating }}' then present_value_brl else 0 end)
            as pv_rating_{{ rating | lower }},
        {%- endfor %}
        {%- for bucket in aging_bucket_names() %}
        sum(case when aging_bucket = '{{ bucket }}' then present_value_brl else 0 end) as pv_{{ bucket }},
        {%- endfor %}
        sum(case when days_overdue > 0 then present_value_brl else 0 end) as overdue_value,
        {%- for days in [30, 60, 90, 180] %}
        sum(case when days_overdue > {{ days }} then present_value_brl else 0 end) as overdue_over_{{ days }}_value,
        {%- endfor %}
        sum(present_value_brl * greatest(days_to_due, 0)) as pv_weighted_days_to_due
    from positions
    group by fund_cnpj, reference_date

),

{%- for party in ['cedente', 'sacado'] %}

{{ party }}_exposure as (

    select
        fund_cnpj,
        reference_date,
        sum(present_value_brl) as exposure,
        row_number() over (
            partition by fund_cnpj, reference_date order by sum(present_value_brl) desc, {{ party }}_doc
        ) as exposure_rank
    from positions
    group by fund_cnpj, reference_date, {{ party }}_doc

),

{{ party }}_concentration as (

    select
        fund_cnpj,
        reference_date,
        {%- for n in [1, 5, 10] %}
        {%- set name = 'top' ~ n ~ '_' ~ party ~ '_value' %}
        sum(case when exposure_rank <= {{ n }} then exposure else 0 end) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ party }}_exposure
    group by fund_cnpj, reference_date

),
{%- endfor %}

net_assets as (

    select
        fund_cnpj,
        reference_date,
        sum(net_assets) as pl,
        sum(case when quota_class = 'senior' then net_assets else 0 end) as pl_senior,
        sum(case when quota_class = 'mezanino' then net_assets else 0 end) as pl_mezzanine,
        sum(case when quota_class = 'subordinada' then net_assets else 0 end) as pl_junior
    from quotas
    group by fund_cnpj, reference_date

),

acquired as (

    select
        fund_cnpj,
        event_date as reference_date,
        count(*) as acquisitions_count,
        sum(nominal_value_brl) as acquisitions_nominal_value,
        sum(acquisition_value_brl) as acquisitions_value
    from acquisitions
    group by fund_cnpj, event_date

),

settled as (

    select
        fund_cnpj,
        event_date as reference_date,
        count(*) filter (where kind in ('liquidacao', 'liquidacao_parcial')) as settlements_count,
        coalesce(sum(amount_paid_brl) filter (where kind in ('liquidacao', 'liquidacao_parcial')), 0)
            as settlements_value,
        count(*) filter (where kind = 'recompra') as repurchases_count,
        coalesce(sum(amount_paid_brl) filter (where kind = 'recompra'), 0) as repurchases_value,
        count(*) filter (where kind = 'baixa') as write_offs_count
    from settlements
    group by fund_cnpj, event_date

),

fund_days as (

    select
        fund_cnpj,
        reference_date
    from stock
    union
    select
        fund_cnpj,
        reference_date
    from net_assets
    union
    select
        fund_cnpj,
        reference_date
    from acquired
    union
    select
        fund_cnpj,
        reference_date
    from settled

),

final as (

    select
        fund_days.fund_cnpj,
        fund_days.reference_date,
        net_assets.pl::numeric(18, 2) as pl,
        net_assets.pl_senior::numeric(18, 2) as pl_senior,
        net_assets.pl_mezzanine::numeric(18, 2) as pl_mezzanine,
        net_assets.pl_junior::numeric(18, 2) as pl_junior,
        round(net_assets.pl_junior / nullif(net_assets.pl, 0), 6)::numeric(12, 6) as subordination_junior_ratio,
        round((net_assets.pl_junior + net_assets.pl_mezzanine) / nullif(net_assets.pl, 0), 6)::numeric(12, 6)
            as subordination_junior_mezzanine_ratio,
        coalesce(stock.receivable_count, 0)::integer as receivable_count,
        coalesce(stock.nominal_value, 0)::numeric(18, 2) as nominal_value,
        coalesce(stock.present_value, 0)::numeric(18, 2) as present_value,
        coalesce(stock.acquisition_value, 0)::numeric(18, 2) as acquisition_value,
        coalesce(stock.pdd_value, 0)::numeric(18, 2) as pdd_value,
        round(stock.pdd_value / nullif(stock.present_value, 0), 6)::numeric(12, 6) as pdd_ratio,
        coalesce(stock.pdd_cmn2682_value, 0)::numeric(18, 2) as pdd_cmn2682_value,
        {%- for rating in cmn2682_ratings() %}
        coalesce(stock.pv_rating_{{ rating | lower }}, 0)::numeric(18, 2) as pv_rating_{{ rating | lower }},
        {%- endfor %}
        {%- for bucket in aging_bucket_names() %}
        coalesce(stock.pv_{{ bucket }}, 0)::numeric(18, 2) as pv_{{ bucket }},
        {%- endfor %}
        coalesce(stock.overdue_value, 0)::numeric(18, 2) as overdue_value,
        {%- for days in [30, 60, 90, 180] %}
        coalesce(stock.overdue_over_{{ days }}_value, 0)::numeric(18, 2) as overdue_over_{{ days }}_value,
        round(stock.overdue_over_{{ days }}_value / nullif(stock.present_value, 0), 6)::numeric(12, 6)
            as delinquency_over_{{ days }}_ratio,
        {%- endfor %}
        round(stock.pdd_value / nullif(stock.overdue_value, 0), 6)::numeric(12, 6) as pdd_coverage_ratio,
        round(stock.pdd_value / nullif(stock.overdue_over_90_value, 0), 6)::numeric(12, 6)
            as pdd_coverage_over_90_ratio,
        {%- for party in ['cedente', 'sacado'] %}
        {%- for n in [1, 5, 10] %}
        round(
            {{ party }}_concentration.top{{ n }}_{{ party }}_value / nullif(stock.present_value, 0), 6
        )::numeric(12, 6) as top{{ n }}_{{ party }}_ratio,
        {%- endfor %}
        {%- endfor %}
        round(stock.pv_weighted_days_to_due / nullif(stock.present_value, 0), 2)::numeric(10, 2)
            as weighted_average_term_days,
        coalesce(acquired.acquisitions_count, 0)::integer as acquisitions_count,
        coalesce(acquired.acquisitions_nominal_value, 0)::numeric(18, 2) as acquisitions_nominal_value,
        coalesce(acquired.acquisitions_value, 0)::numeric(18, 2) as acquisitions_value,
        coalesce(settled.settlements_count, 0)::integer as settlements_count,
        coalesce(settled.settlements_value, 0)::numeric(18, 2) as settlements_value,
        coalesce(settled.repurchases_count, 0)::integer as repurchases_count,
        coalesce(settled.repurchases_value, 0)::numeric(18, 2) as repurchases_value,
        coalesce(settled.write_offs_count, 0)::integer as write_offs_count
    from fund_days
    left join stock
        on stock.fund_cnpj = fund_days.fund_cnpj and stock.reference_date = fund_days.reference_date
    left join cedente_concentration
        on cedente_concentration.fund_cnpj = fund_days.fund_cnpj
        and cedente_concentration.reference_date = fund_days.reference_date
    left join sacado_concentration
        on sacado_concentration.fund_cnpj = fund_days.fund_cnpj
        and sacado_concentration.reference_date = fund_days.reference_date
    left join net_assets
        on net_assets.fund_cnpj = fund_days.fund_cnpj and net_assets.reference_date = fund_days.reference_date
    left join acquired
        on acquired.fund_cnpj = fund_days.fund_cnpj and acquired.reference_date = fund_days.reference_date
    left join settled
        on settled.fund_cnpj = fund_days.fund_cnpj and settled.reference_date = fund_days.reference_date

)

select * from final
