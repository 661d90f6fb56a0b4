"""attendance-core adapter for SIMS-style XML attendance exports (``format="sims-xml"``)."""

from __future__ import annotations

from .adapter import SimsAliases, SimsXmlAdapter, load_symbols

__all__ = ["SimsAliases", "SimsXmlAdapter", "load_symbols"]
