{{ config(window_by='reference_date') }}

{#- A view: a fact reading it with its window's bounds reads only the window's landing rows. -#}
with positions as (

    select * from {{ ref('stg_receivable_positions') }}

),

rated as (

    select
        positions.*,
        {{ cmn2682_rating('positions.days_overdue', 'positions.coobligation') }} as cmn2682_rating,
        {{ aging_bucket('positions.days_overdue', 'positions.days_to_due') }} as aging_bucket,
        {{ fx_rate_to_brl('positions.currency', 'positions.reference_date') }} as fx_rate_to_brl
    from positions

),

converted as (

    select
        rated.*,
        {{ cmn2682_provision_rate('rated.cmn2682_rating') }} as cmn2682_provision_rate,
        {{ to_brl('rated.nominal_value', 'rated.fx_rate_to_brl') }} as nominal_value_brl,
        {{ to_brl('rated.acquisition_value', 'rated.fx_rate_to_brl') }} as acquisition_value_brl,
        {{ to_brl('rated.present_value', 'rated.fx_rate_to_brl') }} as present_value_brl,
        {{ to_brl('rated.pdd_value', 'rated.fx_rate_to_brl') }} as pdd_value_brl
    from rated

)

select * from converted
