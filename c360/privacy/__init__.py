"""Privacy: erasure on request and the keys that keep erased subjects out (docs/privacy.md)."""
