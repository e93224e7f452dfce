{{ config(materialized='partitioned_incremental', partition_by='reference_date') }}

with positions as (

    select * from {{ ref('stg_receivable_positions') }}
    where reference_date between '{{ var("min_date") }}'::date and '{{ var("max_date") }}'::date

)

select
    reference_date,
    fund_cnpj,
    custodian_id,
    cedente_doc,
    receivable_id,
    document_number,
    asset_type,
    sacado_doc,
    effective_due_date,
    days_overdue,
    nominal_value,
    acquisition_value,
    present_value,
    pdd_value,
    currency,
    coobligation,
    source_file_sha256,
    source_line
from positions
