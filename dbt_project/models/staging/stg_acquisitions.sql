{{ config(window_by='event_date') }}

with source as (

    select * from {{ source('landing', 'acquisitions') }}

),

renamed as (

    select
        fund_cnpj,
        custodian_id,
        event_date,
        cedente_doc,
        receivable_id,
        document_number,
        upper(asset_type) as asset_type,
        cedente_name,
        sacado_doc,
        sacado_name,
        issue_date,
        due_date,
        nominal_value,
        acquisition_value,
        coalesce(currency, 'BRL') as currency,
        cession_rate,
        coobligation,
        occurrence_code,
        source,
        source_file_sha256,
        source_line
    from source

)

select * from renamed
