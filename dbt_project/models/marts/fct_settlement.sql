{{ config(
    materialized='partitioned_incremental',
    partition_by='event_date',
    partition_indexes=[['fund_cnpj', 'event_date']],
) }}

with settlements as (

    select * from {{ ref('stg_settlements') }}
    where {{ in_window('event_date') }}

),

priced as (

    select
        settlements.*,
        {{ fx_rate_to_brl('settlements.currency', 'settlements.event_date') }} as fx_rate_to_brl
    from settlements

),

final as (

    select
        event_date,
        fund_cnpj,
        custodian_id,
        cedente_doc,
        receivable_id,
        document_number,
        sacado_doc,
        kind,
        currency,
        fx_rate_to_brl,
        amount_paid,
        adjustment,
        nominal_value,
        {{ to_brl('amount_paid', 'fx_rate_to_brl') }} as amount_paid_brl,
        {{ to_brl('adjustment', 'fx_rate_to_brl') }} as adjustment_brl,
        source,
        source_file_sha256,
        source_line
    from priced

)

select * from final
