"""Tests of the LA service example, through FastAPI's test client (no server, no network).

Run with ``pytest examples/la_service``. Skipped only when FastAPI (or httpx, which its test
client needs) is not installed: they are dependencies of this example, not of the library.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import attendance_core as ac

HERE = Path(__file__).resolve().parent


def _load_app_module():  # the example is a script folder, not a package
    spec = importlib.util.spec_from_file_location("la_service_app", HERE / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


service = _load_app_module()
client = TestClient(service.app)


@pytest.fixture(scope="module")
def demo_csv() -> bytes:
    marks, _pupils = ac.demo.school(n_pupils=40)
    return marks.to_csv(index=False).encode()


def _post(path: str, body: bytes, **params: str):
    return client.post(path, content=body, params=params, headers={"Content-Type": "text/csv"})


def test_formats_lists_bundled_schemes_and_policies() -> None:
    response = client.get("/formats")
    assert response.status_code == 200
    data = response.json()
    assert "dfe" in data["schemes"]
    assert "five-band" in data["schemes"]
    assert "england-2024" in data["policies"]
    assert data["formats"] == ac.formats()


def test_classify_matches_the_library(demo_csv: bytes) -> None:
    response = _post("/classify", demo_csv, scheme="five-band")
    assert response.status_code == 200
    data = response.json()
    marks, _ = ac.demo.school(n_pupils=40)
    table = ac.classify(ac.Register.from_long(marks), scheme="five-band")
    assert data["rows_read"] == len(marks)
    assert data["rejected"] == []
    assert [b["band"] for b in data["bands"]] == list(ac.band_summary(table).index)
    assert sum(b["pupils"] for b in data["bands"]) == len(table)
    by_pupil = {p["pupil_id"]: p for p in data["pupils"]}
    for pupil_id, row in table.iterrows():
        assert by_pupil[pupil_id]["possible"] == int(row["possible"])
        assert by_pupil[pupil_id]["attended"] == int(row["attended"])
        assert by_pupil[pupil_id]["band"] == row["band"]


def test_classify_period_is_applied(demo_csv: bytes) -> None:
    whole = _post("/classify", demo_csv).json()
    autumn = _post("/classify", demo_csv, start="2024-09-01", end="2024-12-31").json()
    total = sum(p["possible"] for p in whole["pupils"])
    part = sum(p["possible"] for p in autumn["pupils"])
    assert 0 < part < total


def test_bad_rows_come_back_as_rejected_not_errors() -> None:
    body = (
        b"pupil_id,date,session,code\nP1,2024-09-02,AM,/\nP1,2024-09-02,PM,Q7\nP1,2024-13-40,AM,/\n"
    )
    response = _post("/classify", body)
    assert response.status_code == 200
    rejected = response.json()["rejected"]
    assert {r["reason"] for r in rejected} == {"unknown_code", "bad_date"}
    assert all(isinstance(r["row"], int) for r in rejected)


def test_recommend_returns_steps_with_reasons(demo_csv: bytes) -> None:
    response = _post("/recommend", demo_csv, as_of="2025-03-14")
    assert response.status_code == 200
    data = response.json()
    assert data["policy"] == "england-2024"
    assert data["steps"], "the demo school has pupils needing action"
    stages = {s.name for s in ac.Stage}
    for step in data["steps"]:
        assert step["stage"] in stages
        assert step["reason"].endswith(".")
        assert step["due"] >= "2025-03-14"
    assert sum(data["by_stage"].values()) == len(data["steps"])


def test_unknown_scheme_and_policy_are_422() -> None:
    body = b"pupil_id,date,session,code\nP1,2024-09-02,AM,/\n"
    assert _post("/classify", body, scheme="/etc/passwd").status_code == 422
    assert _post("/recommend", body, policy="nope").status_code == 422


def test_not_a_register_is_422_with_one_line() -> None:
    response = _post("/classify", b"hello, world\n")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "\n" not in detail
    assert detail


def test_empty_and_oversized_uploads_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _post("/classify", b"").status_code == 422
    monkeypatch.setattr(service, "MAX_UPLOAD_BYTES", 10)
    assert _post("/classify", b"pupil_id,date,session,code\n").status_code == 413
