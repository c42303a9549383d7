"""The bench's wrk load generator against a real HTTP server: requests, errors, latencies."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from benchmarks.load import parse_wrk, wrk_load

pytestmark = pytest.mark.system


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Handler.seen.append(body)
        status = 500 if b"fail" in body else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_parse_wrk_reads_the_summary_line() -> None:
    out = parse_wrk("Running 1s test\nSSI_WRK 2000 2000000 1 2 0 3 4 812.0 4100.5\n")
    assert out == {"requests": 2000, "errors": 10, "rps": 1000.0, "p50_ms": 0.812,
                   "p99_ms": 4.1005}
    with pytest.raises(RuntimeError, match="no summary line"):
        parse_wrk("wrk crashed")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make system-deps)")
def test_wrk_posts_every_body_and_counts_non_2xx_as_errors(server: str) -> None:
    _Handler.seen.clear()
    bodies = [b'{"profiles": [{"member_id": "a"}]}', b'{"profiles": [{"member_id": "b"}]}']
    ok = wrk_load(server, "/v1/predict", bodies, connections=4, seconds=1)
    assert ok["requests"] > 10 and ok["errors"] == 0 and ok["rps"] > 0
    assert 0 < ok["p50_ms"] <= ok["p99_ms"]
    assert set(_Handler.seen) == set(bodies)  # every body, verbatim

    failing = wrk_load(server, "/v1/predict", [b'{"fail": true}'], connections=2, seconds=1)
    assert failing["requests"] > 0 and failing["errors"] == failing["requests"]
