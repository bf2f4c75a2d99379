"""A healthy webhook receiver for the benchmarks, as a process of its own on 127.0.0.1: it
answers every POST 204 at once, over keep-alive connections, and prints its URL; it stops when
its standard input closes. `python -m bench.receiver`."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer may wait for a delayed ACK (40 ms)

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    sys.stdin.read()  # until the benchmark closes it
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
