{{ config(
    materialized='partitioned_incremental',
    partition_by='event_date',
    partition_indexes=[['fund_cnpj', 'event_date']],
) }}

with acquisitions as (

    select * from {{ ref('stg_acquisitions') }}
    where {{ in_window('event_date') }}

),

priced as (

    select
        acquisitions.*,
        {{ fx_rate_to_brl('acquisitions.currency', 'acquisitions.event_date') }} as fx_rate_to_brl
    from acquisitions

),

final as (

    select
        event_date,
        fund_cnpj,
        custodian_id,
        cedente_doc,
        receivable_id,
        document_number,
        asset_type,
        sacado_doc,
        issue_date,
        due_date,
        cession_rate,
        coobligation,
        currency,
        fx_rate_to_brl,
        nominal_value,
        acquisition_value,
        {{ to_brl('nominal_value', 'fx_rate_to_brl') }} as nominal_value_brl,
        {{ to_brl('acquisition_value', 'fx_rate_to_brl') }} as acquisition_value_brl,
        source,
        source_file_sha256,
        source_line
    from priced

)

select * from final
