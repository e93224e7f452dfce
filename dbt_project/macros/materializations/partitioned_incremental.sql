{#-
  partitioned_incremental: a PostgreSQL table range-partitioned by month of a date column, rebuilt one
  partition window at a time.

  config:
    partition_by: the date column (required)
  vars:
    min_date, max_date: the window this run rebuilds (Dagster passes its partition range with --vars)

  One transaction:
    1. the model's rows for the window go to a temp table;
    2. on first run, the partitioned parent is created LIKE the temp table;
    3. each month the window touches gets its partition (created on demand);
    4. the window's rows are deleted (constant bounds: only the window's partitions are touched)
       and the temp table's rows inserted.
  Rows of other windows are never read or written, so a day's rebuild costs the same with 1 or 13 months
  present. A changed column list fails loudly on insert: run with --full-refresh to rebuild the parent.
-#}
{% materialization partitioned_incremental, adapter='postgres' %}
  {%- set partition_by = config.require('partition_by') -%}
  {%- set min_date = var('min_date') -%}
  {%- set max_date = var('max_date') -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set tmp_relation = make_temp_relation(this) -%}
  {%- set full_refresh = should_full_refresh() -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is not none and (full_refresh or existing_relation.type != 'table') %}
    {{ adapter.drop_relation(existing_relation) }}
    {% set existing_relation = none %}
  {% endif %}

  {% call statement('build_window') -%}
    create temporary table {{ tmp_relation }} on commit drop as (
      select * from ( {{ sql }} ) as model_rows
      where {{ partition_by }} between '{{ min_date }}'::date and '{{ max_date }}'::date
    )
  {%- endcall %}

  {% if existing_relation is none %}
    {% call statement('create_parent') -%}
      create table {{ target_relation }} (like {{ tmp_relation }}) partition by range ({{ partition_by }})
    {%- endcall %}
  {% endif %}

  {% set months_query %}
    select distinct to_char(date_trunc('month', {{ partition_by }}), 'YYYY-MM-DD') from {{ tmp_relation }} order by 1
  {% endset %}
  {% for month in run_query(months_query).columns[0].values() %}
    {%- set partition_name = target_relation.identifier ~ '_p' ~ month[0:7] | replace('-', '') -%}
    {% call statement('partition_' ~ loop.index) -%}
      create table if not exists {{ target_relation.schema }}.{{ partition_name }}
        partition of {{ target_relation }}
        for values from ('{{ month }}') to (('{{ month }}'::date + interval '1 month')::date)
    {%- endcall %}
  {% endfor %}

  {% call statement('main') -%}
    delete from {{ target_relation }}
      where {{ partition_by }} between '{{ min_date }}'::date and '{{ max_date }}'::date;
    insert into {{ target_relation }} select * from {{ tmp_relation }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
