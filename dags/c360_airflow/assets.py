"""The tables each c360 step publishes, as Airflow Assets consumers schedule on.

Generated from the c360 table registry by `c360 registry generate`: do not edit.
"""

PUBLISHES: dict[str, tuple[str, ...]] = {
    "model": (
        "enhanced.sales.dim_channel",
        "enhanced.shared.dim_date",
        "enhanced.customer.dim_customer",
        "enhanced.logistics.dim_location",
        "enhanced.products.dim_product",
        "enhanced.products.dim_supplier",
        "enhanced.products.bridge_product_supplier",
        "enhanced.customer.fct_app_session",
        "enhanced.products.fct_inventory_snapshot",
        "enhanced.sales.fct_order",
        "enhanced.sales.fct_sales_line",
        "enhanced.logistics.fct_shipment",
        "enhanced.customer.fct_support_ticket",
        "enhanced.logistics.fct_tracking_event",
        "enhanced.customer.clv_model_fit",
        "enhanced.sales.sales_by_segment_daily",
        "enhanced.customer.customer360_profile",
    ),
    "air_quality": (
        "enhanced.air_quality.dim_pollutant",
        "enhanced.air_quality.dim_station",
        "enhanced.air_quality.fct_air_quality_hourly",
        "enhanced.air_quality.fct_aqi_daily",
    ),
}
