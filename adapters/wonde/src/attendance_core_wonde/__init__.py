"""attendance-core adapter for Wonde v1.0 JSON (format ``wonde-json``)."""

from .adapter import DEFAULT_ALIASES, OPEN_END_DATES, WondeJsonAdapter

__all__ = ["DEFAULT_ALIASES", "OPEN_END_DATES", "WondeJsonAdapter"]
