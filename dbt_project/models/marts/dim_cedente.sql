{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['fund_cnpj', 'cedente_doc'],
    on_schema_change='fail',
) }}

{{ party_dimension('cedente') }}
