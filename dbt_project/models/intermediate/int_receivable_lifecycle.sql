{#-
  One row per receivable a fund held (fund, cedente, seu número), following its life: acquired (cessão) →
  daily positions → settled, repurchased or written off. Positions and events may come from different
  custodians of the same fund, so the key has no custodian. A view over all history: for analysis, not on
  the daily build path.
-#}
{{ config(full_history_tests=true) }}

with positions as (

    select * from {{ ref('stg_receivable_positions') }}

),

acquisitions as (

    select * from {{ ref('stg_acquisitions') }}

),

settlements as (

    select * from {{ ref('stg_settlements') }}

),

position_span as (

    select
        fund_cnpj,
        cedente_doc,
        receivable_id,
        min(acquisition_date) as reported_acquisition_date,
        min(reference_date) as first_position_date,
        max(reference_date) as last_position_date,
        max(days_overdue) as max_days_overdue
    from positions
    group by fund_cnpj, cedente_doc, receivable_id

),

acquired as (

    select
        fund_cnpj,
        cedente_doc,
        receivable_id,
        min(event_date) as acquisition_event_date,
        sum(nominal_value)::numeric(18, 2) as acquired_nominal_value,
        sum(acquisition_value)::numeric(18, 2) as acquisition_price
    from acquisitions
    group by fund_cnpj, cedente_doc, receivable_id

),

closed as (

    select
        fund_cnpj,
        cedente_doc,
        receivable_id,
        sum(case when kind = 'liquidacao_parcial' then amount_paid else 0 end) as partially_paid,
        sum(amount_paid) as total_paid,
        max(case when kind <> 'liquidacao_parcial' then event_date end) as exit_date,
        (array_agg(kind order by event_date desc) filter (where kind <> 'liquidacao_parcial'))[1] as exit_kind
    from settlements
    group by fund_cnpj, cedente_doc, receivable_id

),

keys as (

    select
        fund_cnpj,
        cedente_doc,
        receivable_id
    from position_span
    union
    select
        fund_cnpj,
        cedente_doc,
        receivable_id
    from acquired
    union
    select
        fund_cnpj,
        cedente_doc,
        receivable_id
    from closed

),

lifecycle as (

    select
        keys.fund_cnpj,
        keys.cedente_doc,
        keys.receivable_id,
        coalesce(acquired.acquisition_event_date, position_span.reported_acquisition_date) as acquired_on,
        acquired.acquired_nominal_value,
        acquired.acquisition_price,
        position_span.first_position_date,
        position_span.last_position_date,
        position_span.max_days_overdue,
        coalesce(closed.partially_paid, 0)::numeric(18, 2) as partially_paid,
        coalesce(closed.total_paid, 0)::numeric(18, 2) as total_paid,
        closed.exit_date,
        case closed.exit_kind
            when 'liquidacao' then 'settled'
            when 'recompra' then 'repurchased'
            when 'baixa' then 'written_off'
            else 'open'
        end as lifecycle_status
    from keys
    left join position_span
        on position_span.fund_cnpj = keys.fund_cnpj
        and position_span.cedente_doc = keys.cedente_doc
        and position_span.receivable_id = keys.receivable_id
    left join acquired
        on acquired.fund_cnpj = keys.fund_cnpj
        and acquired.cedente_doc = keys.cedente_doc
        and acquired.receivable_id = keys.receivable_id
    left join closed
        on closed.fund_cnpj = keys.fund_cnpj
        and closed.cedente_doc = keys.cedente_doc
        and closed.receivable_id = keys.receivable_id

)

select * from lifecycle
