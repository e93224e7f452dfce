{#-
  dbt's hook for data tests: besides a test's own `where`, a test on a partitioned model checks only the run's
  partition window (the model's partition_by and window_grain), so `dbt build` of one day tests that day and
  does not rescan 13 months of history. A plain `dbt build` (default vars) still tests everything.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set ns = namespace(column=none, grain=none) -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.schema == relation.schema
                and (node.alias or node.name) == relation.identifier -%}
                {%- set ns.column = node.config.get('partition_by') -%}
                {%- set ns.grain = node.config.get('window_grain') -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set filters = [] -%}
    {%- if where -%}{%- do filters.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- if ns.column -%}{%- do filters.append(in_window(ns.column, grain=ns.grain)) -%}{%- endif -%}
    {%- if filters -%}
        (select * from {{ relation }} where {{ filters | join(' and ') }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
