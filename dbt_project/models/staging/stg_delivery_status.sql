{{ config(window_by='reference_date') }}

with source as (

    select * from {{ source('reference', 'delivery_status') }}

),

renamed as (

    select
        fund_cnpj,
        custodian_id,
        entity,
        reference_date,
        state,
        is_late,
        files as file_versions,
        accepted_sha256,
        accepted_file_name,
        first_received_at,
        due_at,
        evaluated_at
    from source

)

select * from renamed
