{#-
  dbt's hook for data tests: besides a test's own `where`, a test on a dated model checks only the run's
  partition window (the model's partition_by, or window_by for views, and window_grain), so `dbt build` of one
  day tests that day and does not rescan 13 months of history. A model spanning all history per row
  (full_history_tests: true, e.g. the receivable lifecycle) has its data tests run only in a full build
  (default vars); its unit tests run every time. A plain `dbt build` still tests everything.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set ns = namespace(column=none, grain=none, full_only=false) -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.schema == relation.schema
                and (node.alias or node.name) == relation.identifier -%}
                {%- set ns.column = node.config.get('partition_by') or node.config.get('window_by') -%}
                {%- set ns.full_only = node.config.get('full_history_tests', false) -%}
                {%- set ns.grain = node.config.get('window_grain') -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set filters = [] -%}
    {%- if where -%}{%- do filters.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- if ns.column -%}{%- do filters.append(in_window(ns.column, grain=ns.grain)) -%}{%- endif -%}
    {%- if ns.full_only and (var('min_date') | string) != '1900-01-01' -%}{%- do filters.append('false') -%}{%- endif -%}
    {%- if filters -%}
        (select * from {{ relation }} where {{ filters | join(' and ') }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
