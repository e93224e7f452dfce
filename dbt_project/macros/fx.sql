{#-
  The BRL price of one unit of `currency` on `on_date`: 1 for BRL, else the latest rate of `reference.fx_rates`
  on or before that day (PTAX is published for business days; a holiday takes the previous one). Null when
  no rate is known, which the not_null tests on *_brl columns report.
-#}
{% macro fx_rate_to_brl(currency, on_date) -%}
    case
        when {{ currency }} = 'BRL' then 1::numeric(18, 6)
        else (
            select fx.rate_to_brl
            from {{ source('reference', 'fx_rates') }} as fx
            where fx.currency = {{ currency }} and fx.rate_date <= {{ on_date }}
            order by fx.rate_date desc
            limit 1
        )
    end
{%- endmacro %}

{#- `value` in BRL at `rate`, rounded to centavos. -#}
{% macro to_brl(value, rate) -%}
    round({{ value }} * {{ rate }}, 2)::numeric(18, 2)
{%- endmacro %}
