"""attendance-core adapter for Arbor REST v2 attendance records (``format="arbor-json"``)."""

from __future__ import annotations

from .adapter import ArborJsonAdapter, MarkRules, parse_stamp

__all__ = ["ArborJsonAdapter", "MarkRules", "parse_stamp"]
