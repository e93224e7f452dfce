{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['fund_cnpj', 'sacado_doc'],
    on_schema_change='fail',
) }}

{#-
  One row per fund and sacado: per fund, so that row-level security keeps a tenant to the sacados of its
  own funds. Incremental: each run reads only its window's positions and acquisitions and merges them with
  the rows already here (first and last day seen; the name from the latest day).
-#}
with positions as (

    select fund_cnpj, sacado_doc, sacado_name, reference_date as seen_on
    from {{ ref('stg_receivable_positions') }}
    where {{ in_window('reference_date') }} and sacado_doc is not null

),

acquisitions as (

    select fund_cnpj, sacado_doc, sacado_name, event_date as seen_on
    from {{ ref('stg_acquisitions') }}
    where {{ in_window('event_date') }} and sacado_doc is not null

),

window_rows as (

    select * from positions
    union all
    select * from acquisitions

),

{% if is_incremental() %}
known as (

    select fund_cnpj, sacado_doc, sacado_name, first_seen_on as seen_on from {{ this }} as existing
    where (existing.fund_cnpj, existing.sacado_doc) in (select fund_cnpj, sacado_doc from window_rows)
    union all
    select fund_cnpj, sacado_doc, sacado_name, last_seen_on from {{ this }} as existing
    where (existing.fund_cnpj, existing.sacado_doc) in (select fund_cnpj, sacado_doc from window_rows)

),
{% endif %}

all_rows as (

    select * from window_rows
    {% if is_incremental() %}
    union all
    select * from known
    {% endif %}

),

final as (

    select
        fund_cnpj,
        sacado_doc,
        (array_agg(sacado_name order by seen_on desc) filter (where sacado_name is not null))[1] as sacado_name,
        case length(sacado_doc) when 11 then 'PF' when 14 then 'PJ' end as person_kind,
        min(seen_on) as first_seen_on,
        max(seen_on) as last_seen_on
    from all_rows
    group by fund_cnpj, sacado_doc

)

select * from final
