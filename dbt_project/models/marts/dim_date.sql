{{ config(materialized='table') }}

{#- The business calendar: every calendar day from the start of history, ANBIMA business days flagged. -#}
with holidays as (

    select * from {{ ref('stg_anbima_holidays') }}

),

days as (

    select series_day::date as calendar_date
    from generate_series(
        '{{ var("calendar_start") }}'::date, '{{ var("calendar_end") }}'::date, interval '1 day'
    ) as series_day

),

flagged as (

    select
        days.calendar_date,
        extract(isodow from days.calendar_date) < 6 and holidays.holiday_date is null as is_business_day,
        holidays.holiday_date is not null as is_holiday
    from days
    left join holidays on holidays.holiday_date = days.calendar_date

),

numbered as (

    select
        flagged.*,
        count(*) filter (where flagged.is_business_day) over (order by flagged.calendar_date) as business_day_number,
        max(flagged.calendar_date) filter (where flagged.is_business_day)
            over (partition by date_trunc('month', flagged.calendar_date)) as month_last_business_day
    from flagged

),

final as (

    select
        calendar_date,
        extract(year from calendar_date)::integer as year,
        extract(month from calendar_date)::integer as month,
        date_trunc('month', calendar_date)::date as month_start,
        extract(isodow from calendar_date)::integer as iso_weekday,
        is_business_day,
        is_holiday,
        business_day_number::integer as business_day_number,
        calendar_date = month_last_business_day as is_month_last_business_day
    from numbered

)

select * from final
