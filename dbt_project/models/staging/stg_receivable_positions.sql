{{ config(window_by='reference_date') }}

with source as (

    select * from {{ source('landing', 'receivable_positions') }}

),

renamed as (

    select
        fund_cnpj,
        custodian_id,
        reference_date,
        cedente_doc,
        receivable_id,
        document_number,
        upper(asset_type) as asset_type,
        originator_doc,
        originator_name,
        cedente_name,
        sacado_doc,
        sacado_name,
        issue_date,
        acquisition_date,
        due_date,
        coalesce(adjusted_due_date, due_date) as effective_due_date,
        nominal_value,
        acquisition_value,
        present_value,
        coalesce(pdd_value, 0) as pdd_value,
        coalesce(currency, 'BRL') as currency,
        risk_rating,
        custodian_pdd_bucket,
        status,
        coobligation,
        cession_rate,
        receivable_rate,
        term_days,
        greatest(reference_date - coalesce(adjusted_due_date, due_date), 0) as days_overdue,
        coalesce(adjusted_due_date, due_date) - reference_date as days_to_due,
        source,
        source_file_sha256,
        source_line
    from source

)

select * from renamed
