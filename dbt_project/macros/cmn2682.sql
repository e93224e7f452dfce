{#-
  Resolução CMN 2682/1999, minimum rating and provision by calendar days overdue. A receivable not yet
  overdue is AA when the cedente co-obliges (coobrigação: a second obligor, the prime case) and A otherwise;
  1-14 days A, 15-30 B, 31-60 C, 61-90 D, 91-120 E, 121-150 F, 151-180 G, over 180 H.
-#}
{% macro cmn2682_rating(days_overdue, coobligation) -%}
    case
        when {{ days_overdue }} <= 0 then case when coalesce({{ coobligation }}, false) then 'AA' else 'A' end
        when {{ days_overdue }} <= 14 then 'A'
        when {{ days_overdue }} <= 30 then 'B'
        when {{ days_overdue }} <= 60 then 'C'
        when {{ days_overdue }} <= 90 then 'D'
        when {{ days_overdue }} <= 120 then 'E'
        when {{ days_overdue }} <= 150 then 'F'
        when {{ days_overdue }} <= 180 then 'G'
        else 'H'
    end
{%- endmacro %}

{#- The provision rate (0.005 = 0.5 %) of a CMN 2682 rating. -#}
{% macro cmn2682_provision_rate(rating) -%}
    case {{ rating }}
        when 'AA' then 0.000
        when 'A' then 0.005
        when 'B' then 0.010
        when 'C' then 0.030
        when 'D' then 0.100
        when 'E' then 0.300
        when 'F' then 0.500
        when 'G' then 0.700
        when 'H' then 1.000
    end::numeric(4, 3)
{%- endmacro %}

{#- The CMN 2682 ratings in order, for columns per rating. -#}
{% macro cmn2682_ratings() -%}
    {{ return(['AA', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H']) }}
{%- endmacro %}

{#-
  Aging buckets as the CVM monthly FIDC report (Informe Mensal, tabs V and VI) counts them: days to maturity
  for receivables not overdue (`to_mature_*`), days overdue otherwise (`overdue_*`). Upper bounds in days.
-#}
{% macro aging_bounds() -%}
    {{ return([30, 60, 90, 120, 150, 180, 360, 720, 1080]) }}
{%- endmacro %}

{% macro aging_bucket(days_overdue, days_to_due) -%}
    {%- set bounds = aging_bounds() -%}
    case
        when {{ days_overdue }} > 0 then case
            {%- for b in bounds %}
            when {{ days_overdue }} <= {{ b }} then 'overdue_{{ loop.previtem + 1 if not loop.first else 1 }}_{{ b }}'
            {%- endfor %}
            else 'overdue_over_{{ bounds[-1] }}'
        end
        else case
            {%- for b in bounds %}
            when {{ days_to_due }} <= {{ b }} then 'to_mature_{{ loop.previtem + 1 if not loop.first else 0 }}_{{ b }}'
            {%- endfor %}
            else 'to_mature_over_{{ bounds[-1] }}'
        end
    end
{%- endmacro %}

{#- Every aging bucket name, in order (to mature, then overdue). -#}
{% macro aging_bucket_names() -%}
    {%- set bounds = aging_bounds() -%}
    {%- set names = [] -%}
    {%- for b in bounds -%}
        {%- do names.append('to_mature_' ~ ((bounds[loop.index0 - 1] + 1) if not loop.first else 0) ~ '_' ~ b) -%}
    {%- endfor -%}
    {%- do names.append('to_mature_over_' ~ bounds[-1]) -%}
    {%- for b in bounds -%}
        {%- do names.append('overdue_' ~ ((bounds[loop.index0 - 1] + 1) if not loop.first else 1) ~ '_' ~ b) -%}
    {%- endfor -%}
    {%- do names.append('overdue_over_' ~ bounds[-1]) -%}
    {{ return(names) }}
{%- endmacro %}
