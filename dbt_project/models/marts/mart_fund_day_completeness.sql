{{ config(
    materialized='partitioned_incremental',
    partition_by='reference_date',
    partition_indexes=[['fund_cnpj', 'reference_date']],
) }}

{#-
  Per fund and business day, whether every file the fund registry expects for it landed: BI joins it to
  mart_fund_daily on (fund_cnpj, reference_date) to tell a complete day from a partial one. A fund-day the
  registry expects nothing for has no row (nothing says it is complete).

  Its relationship test reads dim_fund: the `depends_on` below orders dim_fund first in every build, so a
  fresh deployment's first marts run cannot test against a dim_fund that does not exist yet.
-#}
-- depends_on: {{ ref('dim_fund') }}

with deliveries as (

    select * from {{ ref('stg_delivery_status') }}
    where {{ in_window('reference_date') }}

),

final as (

    select
        fund_cnpj,
        reference_date,
        count(*)::integer as expected_files,
        (count(*) filter (where state in ('accepted', 'received', 'quarantined')))::integer as received_files,
        (count(*) filter (where state = 'accepted'))::integer as accepted_files,
        (count(*) filter (where state = 'quarantined'))::integer as quarantined_files,
        (count(*) filter (where state = 'missing'))::integer as missing_files,
        (count(*) filter (where state = 'pending'))::integer as pending_files,
        (count(*) filter (where is_late))::integer as late_files,
        bool_and(state = 'accepted') as is_complete,
        string_agg(custodian_id || ' ' || entity || ' ' || state, ', ' order by custodian_id, entity)
        filter (where state <> 'accepted') as open_deliveries,
        max(first_received_at) as last_received_at,
        max(due_at) as last_due_at,
        max(evaluated_at) as evaluated_at
    from deliveries
    group by fund_cnpj, reference_date

)

select * from final
