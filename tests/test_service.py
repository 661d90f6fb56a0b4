"""The LA service through real HTTP on a local port (uvicorn in a thread), on SQLite and on
PostgreSQL: tokens and roles, size limits, bad bodies, concurrent uploads."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import httpx
import pytest
import uvicorn

import attendance_core as ac
from attendance_core.casebook import Casebook
from attendance_core.service import create_app
from builders import frame
from casebook_support import AS_OF, BACKENDS, database_url, pupil_rows, two_schools_csv

LIMIT = 256 * 1024
KEY = b"0123456789abcdef0123456789abcdef"


@attrs.define
class Service:
    base: str
    casebook: Casebook
    la: str
    s1: str
    s2: str

    def client(self, token: str | None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=120)


def _run(app: object) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level="info", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # start-up, not a timed assertion: no deadline is checked
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def _service(url: str, key: bytes | None = None) -> Iterator[Service]:
    cb = Casebook(url, key=key, user="setup")
    tokens = {
        "la": cb.add_token(la=True, label="LA team"),
        "s1": cb.add_token(school_id="S1"),
        "s2": cb.add_token(school_id="S2"),
    }
    app = create_app(cb, max_upload_bytes=LIMIT, max_json_bytes=64 * 1024)
    for base in _run(app):
        yield Service(base=base, casebook=cb, **tokens)
    cb.close()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def service(url: str) -> Iterator[Service]:
    yield from _service(url)


def _csv(*groups: list[dict[str, object]]) -> bytes:
    return frame(*groups).to_csv(index=False).encode()


def _upload(client: httpx.Client, body: bytes, **params: str) -> httpx.Response:
    return client.post(
        "/registers",
        content=body,
        params={"as_of": AS_OF.isoformat(), **params},
        headers={"Content-Type": "text/csv"},
    )


def _step(steps: list[dict[str, object]], pupil: str, action: str) -> dict[str, object]:
    (found,) = [s for s in steps if s["pupil_id"] == pupil and s["action"] == action]
    return found


# ------------------------------------------------------------------------------ tokens
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/formats"),
        ("POST", "/registers"),
        ("GET", "/steps"),
        ("POST", "/steps/abc"),
        ("GET", "/pupils/A/history"),
        ("POST", "/history"),
    ],
)
def test_every_endpoint_needs_a_valid_token(service: Service, method: str, path: str) -> None:
    for token in (None, "acb_wrong", service.la[:-2] + "xx"):
        with service.client(token) as client:
            response = client.request(method, path, content=b"[]")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]


def test_a_revoked_token_is_refused(service: Service) -> None:
    info = service.casebook.check_token(service.s2)
    assert info is not None
    service.casebook.revoke_token(info.token_id)
    with service.client(service.s2) as client:
        assert client.get("/formats").status_code == 401


def test_formats(service: Service) -> None:
    with service.client(service.s1) as client:
        data = client.get("/formats").json()
    assert data["formats"] == ac.formats()
    assert "england-2024" in data["policies"]
    assert data["statuses"] == ["proposed", "accepted", "done", "dismissed"]


# ------------------------------------------------------------------------------ registers
def test_an_upload_is_recommended_with_the_history_and_its_steps_saved(service: Service) -> None:
    with service.client(service.la) as la:
        first = _upload(la, two_schools_csv())
        assert first.status_code == 200, first.text
        data = first.json()
        assert data["rows_read"] == 3 * 60
        assert data["rejected"] == []
        expected = ac.recommend(ac.load(two_schools_csv()).register, as_of=AS_OF)
        assert [(s["pupil_id"], s["action"]) for s in data["steps"]] == [
            (s.pupil_id, s.action) for s in expected
        ]
        assert {s["status"] for s in data["steps"]} == {"proposed"}
        table = ac.classify(
            ac.load(two_schools_csv()).register, scheme="five-band", start="2024-08-01", end=AS_OF
        )
        assert data["period"] == {"start": "2024-08-01", "end": AS_OF.isoformat()}
        assert {(p["school_id"], p["pupil_id"]): (p["possible"], p["attended"], p["band"])
                for p in data["pupils"]} == {
            key: (int(r["possible"]), int(r["attended"]), r["band"]) for key, r in table.iterrows()
        }  # fmt: skip
        assert sum(b["pupils"] for b in data["bands"]) == 3
        consult = _step(data["steps"], "A", "consult_attendance_officer")
        changed = la.post(
            f"/steps/{consult['step_id']}", json={"status": "done", "on": "2025-02-14"}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["event"]["event"] == "attendance_officer_consulted"
        assert changed.json()["step"]["updated_by"].endswith("LA team")
        again = _upload(la, two_schools_csv()).json()
    assert ("A", "consult_attendance_officer") not in {
        (s["pupil_id"], s["action"]) for s in again["steps"]
    }
    assert ("B", "consult_attendance_officer") in {
        (s["pupil_id"], s["action"]) for s in again["steps"]
    }
    assert len(service.casebook.steps()) == len(data["steps"])  # the repeat added no rows


def test_a_school_uploads_only_its_own_pupils(service: Service) -> None:
    with service.client(service.s1) as s1:
        mixed = _upload(s1, two_schools_csv())
        assert mixed.status_code == 403
        assert "S2" in mixed.json()["detail"]
        own = _upload(s1, _csv(pupil_rows("A", "S1", 2)))
        assert own.status_code == 200
        assert {s["school_id"] for s in own.json()["steps"]} == {"S1"}
        unnamed = _upload(s1, _csv(pupil_rows("D", "S1", 2)).replace(b",S1", b","))
        assert unnamed.status_code == 200, unnamed.text
        assert {s["school_id"] for s in unnamed.json()["steps"]} == {"S1"}
    assert len(service.casebook.steps(school_id="S2")) == 0


# ------------------------------------------------------------------------------ roles
def test_a_school_sees_and_changes_only_its_own_steps(service: Service) -> None:
    with service.client(service.la) as la:
        steps = _upload(la, two_schools_csv()).json()["steps"]
    theirs = _step(steps, "B", "review_support")
    mine = _step(steps, "A", "review_support")
    with service.client(service.s1) as s1:
        listed = s1.get("/steps").json()["steps"]
        assert {s["school_id"] for s in listed} == {"S1"}
        assert s1.get("/steps", params={"school_id": "S2"}).json()["steps"] == []
        hidden = s1.post(f"/steps/{theirs['step_id']}", json={"status": "accepted"})
        assert hidden.status_code == 404
        ok = s1.post(f"/steps/{mine['step_id']}", json={"status": "accepted", "note": "booked"})
        assert ok.status_code == 200
        assert ok.json()["step"]["note"] == "booked"
        accepted = s1.get("/steps", params={"status": "accepted"}).json()["steps"]
        assert [s["step_id"] for s in accepted] == [mine["step_id"]]
        assert s1.get("/pupils/B/history").status_code == 404
        assert s1.get("/pupils/A/history").status_code == 200
    with service.client(service.la) as la:
        assert len(la.get("/steps").json()["steps"]) == len(steps)
        assert la.get("/pupils/B/history").status_code == 200
        assert la.get("/pupils/nobody/history").status_code == 404


def test_status_changes_that_the_lifecycle_refuses(service: Service) -> None:
    with service.client(service.la) as la:
        steps = _upload(la, two_schools_csv()).json()["steps"]
        sid = _step(steps, "A", "early_help_assessment")["step_id"]
        assert la.post(f"/steps/{sid}", json={"status": "done"}).status_code == 200
        refused = la.post(f"/steps/{sid}", json={"status": "proposed"})
        assert refused.status_code == 409
        assert "cannot become proposed" in refused.json()["detail"]
        assert la.post(f"/steps/{sid}", json={"status": "closed"}).status_code == 422
        assert la.post(f"/steps/{sid}", json={"state": "done"}).status_code == 422
        assert la.post(f"/steps/{sid}", json=["done"]).status_code == 422
        bad_json = la.post(f"/steps/{sid}", content=b"{status: done")
        assert bad_json.status_code == 422
        assert bad_json.json()["detail"].startswith("body is not JSON")


# ------------------------------------------------------------------------------ history
def test_history_posted_and_read_back(service: Service) -> None:
    event = {"pupil_id": "A", "event": "penalty_notice", "date": "2025-01-10", "outcome": "paid"}
    with service.client(service.s1) as s1:
        assert s1.post("/history", json=[event]).json() == {"added": 1}
        assert s1.post("/history", json={"events": [event]}).json() == {"added": 0}
        foreign = s1.post("/history", json=[{**event, "school_id": "S2"}])
        assert foreign.status_code == 403
        bad = s1.post("/history", json=[event, {**event, "event": "telling_off"}])
        assert bad.status_code == 422
        assert "row 2" in bad.json()["detail"]
        assert "\n" not in bad.json()["detail"]
        back = s1.get("/pupils/A/history").json()
    assert back["events"] == [
        {"pupil_id": "A", "school_id": "S1", "event": "penalty_notice", "date": "2025-01-10",
         "until": None, "parent_id": None, "outcome": "paid", "note": None}
    ]  # fmt: skip
    with service.client(service.s2) as s2:
        assert s2.get("/pupils/A/history").status_code == 404


# ------------------------------------------------------------------------------ limits
def test_a_body_over_the_limit_is_refused_before_parsing(service: Service) -> None:
    big = b"pupil_id,date,session,code\n" + b"A,2025-01-06,AM,/\n" * (LIMIT // 16)
    assert len(big) > LIMIT
    with service.client(service.la) as la:
        declared = _upload(la, big)
        assert declared.status_code == 413
        assert "limit" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            for k in range(0, len(big), 8192):
                yield big[k : k + 8192]

        streamed = la.post("/registers", content=chunks(), headers={"Content-Type": "text/csv"})
        assert streamed.status_code == 413
    assert len(service.casebook.steps()) == 0


def test_bad_bodies_are_4xx_with_one_line(service: Service) -> None:
    with service.client(service.la) as la:
        empty = _upload(la, b"")
        assert empty.status_code == 422
        assert "empty body" in empty.json()["detail"]
        garbage = _upload(la, b"\x00\x01\x02 not a register at all \xff" * 20)
        assert garbage.status_code == 422
        assert "\n" not in garbage.json()["detail"]
        wrong_date = _upload(la, two_schools_csv(), as_of="14/02/2025")
        assert wrong_date.status_code == 422
        assert _upload(la, two_schools_csv(), policy="/etc/passwd").status_code == 422
        assert _upload(la, two_schools_csv(), format="no-such-mis").status_code == 422
        assert _upload(la, two_schools_csv(), scheme="bands.toml").status_code == 422


def test_rejected_rows_come_back_and_names_stay_out_of_the_logs(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    rows = pupil_rows("A", "S1", 2)
    for row in rows:
        row["name"] = "Zebedee Quuxley"
    body = _csv(rows, [{"pupil_id": "A", "date": "2025-01-07", "session": "XX", "code": "/",
                        "school_id": "S1", "name": "Zebedee Quuxley"}])  # fmt: skip
    caplog.set_level(logging.DEBUG)
    with service.client(service.la) as la:
        response = _upload(la, body)
    assert response.status_code == 200, response.text
    assert [r["reason"] for r in response.json()["rejected"]] == ["bad_session"]
    assert "register from token" in caplog.text
    assert "Zebedee" not in caplog.text


# ------------------------------------------------------------------------------ concurrency
def test_concurrent_uploads_lose_and_duplicate_no_steps(service: Service) -> None:
    bodies = [two_schools_csv(), _csv(pupil_rows("E", "S1", 2)), _csv(pupil_rows("F", "S2", 3))]

    def upload(k: int) -> httpx.Response:
        with service.client(service.la) as la:
            return _upload(la, bodies[k % len(bodies)])

    with ThreadPoolExecutor(max_workers=9) as pool:
        responses = list(pool.map(upload, range(18)))
    assert [r.status_code for r in responses] == [200] * 18
    by_body: dict[int, set[tuple[str, ...]]] = {}
    for k, response in enumerate(responses):
        ids = tuple(s["step_id"] for s in response.json()["steps"])
        by_body.setdefault(k % len(bodies), set()).add(ids)
    assert all(len(v) == 1 for v in by_body.values())  # every repeat got the same ids
    expected = {sid for v in by_body.values() for ids in v for sid in ids}
    stored = service.casebook.steps()
    assert set(stored["step_id"]) == expected
    assert not stored.duplicated(["school_id", "pupil_id", "action"]).any()


# ------------------------------------------------------------------------------ pseudonyms
def test_pseudonymous_service_returns_the_pseudonyms(url: str) -> None:
    for service in _service(url, key=KEY):
        with service.client(service.la) as la:
            steps = _upload(la, two_schools_csv()).json()["steps"]
            assert {s["pupil_id"] for s in steps} == {ac.pseudonymise(p, KEY) for p in "AB"}
            event = {"pupil_id": "A", "school_id": "S1", "event": "support_not_worked",
                     "date": "2025-01-10"}  # fmt: skip
            assert la.post("/history", json=[event]).json() == {"added": 1}
            history = la.get("/pupils/A/history").json()
            assert [e["pupil_id"] for e in history["events"]] == [ac.pseudonymise("A", KEY)]
            same = la.get(f"/pupils/{ac.pseudonymise('A', KEY)}/history").json()
            assert same["events"] == history["events"]
