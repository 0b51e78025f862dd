"""Source data generator: the retailer's extracts and air-quality readings, with known defects.

Pure Python and numpy (no Spark), streamed to disk day by day. See docs/source-data.md.
"""

from c360.mock.generator import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
