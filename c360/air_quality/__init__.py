"""The air-quality data product (``environment.air_quality``): enhanced star over sensor readings.

One module per table (dim_station, dim_pollutant, dim_date, fct_air_quality_hourly,
fct_aqi_daily), the shared station-hour logic in ``hours``, and the step in ``run``.
"""
