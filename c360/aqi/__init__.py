"""AQI calculator: one entry point for DataFrames and JSON, standards as data.

See docs/aqi.md. ``from c360.aqi import calculate``; pyspark is imported only when a
DataFrame is passed in.
"""

from c360.aqi.api import AqiRun, Counts, calculate
from c360.aqi.standards import BUILTIN, Standard, StandardError, load_standard

__all__ = ["BUILTIN", "AqiRun", "Counts", "Standard", "StandardError", "calculate", "load_standard"]
