{{ config(
    materialized='partitioned_incremental',
    partition_by='reference_date',
    partition_indexes=[['fund_cnpj', 'reference_date']],
) }}

-- the relationships tests read these: dbt builds them first (tests/unit/test_dbt_manifest.py)
-- depends_on: {{ ref('dim_custodian') }}
-- depends_on: {{ ref('dim_asset_type') }}

with positions as (

    select * from {{ ref('int_receivable_positions_rated') }}
    where {{ in_window('reference_date') }}

),

final as (

    select
        reference_date,
        fund_cnpj,
        custodian_id,
        cedente_doc,
        receivable_id,
        document_number,
        asset_type,
        sacado_doc,
        acquisition_date,
        effective_due_date,
        days_overdue,
        days_to_due,
        cmn2682_rating,
        cmn2682_provision_rate,
        aging_bucket,
        custodian_pdd_bucket,
        coobligation,
        currency,
        fx_rate_to_brl,
        nominal_value,
        acquisition_value,
        present_value,
        pdd_value,
        nominal_value_brl,
        acquisition_value_brl,
        present_value_brl,
        pdd_value_brl,
        source,
        source_file_sha256,
        source_line
    from positions

)

select * from final
