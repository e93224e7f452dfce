-- the relationships tests read these: dbt builds them first (tests/unit/test_dbt_manifest.py)
-- depends_on: {{ ref('stg_fund_managers') }}

with source as (

    select * from {{ source('reference', 'funds') }}

),

renamed as (

    select
        fund_cnpj,
        fund_name,
        manager_id,
        custodians
    from source

)

select * from renamed
