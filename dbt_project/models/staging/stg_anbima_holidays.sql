with source as (

    select * from {{ source('reference', 'anbima_holidays') }}

),

renamed as (

    select holiday_date
    from source

)

select * from renamed
