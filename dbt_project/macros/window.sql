{#-
  The partition window a run rebuilds: `--vars {min_date, max_date}` from Dagster (defaults in dbt_project.yml:
  everything). A model with `window_grain='month'` (monthly marts) widens it to whole months, since a month's
  figures need every day of it (models pass `grain='month'` to `in_window` too: in a unit test `config` is the
  test's, not the model's). Models filter their inputs with these bounds and the partitioned_incremental
  materialization clears exactly the same range.
-#}
{% macro window_start(grain=none) -%}
  {%- set lo = var('min_date') | string -%}
  {%- if (grain or config.get('window_grain', 'day')) == 'month' -%}
    {{ return(lo[0:8] ~ '01') }}
  {%- endif -%}
  {{ return(lo) }}
{%- endmacro %}

{% macro window_end(grain=none) -%}
  {%- set hi = var('max_date') | string -%}
  {%- if (grain or config.get('window_grain', 'day')) == 'month' -%}
    {%- set dt = modules.datetime -%}
    {%- set y = hi[0:4] | int -%}
    {%- set m = hi[5:7] | int -%}
    {%- set nxt = dt.date(y + 1, 1, 1) if m == 12 else dt.date(y, m + 1, 1) -%}
    {{ return((nxt - dt.timedelta(days=1)).isoformat()) }}
  {%- endif -%}
  {{ return(hi) }}
{%- endmacro %}

{#- `column between <window start> and <window end>`, as constants the planner prunes partitions with -#}
{% macro in_window(column, grain=none) -%}
  {{ column }} between '{{ window_start(grain) }}'::date and '{{ window_end(grain) }}'::date
{%- endmacro %}
