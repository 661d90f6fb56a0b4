"""Install every adapter distribution under adapters/ into the current environment.

tox runs this after installing attendance-core itself, with --no-deps so that pip never looks
for attendance-core on a package index: each adapter depends on the core checked out here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    folders = sorted(p.parent for p in (ROOT / "adapters").glob("*/pyproject.toml"))
    if not folders:
        return 0
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        *[str(f) for f in folders],
    ]
    return subprocess.call(cmd)


if __name__ == "__main__":
    raise SystemExit(main())
