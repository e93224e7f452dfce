{#-
  partitioned_incremental: a PostgreSQL table range-partitioned by a date column, rebuilt one partition
  window at a time.

  config:
    partition_by:        the date column (required)
    partition_interval:  'month' (default) or 'year': the range of one partition
    window_grain:        'day' (default) or 'month': a monthly model widens the run's window to whole months
    partition_indexes:   list of column lists, e.g. [[fund_cnpj, reference_date]]: indexes on the parent
                         (PostgreSQL creates them on every partition), created with the parent
    contract:            enforced contracts are honoured (columns and types checked, parent created from them)
  vars:
    min_date, max_date: the window this run rebuilds (Dagster passes its partition range with --vars)

  One transaction:
    1. the model's rows for the window go to a temp table (the model itself filters by the window too,
       with `window_start()`/`window_end()`, so only the window's input rows are read);
    2. on first run (or --full-refresh), the partitioned parent is created (from the contract, or LIKE the
       temp table) with its indexes;
    3. each partition the window's rows fall in is created on demand;
    4. the existing partitions the window overlaps are cleared, each by name: TRUNCATE when the window
       covers the whole partition (a backfill), else DELETE with constant bounds (a day). The parent is
       never scanned and no other partition is touched;
    5. the temp table's rows are inserted.
  A day's rebuild therefore costs the same with 1 or 13 months present. A changed column list fails loudly
  on insert: run with --full-refresh to rebuild the parent.
-#}
{% materialization partitioned_incremental, adapter='postgres' %}
  {%- set partition_by = config.require('partition_by') -%}
  {%- set interval = config.get('partition_interval', 'month') -%}
  {%- set lo = window_start() -%}
  {%- set hi = window_end() -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set tmp_relation = make_temp_relation(this) -%}
  {%- set full_refresh = should_full_refresh() -%}
  {%- set contract_config = config.get('contract') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is not none and (full_refresh or existing_relation.type != 'table') %}
    {{ adapter.drop_relation(existing_relation) }}
    {% set existing_relation = none %}
  {% endif %}

  {% if contract_config.enforced %}
    {{ get_assert_columns_equivalent(sql) }}
  {% endif %}

  {% call statement('build_window') -%}
    create temporary table {{ tmp_relation }} on commit drop as (
      select * from ( {{ sql }} ) as model_rows
      where {{ partition_by }} between '{{ lo }}'::date and '{{ hi }}'::date
    )
  {%- endcall %}

  {% if existing_relation is none %}
    {% call statement('create_parent') -%}
      create table {{ target_relation }}
      {% if contract_config.enforced -%}
        {{ get_table_columns_and_constraints() }}
      {%- else -%}
        (like {{ tmp_relation }})
      {%- endif %}
      partition by range ({{ partition_by }})
    {%- endcall %}
    {% for columns in config.get('partition_indexes', []) %}
      {% call statement('index_' ~ loop.index) -%}
        create index if not exists {{ target_relation.identifier ~ '__' ~ columns | join('__') }}
          on {{ target_relation }} ({{ columns | join(', ') }})
      {%- endcall %}
    {% endfor %}
  {% endif %}

  {#- partitions for the window's rows, created on demand -#}
  {% set starts_query %}
    select distinct to_char(date_trunc('{{ interval }}', {{ partition_by }}), 'YYYY-MM-DD')
    from {{ tmp_relation }} order by 1
  {% endset %}
  {% for start in run_query(starts_query).columns[0].values() %}
    {% call statement('partition_' ~ loop.index) -%}
      create table if not exists {{ target_relation.schema }}.{{ partition_name(target_relation, start, interval) }}
        partition of {{ target_relation }}
        for values from ('{{ start }}') to (('{{ start }}'::date + interval '1 {{ interval }}')::date)
    {%- endcall %}
  {% endfor %}

  {#- clear the window in the partitions it overlaps, each addressed by name -#}
  {% set children_query %}
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = '{{ target_relation }}'::regclass order by 1
  {% endset %}
  {% for name in run_query(children_query).columns[0].values() %}
    {%- set bounds = partition_bounds(name, interval) -%}
    {% if bounds.start <= hi and bounds.last >= lo %}
      {% call statement('clear_' ~ loop.index) -%}
        {% if bounds.start >= lo and bounds.last <= hi -%}
          truncate table {{ target_relation.schema }}.{{ name }}
        {%- else -%}
          delete from {{ target_relation.schema }}.{{ name }}
            where {{ partition_by }} between '{{ lo }}'::date and '{{ hi }}'::date
        {%- endif %}
      {%- endcall %}
    {% endif %}
  {% endfor %}

  {% call statement('main') -%}
    insert into {{ target_relation }} select * from {{ tmp_relation }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- `<table>_p<YYYYMM>` (monthly) or `<table>_p<YYYY>` (yearly) -#}
{% macro partition_name(relation, start, interval) -%}
  {{ relation.identifier }}_p{{ start[0:4] }}{{ start[5:7] if interval == 'month' else '' }}
{%- endmacro %}


{#- The first and last day (ISO strings) of the partition named `<table>_p<YYYYMM|YYYY>`. -#}
{% macro partition_bounds(name, interval) -%}
  {%- set dt = modules.datetime -%}
  {%- set suffix = name.split('_p')[-1] -%}
  {%- set year = suffix[0:4] | int -%}
  {%- if interval == 'month' -%}
    {%- set month = suffix[4:6] | int -%}
    {%- set start = dt.date(year, month, 1) -%}
    {%- set nxt = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1) -%}
  {%- else -%}
    {%- set start = dt.date(year, 1, 1) -%}
    {%- set nxt = dt.date(year + 1, 1, 1) -%}
  {%- endif -%}
  {{ return({'start': start.isoformat(), 'last': (nxt - dt.timedelta(days=1)).isoformat()}) }}
{%- endmacro %}
