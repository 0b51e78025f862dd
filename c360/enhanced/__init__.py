"""The enhanced tier: the Kimball star and marts of customer.analytics.C360 (docs/enhanced.md)."""
