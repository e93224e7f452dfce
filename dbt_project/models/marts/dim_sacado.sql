{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['fund_cnpj', 'sacado_doc'],
    on_schema_change='fail',
) }}

{{ party_dimension('sacado') }}
