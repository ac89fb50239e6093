"""The HTTP API and web console: app factory (:mod:`.app`), typed dependencies (:mod:`.deps`),
ASGI middleware (:mod:`.middleware`), one router per resource (:mod:`.routes`)."""

from orderflow.api.app import create_app

__all__ = ["create_app"]
