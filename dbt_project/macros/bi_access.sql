{#-
  Post-hook of every mart: hands the table to `reference.apply_bi_access(regclass)` (created by
  fidc_assets.lib.bi_access), which grants SELECT to fidc_bi_reader and, when the table has fund_cnpj,
  enables row-level security with the tenant policy. It runs inside the model's transaction, so a rebuilt
  table is never visible to BI roles without its policy. Without that function (BI access never set up)
  nothing is granted: no role can read the table but its owner.
-#}
{% macro bi_access() -%}
    do $bi_access$ begin
        if to_regprocedure('reference.apply_bi_access(regclass)') is not null then
            perform reference.apply_bi_access('{{ this }}'::regclass);
        end if;
    end $bi_access$
{%- endmacro %}
