"""The chaos receiver of `bench.webhooks`, a process of its own on 127.0.0.1: it answers 500 to
about half the attempts at random, stalls on some past the sender's timeout (then answers 204,
which the sender never reads), and writes one JSON line per request to a file (its signing
headers, body and answer: the benchmark verifies them). It prints its URL and stops when its
standard input closes.

`python -m bench.chaos_receiver SEED LOG STALL_SECONDS STALL_SHARE`
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

FAIL_SHARE = 0.5
SIGNING = ("webhook-id", "webhook-timestamp", "webhook-signature")


def main() -> int:
    seed, path, stall, stall_share = sys.argv[1:5]
    rng, lock = random.Random(int(seed)), threading.Lock()
    out: IO[str] = open(path, "w")  # noqa: SIM115 (closed when the server stops)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                draw = rng.random()
            stalled = draw < float(stall_share)
            status = 204 if stalled or draw >= FAIL_SHARE else 500
            record = {
                "headers": {k: self.headers.get(k, "") for k in SIGNING},
                "body": body.decode(),
                "status": status,
                "stalled": stalled,
                "received_at": time.time(),  # the signature's timestamp is checked against it
            }
            with lock:
                out.write(json.dumps(record) + "\n")
                out.flush()  # the benchmark reads how far it got before a replay
            if stalled:  # past the sender's timeout: it never reads this answer
                time.sleep(float(stall))
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:  # the sender gave up on it
                return

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    sys.stdin.read()
    server.shutdown()
    with lock:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
