"""The LA service: the casebook over HTTP, for a local authority and its schools (FastAPI).

Run it with ``attendance-core serve --casebook URL --host H --port P`` (extra
``attendance-core[service]``), or build the app yourself with :func:`create_app` and run it
under any ASGI server. Every request needs a bearer token made by ``attendance-core token add``:
a school's token sees and changes only that school's pupils (another school's step is 404); an
LA token sees every school. A request without a valid token gets 401.

Endpoints:

``GET /formats``
    installed register formats, bundled policies and the step statuses;
``POST /registers?as_of=&format=&policy=&scheme=``
    an export as the body (any format :func:`attendance_core.load` reads), streamed to a
    temporary file with the size limit checked while reading, before parsing; classified over
    the academic year to ``as_of`` (``scheme``, default ``five-band``, the bands ``recommend``
    reads) and recommended with the casebook's history and plans, and the steps saved. Returns
    the rows read, the rejected rows, the band table, each enrolment's counts and band, and the
    saved steps with their ids and statuses;
``GET /steps?status=&pupil_id=&school_id=``
    the caller's steps;
``POST /steps/{step_id}``
    a JSON body ``{"status": ..., "note": ..., "on": ..., "until": ...}``: a status change;
``GET /pupils/{pupil_id}/history``
    the pupil's events the caller may see;
``POST /history``
    a JSON list of events (or ``{"events": [...]}``) in the columns of
    :meth:`attendance_core.CaseHistory.to_table`.

Errors are 4xx with the library's one-line message (``{"detail": "..."}``): 401 no or bad
token, 403 another school's data, 404 no such step or pupil, 409 a status change the lifecycle
does not allow, 413 a body over the limit, 422 a body that cannot be used. Logs carry ids and
counts only, never pupil names.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run
# time
import datetime as dt
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from typing import IO, Annotated, Any, Final

import attrs
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .casebook import (
    STATUSES,
    Casebook,
    CasebookError,
    NotPermittedError,
    StepNotFoundError,
    TokenInfo,
    TransitionError,
)
from .errors import AttendanceError
from .escalation import STEP_FIELDS

__all__ = ["DEFAULT_MAX_JSON_BYTES", "DEFAULT_MAX_UPLOAD_BYTES", "create_app", "serve"]

#: Largest register export accepted by default (bytes).
DEFAULT_MAX_UPLOAD_BYTES: Final[int] = 64 * 1024 * 1024
#: Largest JSON body (status changes, history) accepted by default (bytes).
DEFAULT_MAX_JSON_BYTES: Final[int] = 4 * 1024 * 1024

log = logging.getLogger("attendance_core.service")

_SUFFIXES: Final[Mapping[str, str]] = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/plain": ".csv",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "application/json": ".json",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.apache.parquet": ".parquet",
}
#: A step as the service shows it: the casebook's id, the policy's fields (its ``note`` is the
#: casebook's ``step_note``, left out) and the casebook's status, who set it, when, its note.
_STEP_FIELDS: Final[tuple[str, ...]] = (
    "step_id",
    *(name for name in STEP_FIELDS if name != "note"),
    "status",
    "updated_by",
    "updated_on",
    "note",
    "as_of",
)


class ServiceError(AttendanceError):
    """An HTTP error with the status it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


#: the HTTP status of each casebook error; any other library error is a body that cannot be used
_STATUSES: Final = ((StepNotFoundError, 404), (NotPermittedError, 403), (TransitionError, 409))


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, ServiceError):
        return exc.status
    return next((status for kind, status in _STATUSES if isinstance(exc, kind)), 422)


def _plain(value: Any) -> Any:
    """A value as JSON: dates as ISO text, NaN as null, numpy scalars as Python ones."""
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date().isoformat()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _plain(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return value


def _steps_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = []
    for row in frame.to_dict("records"):
        records.append({k: _plain(row.get(k)) for k in _STEP_FIELDS})
    return records


def _events_json(history: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in e.as_row().items()} for e in history.events]


async def _read_body(request: Request, limit: int, sink: IO[bytes]) -> int:
    """Stream the body into ``sink``, refusing it (413) as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ServiceError(400, "Content-Length is not a number") from None
        if size > limit:
            raise ServiceError(413, f"body of {size} bytes is over the limit of {limit} bytes")
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ServiceError(413, f"body is over the limit of {limit} bytes")
        sink.write(chunk)
    if total == 0:
        raise ServiceError(422, "empty body: send the export (or the JSON) as the body")
    return total


async def _read_json(request: Request, limit: int) -> Any:
    import json

    with tempfile.SpooledTemporaryFile(max_size=limit + 1) as buffer:
        await _read_body(request, limit, buffer)
        buffer.seek(0)
        try:
            return json.loads(buffer.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise ServiceError(422, "body is not UTF-8 JSON") from None
        except json.JSONDecodeError as exc:
            where = f" at line {exc.lineno}, column {exc.colno}"
            raise ServiceError(422, f"body is not JSON{where}") from None


@attrs.frozen
class _Limits:
    """What one app allows: body sizes and the policy ids a client may ask for."""

    max_upload_bytes: int
    max_json_bytes: int
    policies: tuple[str, ...]


def _limits(request: Request) -> _Limits:
    limits: _Limits = request.app.state.limits
    return limits


def _caller(request: Request) -> Casebook:
    """The casebook as the bearer token's holder may see it (401 without a valid token)."""
    cb: Casebook = request.app.state.casebook
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    info: TokenInfo | None = None
    if scheme.lower() == "bearer" and token.strip():
        info = cb.check_token(token.strip())
    if info is None:
        raise ServiceError(401, "a valid bearer token is needed (attendance-core token add)")
    request.state.token = info
    if info.role == "la":
        return cb.as_user(info.user)
    assert info.school_id is not None
    return cb.for_school(info.school_id, info.user)


CallerView = Annotated[Casebook, Depends(_caller)]
Limits = Annotated[_Limits, Depends(_limits)]
_router = APIRouter()


async def _attendance_error(_request: Request, exc: Exception) -> JSONResponse:
    status = _status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": _one_line(exc)}, status_code=status, headers=headers)


@_router.get("/formats")
def _formats(view: CallerView, limits: Limits) -> dict[str, Any]:
    """Installed register formats, the policies a client may use and the step statuses."""
    import attendance_core as ac

    return {"formats": ac.formats(), "policies": list(limits.policies), "statuses": list(STATUSES)}


@_router.post("/registers")
async def _registers(  # noqa: PLR0917 - FastAPI names the parameters, not their order
    request: Request,
    view: CallerView,
    limits: Limits,
    as_of: dt.date | None = None,
    format: Annotated[str | None, Query(description="adapter name")] = None,
    policy: Annotated[str, Query(description="policy id")] = "england-2024",
    scheme: Annotated[str, Query(description="band scheme id")] = "five-band",
) -> dict[str, Any]:
    """Read an export, classify it (academic year to ``as_of``), recommend with the
    casebook's history and plans, save the steps."""
    import attendance_core as ac

    if scheme not in ac.band_schemes():
        raise ServiceError(
            422, f"unknown scheme {scheme[:40]!r}: use one of {', '.join(ac.band_schemes())}"
        )
    if policy not in limits.policies:
        raise ServiceError(
            422, f"unknown policy {policy[:40]!r}: use one of {', '.join(limits.policies)}"
        )
    if format is not None and format not in ac.formats():
        raise ServiceError(422, f"unknown format {format[:40]!r}: see GET /formats")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = _SUFFIXES.get(content_type, "")
    with tempfile.TemporaryFile(prefix="attendance-core-upload-") as handle:
        size = await _read_body(request, limits.max_upload_bytes, handle)
        handle.seek(0)
        result = await run_in_threadpool(
            _register_job, view, handle, suffix, format, as_of, policy, scheme
        )
    token: TokenInfo = request.state.token
    log.info(
        "register from token %s: %d bytes, %d rows read, %d rejected, %d steps",
        token.token_id,
        size,
        result["rows_read"],
        len(result["rejected"]),
        len(result["steps"]),
    )
    return result


@_router.get("/steps")
async def _steps(
    view: CallerView,
    status: Annotated[list[str] | None, Query(description="one or more statuses")] = None,
    pupil_id: str | None = None,
    school_id: str | None = None,
) -> dict[str, Any]:
    """The caller's steps, filtered by status, pupil and (for the LA) school."""
    frame = await run_in_threadpool(
        view.steps, school_id=school_id, status=status, pupil_id=pupil_id
    )
    return {"steps": _steps_json(frame)}


@_router.post("/steps/{step_id}")
async def _change_step(
    request: Request, step_id: str, view: CallerView, limits: Limits
) -> dict[str, Any]:
    """Change a step's status: ``{"status": ..., "note": ..., "on": ..., "until": ...}``."""
    body = await _read_json(request, limits.max_json_bytes)
    if not isinstance(body, dict) or "status" not in body:
        raise ServiceError(422, 'body must be a JSON object with a "status"')
    unknown = sorted(set(body) - {"status", "note", "on", "until"})
    if unknown:
        raise ServiceError(422, f"unknown field {unknown[0][:40]!r} in the body")
    token: TokenInfo = request.state.token
    event = await run_in_threadpool(
        view.set_status,
        step_id,
        body["status"],
        token.user,
        body.get("on"),
        body.get("note"),
        until=body.get("until"),
    )
    row = await run_in_threadpool(view.steps, step_ids=[step_id])
    return {
        "step": _steps_json(row)[0] if len(row) else None,
        "event": None if event is None else {k: _plain(v) for k, v in event.as_row().items()},
    }


@_router.get("/pupils/{pupil_id}/history")
async def _pupil_history(pupil_id: str, view: CallerView) -> dict[str, Any]:
    """The pupil's events the caller may see (404 when the caller knows no such pupil)."""
    history = await run_in_threadpool(view.history, pupil_id=pupil_id)
    if not len(history):
        known = await run_in_threadpool(view.steps, pupil_id=pupil_id)
        if not len(known):
            raise ServiceError(404, f"no pupil {pupil_id[:40]!r}")
    return {"pupil_id": pupil_id, "events": _events_json(history)}


@_router.post("/history")
async def _add_history(request: Request, view: CallerView, limits: Limits) -> dict[str, Any]:
    """Add events (a JSON list, or ``{"events": [...]}``); returns how many were new."""
    body = await _read_json(request, limits.max_json_bytes)
    if isinstance(body, dict) and set(body) == {"events"}:
        body = body["events"]
    if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
        raise ServiceError(422, "body must be a JSON list of events (objects)")
    table = pd.DataFrame(body, dtype=object)
    if not len(table):
        return {"added": 0}
    table.index = pd.RangeIndex(1, len(table) + 1)  # rows named 1-based in errors
    added = await run_in_threadpool(view.add_history, table)
    return {"added": int(added)}


def create_app(
    casebook: Casebook | str,
    *,
    key: bytes | str | os.PathLike[str] | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
    policies: tuple[str, ...] | None = None,
) -> FastAPI:
    """The FastAPI app over ``casebook`` (a :class:`~attendance_core.casebook.Casebook` or a
    URL, opened with ``key`` for pseudonymous mode). ``policies`` limits the policy ids a
    client may ask for (default: the bundled ones); clients never send paths."""
    import attendance_core as ac

    app = FastAPI(
        title="attendance-core LA service",
        description="Registers in, next steps out, case history and step lifecycles kept.",
        version=str(ac.__version__),
    )
    # the endpoints are module-level (one router); what differs between apps is app state
    app.state.casebook = casebook if isinstance(casebook, Casebook) else Casebook(casebook, key=key)
    app.state.limits = _Limits(
        max_upload_bytes=max_upload_bytes,
        max_json_bytes=max_json_bytes,
        policies=tuple(policies) if policies is not None else tuple(ac.policies()),
    )
    app.add_exception_handler(AttendanceError, _attendance_error)
    app.include_router(_router)
    return app


def _register_job(  # noqa: PLR0917 - called positionally by run_in_threadpool
    view: Casebook,
    handle: IO[bytes],
    suffix: str,
    fmt: str | None,
    as_of: dt.date | None,
    policy: str,
    scheme: str,
) -> dict[str, Any]:
    import attendance_core as ac

    source = ac.Source.of(handle, name=f"upload{suffix}")
    loaded = view.pseudonymise(ac.load(source, format=fmt))  # pseudonymous mode: ids replaced
    frame = view.recommend(
        loaded.register, pupils=loaded.pupils, as_of=as_of, policy=policy, pseudonymised=True
    )
    classified = _classified(loaded.register, as_of, scheme)
    rejected = [
        {
            "row": _plain(r.row),
            "column": None if r.column is None else str(r.column),
            "value": None if r.value is None else str(r.value)[:200],
            "reason": str(r.reason),
        }
        for r in loaded.rejected.itertuples(index=False)
    ]
    return {
        "rows_read": int(loaded.rows_read),
        "rejected": rejected,
        **classified,
        "steps": _steps_json(frame),
    }


def _classified(reg: Any, as_of: dt.date | None, scheme: str) -> dict[str, Any]:
    """Counts and band of every enrolment over the academic year of ``as_of`` to that day (as
    ``recommend`` reads bands), and the band table (``percent`` a fraction in [0, 1], as
    :func:`~attendance_core.band_summary` gives it)."""
    import attendance_core as ac
    from attendance_core.calendar import academic_year, as_date

    if reg.n_enrolments == 0 or len(reg.dates) == 0:
        return {"scheme": scheme, "period": None, "bands": [], "pupils": []}
    day = as_date(reg.dates[-1]) if as_of is None else as_of
    start, _end = academic_year(day)
    table = ac.classify(reg, scheme=scheme, start=start, end=day)
    summary = ac.band_summary(table)
    pupils = table.reset_index()
    if "school_id" not in pupils.columns:
        schools = reg.school_ids
        pupils.insert(0, "school_id", None if schools is None else str(schools[0]))
    columns = ["school_id", "pupil_id", "possible", "attended", "authorised", "unauthorised"]
    columns += ["attendance_rate", "band"]
    return {
        "scheme": scheme,
        "period": {"start": start.isoformat(), "end": day.isoformat()},
        "bands": [
            {"band": str(band), "pupils": int(row["pupils"]), "percent": float(row["percent"])}
            for band, row in summary.iterrows()
        ],
        "pupils": [
            {k: _plain(None if pd.isna(v) else v) for k, v in record.items()}
            for record in pupils[columns].astype(object).to_dict("records")
        ],
    }


def serve(
    casebook: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    key: bytes | str | os.PathLike[str] | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> None:
    """Run the service with uvicorn until interrupted (``attendance-core serve``)."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - only without the extra
        raise CasebookError(
            "the service needs uvicorn: pip install 'attendance-core[service]'"
        ) from None
    app = create_app(casebook, key=key, max_upload_bytes=max_upload_bytes)
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
