{#- Every row satisfies `expression` (dbt_utils' test of the same name, without a package download). -#}
{% test expression_is_true(model, expression) %}
select * from {{ model }}
where not ({{ expression }})
{% endtest %}
