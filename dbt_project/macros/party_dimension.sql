{#-
  A party dimension (cedente or sacado), one row per fund and party document: per fund, so that row-level
  security keeps a tenant to the parties of its own funds. Incremental: each run reads only its window's
  positions and acquisitions and merges them with the rows already in the model (first and last day seen; the
  name from the latest day). `party`: 'cedente' or 'sacado'.
-#}
{% macro party_dimension(party) %}
with positions as (

    select fund_cnpj, {{ party }}_doc, {{ party }}_name, reference_date as seen_on
    from {{ ref('stg_receivable_positions') }}
    where {{ in_window('reference_date') }} and {{ party }}_doc is not null

),

acquisitions as (

    select fund_cnpj, {{ party }}_doc, {{ party }}_name, event_date as seen_on
    from {{ ref('stg_acquisitions') }}
    where {{ in_window('event_date') }} and {{ party }}_doc is not null

),

window_rows as (

    select * from positions
    union all
    select * from acquisitions

),

{% if is_incremental() %}
known as (

    select fund_cnpj, {{ party }}_doc, {{ party }}_name, first_seen_on as seen_on from {{ this }} as existing
    where (existing.fund_cnpj, existing.{{ party }}_doc) in (select fund_cnpj, {{ party }}_doc from window_rows)
    union all
    select fund_cnpj, {{ party }}_doc, {{ party }}_name, last_seen_on from {{ this }} as existing
    where (existing.fund_cnpj, existing.{{ party }}_doc) in (select fund_cnpj, {{ party }}_doc from window_rows)

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
        {{ party }}_doc,
        (array_agg({{ party }}_name order by seen_on desc) filter (where {{ party }}_name is not null))[1] as {{ party }}_name,
        case length({{ party }}_doc) when 11 then 'PF' when 14 then 'PJ' end as person_kind,
        min(seen_on) as first_seen_on,
        max(seen_on) as last_seen_on
    from all_rows
    group by fund_cnpj, {{ party }}_doc

)

select * from final
{% endmacro %}
