"""attendance-core adapter for Assembly Platform API JSON (format ``assembly-json``)."""

from .adapter import FIELDS, OPEN_END_DATES, AssemblyJsonAdapter

__all__ = ["FIELDS", "OPEN_END_DATES", "AssemblyJsonAdapter"]
