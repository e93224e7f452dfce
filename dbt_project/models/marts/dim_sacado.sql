{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['fund_cnpj', 'sacado_doc'],
    on_schema_change='fail',
) }}

-- the relationships tests read these: dbt builds them first (tests/unit/test_dbt_manifest.py)
-- depends_on: {{ ref('dim_fund') }}

{{ party_dimension('sacado') }}
