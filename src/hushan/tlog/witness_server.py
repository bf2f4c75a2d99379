"""`hushan witness serve`: the witness as a small HTTP server of its own (C2SP tlog-witness's
`POST /add-checkpoint`), on the standard library alone, so whoever runs it needs none of
hushan's database or configuration: a key, the log keys it trusts and a state file."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hushan.tlog.witness import Witness

MAX_REQUEST = 64 * 1024  # an old size, 63 hashes and a checkpoint with a few signatures


def server(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            text = self.headers.get("Content-Length") or "0"
            length = int(text) if text.isascii() and text.isdigit() else 0
            if self.path != "/add-checkpoint":
                self._reply(404, "text/plain", "not found\n")
            elif not 0 < length <= MAX_REQUEST:
                self._reply(400, "text/plain", "request size\n")
            else:
                try:
                    request = self.rfile.read(length).decode("utf-8")
                except UnicodeDecodeError:
                    self._reply(400, "text/plain", "not UTF-8\n")
                    return
                reply = witness.add_checkpoint(request, int(time.time()))
                self._reply(reply.status, reply.content_type, reply.body)

        def _reply(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # one line per request is the operator's proxy's job

    return ThreadingHTTPServer((host, port), Handler)
