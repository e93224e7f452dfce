{#- Models land in the schema their folder names (staging, marts), not "<target>_<folder>":
    BI tools and grants address `marts.*` the same way in every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
