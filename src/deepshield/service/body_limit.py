"""Request body limit with our error envelope.

Starlette's RequestBodyLimitMiddleware answers an oversized declared Content-Length with a
plain-text 413 that bypasses the app's exception handlers, so the limit lives here: a request
that declares too many bytes is answered at once without reading it, and one that streams too
many (chunked, no Content-Length) is stopped the moment the count passes the limit."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepshield.service.errors import envelope

MESSAGE = "the upload is larger than allowed"


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, max_bytes: int, on_error: Callable[[str], None] | None = None
    ) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.on_error = on_error or (lambda code: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            self.on_error("FILE_TOO_LARGE")
            await envelope(413, "FILE_TOO_LARGE", MESSAGE, {"Connection": "close"})(
                scope, receive, send
            )
            return
        received, exceeded, answered = 0, False, False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # stop the body here; the app's reaction to the cut is replaced below
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not exceeded:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                answered = True
                self.on_error("FILE_TOO_LARGE")
                await too_large(scope, receive, send)

        too_large = envelope(413, "FILE_TOO_LARGE", MESSAGE, {"Connection": "close"})
        await self.app(scope, counting_receive, guarded_send)
        if exceeded and not answered:
            self.on_error("FILE_TOO_LARGE")
            await too_large(scope, receive, send)
