"""The published shape of a mart: the enhanced tier's one TableSpec, under the marts' names.

A spec is a plain value declared next to the transform that produces the table, so the
model step can create and gate the table and the catalog can describe it without
running anything.
"""

from c360.enhanced.common import TableSpec as MartSpec
from c360.enhanced.common import col_field as field

__all__ = ["MartSpec", "field"]
