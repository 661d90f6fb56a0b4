"""A small local-authority web service over attendance-core (FastAPI).

Run it::

    pip install . fastapi uvicorn        # from a checkout of attendance-core
    uvicorn app:app --app-dir examples/la_service

Endpoints (the request body is the CSV file itself, ``Content-Type: text/csv``)::

    POST /classify?scheme=five-band&start=2024-09-01&end=2025-07-31
    POST /recommend?as_of=2025-03-14&policy=england-2024
    GET  /formats

    curl --data-binary @marks.csv -H "Content-Type: text/csv" "localhost:8000/classify"

The CSV is the long layout (``pupil_id, date, session, code``, optional ``school_id``) or any
export the installed adapters detect. Design choices an integrator should keep:

* **Bad rows are data, not errors.** Rows the library cannot use come back under ``rejected``
  with their row, column, value and reason id; the request succeeds.
* **Bad files are 422s with one clear line.** Every :class:`attendance_core.AttendanceError`
  (not a register, unknown scheme, malformed policy) becomes HTTP 422 with the library's
  message, which names file, row and column and never carries personal data. Anything else is a
  bug and is left to the server's 500 handling.
* **Bounded input.** Uploads over ``MAX_UPLOAD_BYTES`` are refused with 413 before parsing.
* **Nothing is stored.** The upload is parsed in memory and dropped; schemes and policies are
  the bundled ids or files the operator installed, never paths sent by a client.
* **Blocking work off the event loop.** The handlers read the body and hand the parsing and
  counting to the thread pool (``run_in_threadpool``).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

import attendance_core as ac

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SCHEMES = tuple(ac.band_schemes())
POLICIES = tuple(ac.policies())

app = FastAPI(
    title="attendance-core LA service",
    description="Classify pupils and recommend next steps from an uploaded register CSV.",
    version="1",
)


def _read_upload(body: bytes) -> ac.LoadResult:
    if not body:
        raise HTTPException(status_code=422, detail="empty upload: send the CSV as the body")
    if len(body) > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail="upload larger than the service accepts")
    try:
        return ac.load(io.BytesIO(body))
    except ac.AttendanceError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _rejected(load: ac.LoadResult) -> list[dict[str, Any]]:
    return [
        {"row": int(r.row), "column": str(r.column), "value": str(r.value), "reason": str(r.reason)}
        for r in load.rejected.itertuples(index=False)
    ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


@app.get("/formats")
def formats() -> dict[str, Any]:
    """Installed adapters, bundled band schemes and bundled policies."""
    return {"formats": ac.formats(), "schemes": list(SCHEMES), "policies": list(POLICIES)}


@app.post("/classify")
async def classify(
    request: Request,
    scheme: Annotated[str, Query(description="band scheme id")] = "dfe",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """Exact counts and band of every enrolment, the band table, and the rejected rows."""
    if scheme not in SCHEMES:
        raise HTTPException(status_code=422, detail=f"unknown scheme {scheme!r}: use {SCHEMES}")
    body = await request.body()
    return await run_in_threadpool(_classify, body, scheme, start, end)


def _classify(
    body: bytes, scheme: str, start: dt.date | None, end: dt.date | None
) -> dict[str, Any]:
    load = _read_upload(body)
    try:
        table = ac.classify(load.register, scheme=scheme, start=start, end=end)
    except ac.AttendanceError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    summary = ac.band_summary(table)
    pupils = table.reset_index()
    return {
        "scheme": scheme,
        "rows_read": int(load.rows_read),
        "rejected": _rejected(load),
        "bands": [
            {"band": str(band), "pupils": int(row["pupils"]), "percent": float(row["percent"])}
            for band, row in summary.iterrows()
        ],
        "pupils": [
            {key: _jsonable(value) for key, value in record.items()}
            for record in pupils.astype(object).where(pupils.notna(), None).to_dict("records")
        ],
    }


@app.post("/recommend")
async def recommend(
    request: Request,
    as_of: dt.date | None = None,
    policy: Annotated[str, Query(description="policy id")] = "england-2024",
) -> dict[str, Any]:
    """Next steps for every enrolment under a bundled policy, with reasons and evidence."""
    if policy not in POLICIES:
        raise HTTPException(status_code=422, detail=f"unknown policy {policy!r}: use {POLICIES}")
    body = await request.body()
    return await run_in_threadpool(_recommend, body, as_of, policy)


def _recommend(body: bytes, as_of: dt.date | None, policy: str) -> dict[str, Any]:
    load = _read_upload(body)
    try:
        steps = ac.recommend(load.register, pupils=load.pupils, as_of=as_of, policy=policy)
    except ac.AttendanceError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    frame = ac.steps_frame(steps)
    return {
        "policy": policy,
        "rows_read": int(load.rows_read),
        "rejected": _rejected(load),
        "steps": [
            {
                "pupil_id": step.pupil_id,
                "school_id": step.school_id,
                "stage": str(step.stage),
                "action": step.action,
                "lead": step.lead,
                "due": step.due.isoformat(),
                "rule": step.rule,
                "reason": step.reason,
                "evidence": {k: _jsonable(v) for k, v in step.evidence.items()},
            }
            for step in steps
        ],
        "by_stage": {str(k): int(v) for k, v in frame["stage"].value_counts().items()}
        if len(frame)
        else {},
    }
