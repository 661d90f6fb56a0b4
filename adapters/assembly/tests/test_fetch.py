"""assembly:// fetching against a local HTTP server on 127.0.0.1 serving the documented shapes:
v1.1 bare arrays paged by the Page/Total/Total-Pages/Per-Page/Next-Page headers, the version
Accept header (406 without it), a bearer school token, Assembly's 429 body."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from attendance_core_assembly.fetch import rate_limit_wait

import attendance_core as ac
from attendance_core.errors import FormatError
from attendance_core.fetching import ApiClient, RetryPolicy

DATA = Path(__file__).parent / "data" / "api"
TOKEN = "s3cret-assembly-token-789"
ACCEPT = "application/vnd.assembly+json; version=1.1"
FILES = {
    "/school": "school.json",
    "/students": "students.json",
    "/students/left": "students_left.json",
    "/attendances": "attendances.json",
}


class _Server:
    """Serves the fixture bodies, paged by ``per_page``; ``faults`` lists (status, body) answered
    before the real page; ``envelope`` paths answer in the v1.0 list envelope instead."""

    def __init__(self) -> None:
        self.faults: dict[str, list[tuple[int, Any]]] = {}
        self.seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.delay = 0.0
        self.envelope: set[str] = set()
        self.bare = False  # answer without paging headers
        self.total_offset: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                outer.seen.append((parts.path, query, dict(self.headers.items())))
                if self.headers.get("Accept") != ACCEPT:
                    return self._send(406, {"error": "unsupported_version"})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(
                        401, {"error": "invalid_token", "message": "the token is not valid"}
                    )
                faults = outer.faults.get(parts.path, [])
                if faults:
                    status, body = faults.pop(0)
                    return self._send(status, body)
                if outer.delay:
                    time.sleep(outer.delay)
                name = FILES.get(parts.path)
                if name is None:
                    return self._send(404, {"error": "not_found"})
                body = json.loads((DATA / name).read_text(encoding="utf-8"))
                if not isinstance(body, list):
                    return self._send(200, body)
                if parts.path == "/attendances":
                    start, end = query["start_date"][0], query["end_date"][0]
                    body = [r for r in body if start <= r["session_date"] <= end]
                return self._page(parts.path, body, query)

            def _page(self, path: str, records: list[Any], query: dict[str, list[str]]) -> None:
                page = int(query.get("page", ["1"])[0])
                per = int(query.get("per_page", ["100"])[0])
                pages = max(1, -(-len(records) // per))
                chunk = records[(page - 1) * per : page * per]
                total = len(records) + outer.total_offset.get(path, 0)
                nxt = str(page + 1) if page < pages else ""
                if path in outer.envelope:
                    return self._send(
                        200,
                        {
                            "object": "list",
                            "total_count": total,
                            "total_pages": pages,
                            "current_page": page,
                            "prev_page": page - 1 or None,
                            "next_page": page + 1 if page < pages else None,
                            "data": chunk,
                        },
                    )
                headers = {
                    "Page": str(page),
                    "Total": str(total),
                    "Total-Pages": str(pages),
                    "Per-Page": str(per),
                    "Next-Page": nxt,
                    "Prev-Page": str(page - 1) if page > 1 else "",
                }
                return self._send(200, chunk, None if outer.bare else headers)

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)  # the client may have timed out

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.seen]


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def _load(server: _Server, **options: Any) -> ac.LoadResult:
    base: dict[str, Any] = {
        "token": TOKEN,
        "base_url": server.base,
        "backoff": 0,
        "max_wait": 0,
        "start_date": "2024-09-02",
        "end_date": "2024-09-13",
    }
    return ac.load("assembly://100001", **{**base, **options})


def test_fetch_pages_by_headers_and_joins_leavers(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = _load(server, per_page=25)
    assert result.format == "assembly-json"
    long = result.register.to_long()
    assert result.rows_read == len(long) == 70  # every record of the three pages
    assert not len(result.rejected)
    # the leaver's marks join through /students/left; the open end date is "not left"
    pupils = result.pupils
    assert pupils.loc["V873000000504", "leaving_date"] == pd.Timestamp("2024-09-06")
    assert pd.isna(pupils.loc["C873000000501", "leaving_date"])
    assert set(long["school_id"]) == {"100001"}
    dee = long[(long["pupil_id"] == "C873000000501") & (long["date"] == "2024-09-04")]
    assert list(dee.sort_values("session")["code"]) == ["L", "\\"]
    attendance = [q for p, q, _ in server.seen if p == "/attendances"]
    assert [q["page"] for q in attendance] == [["1"], ["2"], ["3"]]
    assert attendance[0]["start_date"] == ["2024-09-02"]
    assert attendance[0]["end_date"] == ["2024-09-13"]
    assert attendance[0]["per_page"] == ["25"]
    assert server.paths()[:3] == ["/school", "/students", "/students/left"]
    assert all(h.get("Accept") == ACCEPT for _, _, h in server.seen)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in w for w in result.warnings)


def test_v10_envelopes_page_by_next_page(server: _Server) -> None:
    server.envelope = {"/attendances", "/students"}
    result = _load(server, per_page=30)
    assert result.rows_read == 70
    assert len([p for p in server.paths() if p == "/attendances"]) == 3


def test_without_paging_headers_full_pages_are_followed(server: _Server) -> None:
    server.bare = True
    result = _load(server, per_page=35)
    assert result.rows_read == 70
    # 35 + 35 records, then an empty page says it is the end
    assert [q["page"] for p, q, _ in server.seen if p == "/attendances"] == [["1"], ["2"], ["3"]]


def test_the_date_range_reaches_the_api(server: _Server) -> None:
    result = _load(server, start_date="2024-09-09", end_date="2024-09-13")
    long = result.register.to_long()
    assert long["date"].min() == pd.Timestamp("2024-09-09")
    assert result.rows_read == 3 * 5 * 2


def test_429_with_assemblys_body_and_5xx_are_retried(server: _Server) -> None:
    limited = {"error": "too many requests", "data": {"count": 601, "period": 300, "limit": 600}}
    server.faults["/attendances"] = [(429, limited), (503, {"error": "unavailable"})]
    result = _load(server)
    assert result.rows_read == 70
    assert server.paths().count("/attendances") == 3  # two faults, then the one page


def test_token_from_the_environment(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSEMBLY_TOKEN", TOKEN)
    result = ac.load(
        "assembly://100001",
        base_url=server.base,
        start_date="2024-09-02",
        end_date="2024-09-13",
    )
    assert result.rows_read == 70


def test_no_token_wrong_token_gave_up_and_not_found(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSEMBLY_TOKEN", raising=False)
    with pytest.raises(FormatError, match="ASSEMBLY_TOKEN"):
        ac.load("assembly://100001", base_url=server.base)
    with pytest.raises(FormatError, match="HTTP 401") as refused:
        _load(server, token="wrong-token-456")
    assert "wrong-token-456" not in str(refused.value)
    server.faults["/students"] = [(500, {"error": "boom"})] * 3
    with pytest.raises(FormatError, match="gave up after 3 attempt") as gave_up:
        _load(server, retries=2)
    assert TOKEN not in str(gave_up.value)
    with pytest.raises(FormatError, match="HTTP 404"):
        _load(server, include=("calendar_events",))


def test_a_token_for_another_school_is_refused(server: _Server) -> None:
    with pytest.raises(FormatError, match="another school"):
        ac.load("assembly://999999", token=TOKEN, base_url=server.base)
    # the LA/establishment number names the same school as its URN
    result = _load(server)
    by_laestab = ac.load(
        "assembly://8732001",
        token=TOKEN,
        base_url=server.base,
        start_date="2024-09-02",
        end_date="2024-09-13",
    )
    assert by_laestab.rows_read == result.rows_read


def test_a_count_that_disagrees_with_the_pages_is_an_error(server: _Server) -> None:
    server.total_offset["/attendances"] = 5  # the API says 75 records, its pages hold 70
    with pytest.raises(FormatError, match="reported 75 record"):
        _load(server, per_page=25)


def test_timeout(server: _Server) -> None:
    server.delay = 0.5
    with pytest.raises(FormatError, match="timed out"):
        _load(server, timeout=0.1, retries=1)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="per_page"):
        ac.load("assembly://100001", token=TOKEN, per_page=5000)
    with pytest.raises(ValueError, match="include"):
        ac.load("assembly://100001", token=TOKEN, include=("exclusions",))
    with pytest.raises(FormatError, match="one school id"):
        ac.load("assembly://", token=TOKEN)


def test_the_429_period_is_the_wait_when_there_is_no_retry_after() -> None:
    import httpx

    answers = [
        httpx.Response(429, json={"error": "too many requests", "data": {"period": 300}}),
        httpx.Response(429, json={"error": "too many requests"}),
        httpx.Response(200, json=[]),
    ]
    slept: list[float] = []
    with ApiClient(
        service="assembly",
        base_url="https://api.example.invalid/",
        token=TOKEN,
        policy=RetryPolicy(retries=3, backoff=2.0, max_wait=60.0),
        transport=httpx.MockTransport(lambda request: answers.pop(0)),
        sleep=slept.append,
        wait_hint=rate_limit_wait,
    ) as client:
        body, _ = client.get(client.url("attendances"))
    assert body == []
    assert slept[0] == 60.0  # Assembly's period (300 s), capped by max_wait
    assert 4.0 <= slept[1] <= 4.4  # no hint: backoff 2 s * 2**1 (second attempt), 10 % jitter


def test_an_answer_that_is_not_an_assembly_list_is_an_error(server: _Server) -> None:
    server.faults["/attendances"] = [(200, {"error": "maintenance", "message": "back soon"})]
    with pytest.raises(FormatError, match="not an Assembly list"):
        _load(server)
