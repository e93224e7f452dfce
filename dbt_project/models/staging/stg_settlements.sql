{{ config(window_by='event_date') }}

with source as (

    select * from {{ source('landing', 'settlements') }}

),

renamed as (

    select
        fund_cnpj,
        custodian_id,
        event_date,
        cedente_doc,
        receivable_id,
        document_number,
        sacado_doc,
        kind,
        amount_paid,
        adjustment,
        nominal_value,
        coalesce(currency, 'BRL') as currency,
        status,
        occurrence_code,
        source,
        source_file_sha256,
        source_line
    from source

)

select * from renamed
