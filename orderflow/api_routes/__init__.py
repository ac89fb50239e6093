"""Routers of the HTTP API, one module per resource, plus its ASGI guards and metrics."""
