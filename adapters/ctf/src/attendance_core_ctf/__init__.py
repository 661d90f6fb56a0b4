"""attendance-core adapter for DfE CTF / School Census attendance XML (``format="ctf-xml"``)."""

from __future__ import annotations

from .adapter import CtfAliases, CtfXmlAdapter, expand_marks

__all__ = ["CtfAliases", "CtfXmlAdapter", "expand_marks"]
