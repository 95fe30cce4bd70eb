"""Request bodies over MAX_REQUEST_BODY_BYTES are refused with 413 as they arrive, before they can fill memory.

Two guards, because of how Daphne reads a request. Daphne (Twisted) receives the whole body, spooled to a
temporary file, before it calls the ASGI application at all, and then queues every byte of it in memory as
`http.request` messages in one go: a multi-gigabyte POST, anonymous or not, fills the memory of the process that
relays live calls before any application code runs. So:

- `BodyLimitedWebRequest`, Daphne's own request class subclassed, counts the body as Twisted receives it and answers
  413 as soon as the declared Content-Length or the bytes received pass the limit; what the client still sends is
  read and dropped for a moment (so it sees the answer rather than a reset connection), then the connection
  closes. Daphne has no setting for this: `install_daphne_body_limit()`, called by asgi.py before Daphne accepts
  a connection, makes it the class Daphne's HTTP factory builds (it looks the name up for each connection).
- `BodySizeLimit`, ASGI middleware around the HTTP application, holds the same limit under any other ASGI server
  (and Django's test clients): a Content-Length over it is answered unread; a body without one (chunked) is counted
  message by message and, past the limit, answered 413 with nothing more passed on.
"""
import json

from daphne import http_protocol
from django.conf import settings

# Long enough for the client to read the 413 before the connection closes, short enough to bound the reading.
_LINGER_SECONDS = 2.0


def _limit() -> int:
    return settings.MAX_REQUEST_BODY_BYTES


def _too_large_body() -> bytes:
    megabytes = _limit() / 1_048_576
    return json.dumps(
        {"detail": f"The request body is larger than the {megabytes:,.0f} MB this server accepts."}
    ).encode()


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over MAX_REQUEST_BODY_BYTES, declared or counted."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if _declared_length(scope) > _limit():
            return await _send_too_large(send)
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > _limit():
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted_receive, send)
        except _BodyTooLarge:
            await _send_too_large(send)  # Django reads the whole body before it answers: nothing was sent yet


def _declared_length(scope) -> int:
    """The Content-Length header's value; 0 when there is none or it is not a number (the server answers that)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            return int(value) if len(value) < 19 else 1 << 62  # thousands of digits: no int(), just too large
    return 0


async def _send_too_large(send) -> None:
    body = _too_large_body()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitedWebRequest(http_protocol.WebRequest):
    """Daphne's request, refusing a body over MAX_REQUEST_BODY_BYTES while Twisted receives it."""

    _refused = False
    _received = 0

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        if length is not None and length > _limit():
            self._refuse()

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return  # dropped unread
        self._received += len(data)
        if self._received > _limit():
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        self._refused = True
        self.content.close()  # the spooled part of the body
        body = _too_large_body()
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        transport.loseWriteConnection()
        self.channel.callLater(_LINGER_SECONDS, transport.loseConnection)


def install_daphne_body_limit() -> None:
    """Make Daphne build `BodyLimitedWebRequest` for every HTTP request it receives from now on."""
    http_protocol.WebRequest = BodyLimitedWebRequest
