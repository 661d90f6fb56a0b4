"""Fetching pages straight from an MIS aggregator's API (Wonde, Assembly), for the adapters.

``ac.load("wonde://SCHOOL_ID", token=...)`` hands the URL to the adapter that declares the
scheme in its ``url_schemes``; the adapter's ``fetch`` uses :class:`ApiClient` to page through
the endpoints and returns the parsed pages, which its ``read`` then loads like pages saved to
disk. What is shared lives here:

* the token comes from the ``token=`` argument or an environment variable
  (:func:`resolve_token`); it travels only in the ``Authorization`` header and never appears in
  a message, a warning, an exception or a log line (URLs carry no token);
* every request has a timeout; HTTP 429 and 5xx answers and transport failures are retried
  with exponential backoff (``Retry-After`` honoured when given, else the service's own hint
  in the answer's body, e.g. Assembly's ``data.period``; capped), then a
  :class:`~attendance_core.FormatError` names the endpoint and the last status;
* other 4xx answers are a :class:`~attendance_core.FormatError` at once (401/403 say the token
  was refused, without showing it).

httpx is needed (``pip install ".[api]"`` from a checkout; the Wonde and Assembly adapter
distributions depend on it); it is imported only when a fetch starts.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import FormatError

__all__ = [
    "FETCH_OPTIONS",
    "ApiClient",
    "FetchOptions",
    "RetryPolicy",
    "resolve_token",
    "split_url",
]

#: Statuses worth another try: rate limited, or the server failed.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard a fetch tries: ``retries`` more attempts after the first, waiting
    ``backoff * 2**attempt`` seconds (plus up to 10 % jitter, at most ``max_wait``; a
    ``Retry-After`` header wins when shorter than ``max_wait``), each request bounded by
    ``timeout`` seconds."""

    retries: int = 4
    backoff: float = 1.0
    max_wait: float = 60.0
    timeout: float = 30.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RetryPolicy:
        """Pop ``retries``, ``backoff``, ``max_wait`` and ``timeout`` from ``options``."""
        base = cls()
        values = {
            name: options.pop(name, getattr(base, name))
            for name in ("retries", "backoff", "max_wait", "timeout")
        }
        policy = cls(
            retries=int(values["retries"]),
            backoff=float(values["backoff"]),
            max_wait=float(values["max_wait"]),
            timeout=float(values["timeout"]),
        )
        if policy.retries < 0 or policy.backoff < 0 or policy.timeout <= 0:
            raise FormatError("retries and backoff must be >= 0 and timeout > 0")
        return policy


def resolve_token(token: Any, env: str, service: str) -> str:
    """The API token: the ``token`` argument, else the environment variable ``env``; a
    :class:`~attendance_core.FormatError` (naming the variable, never a value) when neither
    gives one."""
    value = token if token is not None else os.environ.get(env)
    if not isinstance(value, str) or not value.strip():
        raise FormatError(f"{service}: no API token: pass token=... or set {env}")
    return value.strip()


def split_url(url: str, scheme: str) -> str:
    """The id after ``scheme://`` (``wonde://A123`` -> ``A123``); a FormatError when empty."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    ident = rest.strip().strip("/")
    if not ident or "/" in ident:
        raise FormatError(f"{scheme}:// URL needs one school id: {scheme}://SCHOOL_ID", file=url)
    return ident


#: The fetch options every API adapter takes out of the ``load`` options before its pages are
#: read (an adapter adds its own, e.g. ``include``).
FETCH_OPTIONS = frozenset(
    {
        "token",
        "base_url",
        "per_page",
        "params",
        "retries",
        "backoff",
        "max_wait",
        "timeout",
        "transport",
        "max_pages",
    }
)


@attrs.frozen(kw_only=True)
class FetchOptions:
    """The options of :data:`FETCH_OPTIONS`, taken out of the ``load`` options by :meth:`take`:
    the school id of the URL, the token, how hard to try, where, how many a page, extra query
    parameters (``params``), the most pages followed and the transport (tests)."""

    service: str
    school: str
    token: str
    policy: RetryPolicy
    base_url: str
    per_page: int
    params: dict[str, Any]
    max_pages: int
    transport: Any

    @classmethod
    def take(
        cls,
        url: str,
        options: dict[str, Any],
        *,
        service: str,
        token_env: str,
        base_url: str,
        per_page: int,
    ) -> FetchOptions:
        """Pop the shared fetch options from ``options`` (``base_url`` and ``per_page`` are
        the service's defaults); the rest stay for the adapter and its reader."""
        return cls(
            service=service,
            school=split_url(url, service),
            token=resolve_token(options.pop("token", None), token_env, service),
            policy=RetryPolicy.from_options(options),
            base_url=str(options.pop("base_url", base_url)),
            per_page=int(options.pop("per_page", per_page)),
            params=dict(options.pop("params", None) or {}),
            max_pages=int(options.pop("max_pages", 10_000)),
            transport=options.pop("transport", None),
        )

    def client(self, **kwargs: Any) -> ApiClient:
        """An :class:`ApiClient` for these options (``kwargs``: headers, wait_hint)."""
        return ApiClient(
            service=self.service,
            base_url=self.base_url,
            token=self.token,
            policy=self.policy,
            transport=self.transport,
            **kwargs,
        )


class ApiClient:
    """GET JSON with retries, for one service and one token.

    ``transport`` (an httpx transport) and ``sleep`` are for tests. ``wait_hint`` reads the
    seconds to wait from a 429/5xx answer's parsed JSON body when it has no ``Retry-After``
    header (None: use the backoff). The token is kept only inside the httpx client's headers.
    """

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        token: str,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        wait_hint: Callable[[Any], float | None] | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx is a dependency of the API adapters
            raise FormatError(
                f"{service}: fetching needs httpx (pip install httpx; from a checkout, "
                "pip install '.[api]')"
            ) from None
        self._httpx = httpx
        self.service = service
        self.base_url = base_url.rstrip("/") + "/"
        self.host = urlsplit(self.base_url).netloc
        self.policy = policy
        self._sleep = sleep
        self._wait_hint = wait_hint
        self.requests = 0
        self._client = httpx.Client(
            headers={**(headers or {}), "Authorization": f"Bearer {token}"},
            timeout=policy.timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def url(self, path: str) -> str:
        """``path`` joined to the base URL."""
        return self.base_url + path.lstrip("/")

    def same_host(self, url: str) -> bool:
        """Whether ``url`` is on the base URL's host (a next link elsewhere is not followed)."""
        return urlsplit(url).netloc == self.host

    def _where(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{self.service} {parts.path}"

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.policy.max_wait)
            except ValueError:
                pass
        wait = self.policy.backoff * (2**attempt)
        return float(min(wait * (1 + random.random() / 10), self.policy.max_wait))

    def _hinted(self, response: Any) -> str | None:
        try:
            hint = self._wait_hint(response.json()) if self._wait_hint is not None else None
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            return None
        return None if hint is None else str(hint)

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """(parsed JSON body, response headers) of a GET, retried per the policy."""
        httpx = self._httpx
        last = "no answer"
        for attempt in range(self.policy.retries + 1):
            retry_after: str | None = None
            self.requests += 1
            try:
                # httpx replaces a URL's query with params=: a next link keeps its own
                response = self._client.get(url, params=dict(params) if params else None)
            except httpx.TimeoutException:
                last = f"timed out after {self.policy.timeout:g} s"
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 300:
                    try:
                        return response.json(), response.headers
                    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                        raise FormatError(
                            f"{self._where(url)}: the answer is not JSON (HTTP {status})",
                            file=url.split("?", 1)[0],
                        ) from None
                if status in (401, 403):
                    raise FormatError(
                        f"{self._where(url)}: HTTP {status}: the token was refused "
                        "(wrong token, or a scope not granted)",
                        file=url.split("?", 1)[0],
                    )
                if status not in RETRY_STATUSES:
                    raise FormatError(
                        f"{self._where(url)}: HTTP {status}", file=url.split("?", 1)[0]
                    )
                last = f"HTTP {status}"
                retry_after = response.headers.get("Retry-After")
                if retry_after is None and self._wait_hint is not None:
                    retry_after = self._hinted(response)
            if attempt < self.policy.retries:
                self._sleep(self._wait(attempt, retry_after))
        raise FormatError(
            f"{self._where(url)}: gave up after {self.policy.retries + 1} attempt(s): {last}",
            file=url.split("?", 1)[0],
        )
