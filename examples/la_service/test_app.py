"""Tests of the deployment configuration (``app.py``): it builds the library's service from the
environment, and that service answers with its roles. Run with ``pytest examples/la_service``.

The service itself is tested through real HTTP in the project's ``tests/test_service.py``; here
only what this configuration adds is checked, through FastAPI's test client.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

import attendance_core as ac

HERE = Path(__file__).resolve().parent


def _load_app(monkeypatch: pytest.MonkeyPatch, url: str, **env: str) -> ModuleType:
    monkeypatch.setenv("ATTENDANCE_CORE_CASEBOOK", url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("la_service_app", HERE / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _csv() -> bytes:
    marks, _pupils = ac.demo.school(n_pupils=30)
    return marks.to_csv(index=False).encode()


def test_the_configured_app_is_the_library_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    module = _load_app(monkeypatch, url, ATTENDANCE_CORE_MAX_UPLOAD_MB="1")
    casebook = module.app.state.casebook
    token = casebook.add_token(la=True, label="test")
    client = TestClient(module.app)
    assert client.get("/formats").status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/formats", headers=auth).json()["formats"] == ac.formats()
    response = client.post("/registers", content=_csv(), headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["steps"]
    too_big = client.post("/registers", content=b"x" * (1024 * 1024 + 1), headers=auth)
    assert too_big.status_code == 413
    assert len(ac.Casebook(url).steps()) == len(response.json()["steps"])


def test_a_key_file_turns_on_pseudonymous_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "pseudonym.key"
    key.write_text(ac.privacy.generate_key())
    key.chmod(0o600)
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    module = _load_app(monkeypatch, url, ATTENDANCE_CORE_KEY_FILE=str(key))
    casebook = module.app.state.casebook
    assert casebook.pseudonymous
    token = casebook.add_token(la=True)
    client = TestClient(module.app)
    steps = client.post(
        "/registers", content=_csv(), headers={"Authorization": f"Bearer {token}"}
    ).json()["steps"]
    pseudonyms = {ac.pseudonymise(p, key) for p in ac.demo.school(n_pupils=30)[0]["pupil_id"]}
    assert {s["pupil_id"] for s in steps} <= pseudonyms
