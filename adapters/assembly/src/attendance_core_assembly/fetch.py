"""Fetching a school's Assembly pages over HTTP (``ac.load("assembly://SCHOOL_ID", token=...)``).

Confirmed from Assembly's OpenAPI-generated clients (assembly-edu/assembly-client-java
``README.md`` and ``docs/AssemblyApi.md``, assembly-client-php ``docs/``): hosts
``https://api.assembly.education`` (live) and ``https://api-sandbox.assembly.education``; a
school token as ``Authorization: Bearer ...`` (a token belongs to one school, so paths carry no
school id); ``Accept: application/vnd.assembly+json; version=1.1`` (406 without a valid
version); ``GET /school``, ``/students``, ``/students/left``, ``/attendances`` (filters
``start_date``/``end_date``; without them only the current week), ``/attendances/summaries``,
``/calendar_events``; paging by ``page`` and ``per_page`` (default 100, at most 1500) with
the ``Page``, ``Total``, ``Total-Pages``, ``Per-Page``, ``Next-Page`` response headers over a
bare JSON array (v1.1), or a ``{"object": "list", "next_page", ...}`` envelope (v1.0); a 429
body ``{"error": ..., "data": {"count", "period", "limit"}}`` where ``period`` is the seconds
until the token may ask again. The school record has ``urn``, ``la_code`` and
``establishment_number`` but no ``id``.

INFERRED: that ``start_date``/``end_date`` accept a plain ``YYYY-MM-DD`` (the clients type them
as date-times); that ``/students`` lists the students on roll and ``/students/left`` the leavers
without a date filter. Each fetched page is handed to the reader as a v1.0 list envelope (its
page number and page count kept), so the reader's missing-page check applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from attendance_core.calendar import academic_year, as_date
from attendance_core.errors import FormatError
from attendance_core.fetching import FETCH_OPTIONS as SHARED_OPTIONS
from attendance_core.fetching import ApiClient, FetchOptions

__all__ = [
    "ACCEPT",
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "OPTIONAL_ENDPOINTS",
    "TOKEN_ENV",
    "fetch_school",
    "rate_limit_wait",
]

#: The live API host (the sandbox is ``https://api-sandbox.assembly.education``: ``base_url=``).
DEFAULT_BASE_URL = "https://api.assembly.education/"
#: The version header every request must carry.
ACCEPT = "application/vnd.assembly+json; version=1.1"
#: Environment variable read when no ``token=`` is given.
TOKEN_ENV = "ASSEMBLY_TOKEN"  # noqa: S105 (a variable name, not a secret)
#: Resources always fetched: pupils on roll and leavers (so a leaver's marks join), then marks.
ENDPOINTS: tuple[str, ...] = ("students", "students/left", "attendances")
#: Resources fetched when named in ``include=`` (each needs its own scope).
OPTIONAL_ENDPOINTS: Mapping[str, str] = {
    "calendar_events": "calendar_events",
    "attendance_summaries": "attendances/summaries",
}
#: Fetch options, taken out of the ``load`` options before the pages are read.
FETCH_OPTIONS = SHARED_OPTIONS | {"start_date", "end_date", "include", "verify_school"}
_DATED = frozenset({"attendances"})
_MAX_PER_PAGE = 1500


def rate_limit_wait(body: Any) -> float | None:
    """Seconds to wait from a 429 body ``{"data": {"period": 300}}``."""
    data = body.get("data") if isinstance(body, Mapping) else None
    period = data.get("period") if isinstance(data, Mapping) else None
    if isinstance(period, int | float) and not isinstance(period, bool) and period >= 0:
        return float(period)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _school_ids(body: Mapping[str, Any]) -> set[str]:
    """The ways a school can be named: its URN, LA code + establishment number (``3304000``,
    ``330/4000``, ``330-4000``), and an ``id`` if the record has one."""
    ids = {str(v).strip() for k in ("urn", "id") if (v := body.get(k)) is not None}
    la, estab = _int(body.get("la_code")), _int(body.get("establishment_number"))
    if la is not None and estab is not None:
        ids |= {f"{la:03d}{estab:04d}", f"{la:03d}/{estab:04d}", f"{la:03d}-{estab:04d}"}
    return ids


def _dates(options: dict[str, Any]) -> tuple[dt.date, dt.date]:
    today = dt.date.today()
    start = options.pop("start_date", None)
    end = options.pop("end_date", None)
    first = as_date(start, "start_date") if start is not None else academic_year(today)[0]
    last = as_date(end, "end_date") if end is not None else min(today, academic_year(today)[1])
    if last < first:
        raise FormatError(f"end_date {last} is before start_date {first}")
    return first, last


class _Fetch:
    """One school's fetch: the client, the paging rules, the collected pages."""

    def __init__(self, client: ApiClient, per_page: int, max_pages: int, url: str) -> None:
        self.client = client
        self.per_page = per_page
        self.max_pages = max_pages
        self.url = url
        self.pages: list[dict[str, Any]] = []

    def check_school(self, school: str) -> None:
        body, _ = self.client.get(self.client.url("school"))
        if not isinstance(body, Mapping):
            raise FormatError("assembly /school: the answer is not a school record", file=self.url)
        known = _school_ids(body)
        if school not in known:
            urn = body.get("urn")
            raise FormatError(
                f"assembly: the token is for another school (URN {urn}), not {school}; "
                "name the school by its URN or LA/establishment number, or pass "
                "verify_school=False",
                file=self.url,
            )

    def endpoint(self, path: str, params: Mapping[str, Any]) -> None:
        """Every page of ``path``, in order, each kept as a v1.0 list envelope."""
        page, fetched, total = 1, 0, None
        while True:
            query = {**params, "page": page, "per_page": self.per_page}
            body, headers = self.client.get(self.client.url(path), query)
            where = f"assembly /{path} page {page}"
            if isinstance(body, Mapping) and body.get("object") == "list":
                items = body.get("data")
                pages_total = _int(body.get("total_pages"))
                next_page = _int(body.get("next_page"))
                total = _int(body.get("total_count"))
            elif isinstance(body, list):
                items = body
                pages_total = _int(headers.get("Total-Pages"))
                next_page = _int(headers.get("Next-Page"))
                total = _int(headers.get("Total"))
            else:
                raise FormatError(f"{where}: the answer is not an Assembly list", file=self.url)
            if not isinstance(items, list):
                raise FormatError(f"{where}: the list has no 'data' array", file=self.url)
            fetched += len(items)
            self.pages.append(
                {
                    "object": "list",
                    "current_page": page,
                    "total_pages": pages_total,
                    "total_count": total,
                    "data": items,
                }
            )
            if next_page is None and pages_total is not None and page < pages_total:
                next_page = page + 1
            if next_page is None and pages_total is None and len(items) >= self.per_page:
                # no paging facts (headers stripped on the way?): a full page may not be the
                # last, so ask for the next until a short one
                next_page = page + 1
            if next_page is None:
                break
            if next_page <= page:
                raise FormatError(f"{where}: next page {next_page} goes backwards", file=self.url)
            if next_page > self.max_pages:
                raise FormatError(
                    f"assembly /{path}: more than {self.max_pages} pages (raise max_pages=)",
                    file=self.url,
                )
            page = next_page
        if total is not None and total != fetched:
            # no silent loss: the API's own count disagrees with what its pages held
            raise FormatError(
                f"assembly /{path}: the API reported {total} record(s), its pages held "
                f"{fetched}; the data changed while paging? fetch again",
                file=self.url,
            )


def fetch_school(url: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of the school's students (on roll and left) and attendance marks, and of the
    ``include``\\ d resources, as v1.0 list envelopes for the reader.

    Takes its options out of ``options`` (``token``, ``base_url``, ``per_page``,
    ``start_date``/``end_date`` -- the marks' period, by default the academic year so far --,
    ``include`` -- any of ``"calendar_events"``, ``"attendance_summaries"`` --, ``params`` --
    extra query parameters for ``/attendances`` --, ``verify_school``, ``retries``,
    ``backoff``, ``max_wait``, ``timeout``, ``max_pages``); the rest stay for the reader. The
    school id becomes the reader's ``school_id`` unless one is given.
    """
    fetch_options = FetchOptions.take(
        url,
        options,
        service="assembly",
        token_env=TOKEN_ENV,
        base_url=DEFAULT_BASE_URL,
        per_page=_MAX_PER_PAGE,
    )
    per_page, school = fetch_options.per_page, fetch_options.school
    if not 1 <= per_page <= _MAX_PER_PAGE:
        raise FormatError(f"per_page must be 1..{_MAX_PER_PAGE} (got {per_page})")
    first, last = _dates(options)
    include = options.pop("include", ())
    include = (include,) if isinstance(include, str) else tuple(include)
    unknown = [name for name in include if name not in OPTIONAL_ENDPOINTS]
    if unknown:
        raise FormatError(
            f"include: unknown resource(s) {unknown} (known: {list(OPTIONAL_ENDPOINTS)})"
        )
    verify = bool(options.pop("verify_school", True))
    options.setdefault("school_id", school)
    with fetch_options.client(headers={"Accept": ACCEPT}, wait_hint=rate_limit_wait) as client:
        fetch = _Fetch(client, per_page, fetch_options.max_pages, url)
        if verify:
            fetch.check_school(school)
        for path in (*ENDPOINTS, *(OPTIONAL_ENDPOINTS[name] for name in include)):
            params: dict[str, Any] = {}
            if path in _DATED:
                params = {
                    "start_date": first.isoformat(),
                    "end_date": last.isoformat(),
                    **fetch_options.params,
                }
            fetch.endpoint(path, params)
    return fetch.pages
