"""``python -m attendance_core``: the same command line as ``attendance-core``."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
