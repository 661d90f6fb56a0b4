"""Fetching a school's Wonde pages over HTTP (``ac.load("wonde://SCHOOL_ID", token=...)``).

Endpoints and paging are confirmed from Wonde's public clients (spec/mis-formats.md, Wonde):
``GET {base}/schools/{id}/students``, ``.../attendance-codes``, ``.../attendance/session``,
bearer token, body ``{"data": [...], "meta": {"pagination": {"next", "more", ...}}}``; the
client follows ``next`` (a full URL) while ``more`` is true, and only on the same host.
INFERRED: ``include=education_details`` to get the DfE UPN on students, and ``per_page``
(sent, 200 by default; not in the official clients) -- both options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attendance_core.errors import FormatError
from attendance_core.fetching import FETCH_OPTIONS as SHARED_OPTIONS
from attendance_core.fetching import FetchOptions

__all__ = ["DEFAULT_BASE_URL", "ENDPOINTS", "FETCH_OPTIONS", "TOKEN_ENV", "fetch_school"]

#: The UK / rest-of-world API host (AU/NZ and South Africa have their own: ``base_url=``).
DEFAULT_BASE_URL = "https://api.wonde.com/v1.0/"
#: Environment variable read when no ``token=`` is given.
TOKEN_ENV = "WONDE_TOKEN"  # noqa: S105 (a variable name, not a secret)
#: The per-school resources fetched, in this order (codes before marks, as the reader wants).
ENDPOINTS: tuple[str, ...] = ("students", "attendance-codes", "attendance/session")
#: Fetch options, taken out of the ``load`` options before the pages are read.
FETCH_OPTIONS = SHARED_OPTIONS | {"include"}


def _more(page: Mapping[str, Any]) -> str | None:
    meta = page.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, Mapping) else None
    if not isinstance(pagination, Mapping):
        return None
    nxt = pagination.get("next")
    if "more" in pagination and not pagination.get("more"):
        return None
    return nxt if isinstance(nxt, str) and nxt else None


def fetch_school(url: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of the school's students, attendance codes and session marks.

    Takes its options out of ``options`` (``token``, ``base_url``, ``per_page``, ``include``,
    ``params`` -- extra query parameters for the attendance endpoint such as a date range --,
    ``retries``, ``backoff``, ``max_wait``, ``timeout``, ``max_pages``); the rest stay for
    the reader.
    """
    fetch = FetchOptions.take(
        url, options, service="wonde", token_env=TOKEN_ENV, base_url=DEFAULT_BASE_URL, per_page=200
    )
    include = options.pop("include", "education_details")
    pages: list[dict[str, Any]] = []
    with fetch.client() as client:
        for endpoint in ENDPOINTS:
            params: dict[str, Any] = {"per_page": fetch.per_page}
            if endpoint == "students" and include:
                params["include"] = include
            if endpoint.startswith("attendance/"):
                params.update(fetch.params)
            next_url: str | None = client.url(f"schools/{fetch.school}/{endpoint}")
            count = 0
            while next_url is not None:
                body, _ = client.get(next_url, params)
                if not isinstance(body, Mapping) or "data" not in body:
                    raise FormatError(
                        f"wonde {endpoint}: the answer is not a Wonde page (no 'data')",
                        file=next_url.split("?", 1)[0],
                    )
                pages.append(dict(body))
                count += 1
                next_url = _more(body)
                params = {}  # the next link carries the query
                if next_url is not None and not client.same_host(next_url):
                    raise FormatError(
                        f"wonde {endpoint}: a next link to another host is not followed",
                        file=next_url.split("?", 1)[0],
                    )
                if count >= fetch.max_pages and next_url is not None:
                    raise FormatError(
                        f"wonde {endpoint}: more than {fetch.max_pages} pages (raise max_pages=)",
                        file=url,
                    )
    return pages
