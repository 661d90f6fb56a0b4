"""wonde:// fetching against a local HTTP server on 127.0.0.1 serving the documented shapes."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import attendance_core as ac
from attendance_core.errors import FormatError

DATA = Path(__file__).parent / "data" / "school"
TOKEN = "s3cret-wonde-token-123"


class _Server:
    """Serves the fixture pages; ``faults`` lists statuses answered before the real page."""

    def __init__(self) -> None:
        self.faults: dict[str, list[int]] = {}
        self.seen: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                outer.seen.append((parts.path, query, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"error": "unauthenticated"})
                faults = outer.faults.get(parts.path, [])
                if faults:
                    status = faults.pop(0)
                    return self._send(status, {"error": "try later"}, retry_after="0")
                if outer.delay:
                    import time

                    time.sleep(outer.delay)
                page = outer.page(parts.path, query)
                if page is None:
                    return self._send(404, {"error": "not found"})
                return self._send(200, page)

            def _send(self, status: int, body: Any, retry_after: str | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1.0/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def page(self, path: str, query: dict[str, list[str]]) -> Any:
        prefix = "/v1.0/schools/A1930499544/"
        if not path.startswith(prefix):
            return None
        resource = path[len(prefix) :].strip("/")
        files = {
            "students": ["students.json"],
            "attendance-codes": ["attendance-codes.json"],
            "attendance/session": ["attendance-session-1.json", "attendance-session-2.json"],
        }.get(resource)
        if files is None:
            return None
        number = int(query.get("page", ["1"])[0])
        body = json.loads((DATA / files[number - 1]).read_text(encoding="utf-8"))
        more = number < len(files)
        # the documented envelope: next is a full URL, more says whether to follow it
        body["meta"] = {
            "pagination": {
                "next": f"{self.base}schools/A1930499544/{resource}?page={number + 1}"
                if more
                else None,
                "previous": None,
                "more": more,
                "per_page": 200,
                "current_page": number,
            }
        }
        return body


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def _expected() -> ac.LoadResult:
    pages = [
        json.loads((DATA / name).read_text(encoding="utf-8"))
        for name in (
            "students.json",
            "attendance-codes.json",
            "attendance-session-1.json",
            "attendance-session-2.json",
        )
    ]
    return ac.load(pages, format="wonde-json")


def test_fetch_pages_retries_and_hands_pages_to_the_reader(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.faults["/v1.0/schools/A1930499544/attendance/session"] = [429, 503]
    caplog.set_level(logging.DEBUG)
    result = ac.load("wonde://A1930499544", token=TOKEN, base_url=server.base, backoff=0)
    expected = _expected()
    assert result.format == "wonde-json"
    assert result.rows_read == expected.rows_read > 0
    assert len(result.register.to_long()) == len(expected.register.to_long())
    paths = [p for p, _, _ in server.seen]
    assert paths.count("/v1.0/schools/A1930499544/attendance/session") == 4  # 2 faults + 2 pages
    first = server.seen[0]
    assert first[1]["include"] == ["education_details"]
    assert TOKEN not in caplog.text
    assert all(TOKEN not in w for w in result.warnings)


def test_token_from_the_environment(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WONDE_TOKEN", TOKEN)
    result = ac.load("wonde://A1930499544", base_url=server.base, backoff=0)
    assert result.rows_read == _expected().rows_read


def test_no_token_wrong_token_and_gave_up(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WONDE_TOKEN", raising=False)
    with pytest.raises(FormatError, match="WONDE_TOKEN"):
        ac.load("wonde://A1930499544", base_url=server.base)
    with pytest.raises(FormatError, match="HTTP 401") as refused:
        ac.load("wonde://A1930499544", token="wrong-token-456", base_url=server.base)
    assert "wrong-token-456" not in str(refused.value)
    server.faults["/v1.0/schools/A1930499544/students"] = [500] * 3
    with pytest.raises(FormatError, match="gave up after 3 attempt") as gave_up:
        ac.load("wonde://A1930499544", token=TOKEN, base_url=server.base, backoff=0, retries=2)
    assert TOKEN not in str(gave_up.value)
    with pytest.raises(FormatError, match="HTTP 404"):
        ac.load("wonde://B000", token=TOKEN, base_url=server.base, backoff=0)


def test_timeout(server: _Server) -> None:
    server.delay = 0.5
    with pytest.raises(FormatError, match="timed out"):
        ac.load(
            "wonde://A1930499544",
            token=TOKEN,
            base_url=server.base,
            timeout=0.1,
            retries=1,
            backoff=0,
        )
