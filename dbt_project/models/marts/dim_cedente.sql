{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['fund_cnpj', 'cedente_doc'],
    on_schema_change='fail',
) }}

{#-
  One row per fund and cedente: per fund, so that row-level security keeps a tenant to the cedentes of its
  own funds. Incremental: each run reads only its window's positions and acquisitions and merges them with
  the rows already here (first and last day seen; the name from the latest day).
-#}
with positions as (

    select fund_cnpj, cedente_doc, cedente_name, reference_date as seen_on
    from {{ ref('stg_receivable_positions') }}
    where {{ in_window('reference_date') }} and cedente_doc is not null

),

acquisitions as (

    select fund_cnpj, cedente_doc, cedente_name, event_date as seen_on
    from {{ ref('stg_acquisitions') }}
    where {{ in_window('event_date') }} and cedente_doc is not null

),

window_rows as (

    select * from positions
    union all
    select * from acquisitions

),

{% if is_incremental() %}
known as (

    select fund_cnpj, cedente_doc, cedente_name, first_seen_on as seen_on from {{ this }} as existing
    where (existing.fund_cnpj, existing.cedente_doc) in (select fund_cnpj, cedente_doc from window_rows)
    union all
    select fund_cnpj, cedente_doc, cedente_name, last_seen_on from {{ this }} as existing
    where (existing.fund_cnpj, existing.cedente_doc) in (select fund_cnpj, cedente_doc from window_rows)

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
        cedente_doc,
        (array_agg(cedente_name order by seen_on desc) filter (where cedente_name is not null))[1] as cedente_name,
        case length(cedente_doc) when 11 then 'PF' when 14 then 'PJ' end as person_kind,
        min(seen_on) as first_seen_on,
        max(seen_on) as last_seen_on
    from all_rows
    group by fund_cnpj, cedente_doc

)

select * from final
