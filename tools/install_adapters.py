"""Install every MIS adapter distribution under adapters/ into the current environment.

    pip install . && python tools/install_adapters.py

The generic readers (CSV, Excel, Parquet) are part of attendance-core itself; the MIS adapters
(SIMS, Arbor, CTF, Wonde, Assembly, Ed-Fi) are plug-in distributions, each depending on the core
checked out here, which is not on a package index yet. So the core must be installed first, and
pip then finds it satisfied instead of looking for it on an index. tox passes ``--no-deps`` (its
test dependencies already hold what the adapters need).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def adapter_folders() -> list[Path]:
    """The adapter distributions: folders under adapters/ with their own pyproject.toml."""
    return sorted(p.parent for p in (ROOT / "adapters").glob("*/pyproject.toml"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    extra = [a for a in args if a in ("--no-deps", "--editable", "-e")]
    unknown = [a for a in args if a not in extra]
    if unknown:
        print(f"install_adapters: unknown option(s) {' '.join(unknown)}", file=sys.stderr)
        print("usage: python tools/install_adapters.py [--no-deps] [--editable]", file=sys.stderr)
        return 2
    if importlib.util.find_spec("attendance_core") is None:
        print("install_adapters: install the core first: pip install .", file=sys.stderr)
        return 1
    folders = adapter_folders()
    if not folders:
        return 0
    editable = "--editable" in extra or "-e" in extra
    targets: list[str] = []
    for folder in folders:
        targets += ["-e", str(folder)] if editable else [str(folder)]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet"]
    if "--no-deps" in extra:
        cmd.append("--no-deps")
    return subprocess.call([*cmd, *targets])


if __name__ == "__main__":
    raise SystemExit(main())
