"""A tiny load balancer for tests: one address in front of several web processes, routing by path prefix.

Each TCP connection is routed by the path of its first request line and then piped both ways untouched, so
HTTP and websocket upgrades pass through as they would behind nginx. `routed` counts what went where.
"""
import asyncio
from collections import Counter


class PathProxy:
    def __init__(self, *, default_port: int, routes: dict[str, int]) -> None:
        self.default_port, self.routes = default_port, routes
        self.routed: Counter[tuple[str, int]] = Counter()

    async def __aenter__(self) -> "PathProxy":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def port_for(self, path: str) -> int:
        return next((port for prefix, port in self.routes.items() if path.startswith(prefix)), self.default_port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readuntil(b"\r\n")
            path = request_line.split(b" ")[1].decode("latin-1").split("?")[0]
            port = self.port_for(path)
            self.routed[(path, port)] += 1
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, IndexError, asyncio.IncompleteReadError):
            writer.close()
            return
        upstream_writer.write(request_line)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
