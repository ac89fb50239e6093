"""orderflow: durable order processing on Temporal, as a tutorial and as a service."""

DISTRIBUTION = "orderflow-temporal"
"""The name to ``pip install`` (``orderflow`` on PyPI is an unrelated project); the import
name stays ``orderflow``."""
