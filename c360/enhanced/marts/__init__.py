"""The Customer 360 marts: pure transforms over the star's DataFrames, and their table specs.

The model step reads the star for the run date D and calls
``build_customer360_profile(..., as_of=D)`` and ``build_sales_by_segment_daily(..., dates)``,
then writes each result with ``replace_partitions`` into ``SPEC.name`` (created from
``SPEC.schema``, ``SPEC.partition_by``, ``SPEC.description`` and ``SPEC.pii_columns``).
"""

from c360.enhanced.marts.customer360_profile import SPEC as CUSTOMER360_PROFILE
from c360.enhanced.marts.customer360_profile import build_customer360_profile
from c360.enhanced.marts.sales_by_segment_daily import SPEC as SALES_BY_SEGMENT_DAILY
from c360.enhanced.marts.sales_by_segment_daily import build_sales_by_segment_daily
from c360.enhanced.marts.spec import MartSpec

MART_SPECS: tuple[MartSpec, ...] = (CUSTOMER360_PROFILE, SALES_BY_SEGMENT_DAILY)

__all__ = [
    "CUSTOMER360_PROFILE",
    "MART_SPECS",
    "SALES_BY_SEGMENT_DAILY",
    "MartSpec",
    "build_customer360_profile",
    "build_sales_by_segment_daily",
]
