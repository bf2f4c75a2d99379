"""A healthy webhook receiver for the benchmarks, as a process of its own on 127.0.0.1: it
answers every request 204 at once, over keep-alive connections, and prints its URL; it stops when
its standard input closes. `python -m bench.receiver`.

It reads only what it must (a request's head up to its blank line, then `content-length` bytes
of body) on one asyncio loop, so that it costs far less per request than the sender it measures:
`http.server` parses every header into a message object, and was what limited the drain figure.
"""

from __future__ import annotations

import asyncio
import sys

_ANSWER = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


def _body_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Connection(asyncio.Protocol):
    """Answers each whole request in what has come, in order (pipelined ones too)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        answers = 0
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            whole = end + 4 + _body_length(self._buffer[:end])
            if len(self._buffer) < whole:
                break  # the body is still coming
            self._buffer = self._buffer[whole:]
            answers += 1
        if answers:
            self._transport.write(_ANSWER * answers)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/hook", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes it
    server.close()


def main() -> int:
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
