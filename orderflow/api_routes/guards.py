"""ASGI guards in front of the routes: oversized bodies, and browser hardening headers.

Why not FastAPI's own ``max_body_size``: when a client declares a too-large
``Content-Length``, Starlette's limiter answers with a plain-text 413, and the API promises
JSON errors everywhere. :class:`BodyLimitMiddleware` refuses both declared and streamed
oversized bodies with a JSON 413 before a route parses anything (so nothing is started).
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


class SecurityHeadersMiddleware:
    """``nosniff`` everywhere; a strict Content-Security-Policy on the web console.

    The CSP is defence in depth only: the console renders untrusted text with
    ``textContent``, and the browser tests check that without relying on the policy.
    """

    def __init__(self, app: ASGIApp, web_prefix: str = "/web") -> None:
        self.app = app
        self.web_prefix = web_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_web = str(scope.get("path", "")).startswith(self.web_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if is_web:
                    headers.append((b"content-security-policy", WEB_CSP.encode()))
                    headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` so FastAPI's body reader passes it on and its handler answers 413
    as JSON; if a response has not started it is caught here as a last resort.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


async def send_json_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 ``{"detail": ...}`` for bodies over ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body larger than {self.max_bytes} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_json_error(send, 413, detail)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if response_started:
                raise
            await send_json_error(send, 413, detail)
