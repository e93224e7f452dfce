{{ config(window_by='reference_date') }}

with source as (

    select * from {{ source('landing', 'fund_quotas') }}

),

renamed as (

    select
        fund_cnpj,
        custodian_id,
        reference_date,
        quota_class,
        series,
        quota_count,
        quota_value,
        net_assets,
        coalesce(currency, 'BRL') as currency,
        source,
        source_file_sha256,
        source_line
    from source

)

select * from renamed
