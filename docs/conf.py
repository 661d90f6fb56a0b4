"""Sphinx configuration of the attendance-core documentation.

Build (warnings are errors, every cross-reference must resolve)::

    sphinx-build -n -W --keep-going -b html docs docs/_build/html
    sphinx-build -n -W --keep-going -b doctest docs docs/_build/doctest

The reference tables of codes, band schemes, policies, reason ids and adapters are written at
build time from the package's own data by ``_ext/generated_tables.py``, so they cannot drift.
Nothing here needs the network: there are no intersphinx mappings.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "attendance-core"
author = "attendance-core developers"
copyright = "attendance-core developers"
try:
    release = version("attendance-core")
except PackageNotFoundError:  # pragma: no cover - building from a bare checkout
    release = "0+unknown"
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "generated_tables",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# api-more.md is generated and included into reference/api.md, not a page of its own
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "reference/generated/api-more.md"]
language = "en"

# -- MyST -------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / napoleon -----------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = False
autodoc_default_options = {"members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- intersphinx: off-line by design ----------------------------------------------------------
# The build must work without the network, so no inventories are fetched. References to
# pandas, numpy and the standard library are left as plain text (see nitpick_ignore_regex).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
intersphinx_disabled_reftypes = ["*"]

# Nitpicky mode (-n) checks every reference; names from other projects cannot resolve without
# intersphinx, so they are listed here, and only they.
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(pd|pandas|np|numpy|npt|numpy\.typing|dt|datetime|os|io|pathlib|typing"
        r"|collections\.abc|enum|fractions|dateutil(\.\w+)*|attrs?|importlib(\.\w+)*|types"
        r"|jinja2|dask(\.\w+)*|distributed|tomllib|re|builtins|xml(\.\w+)*"
        r"|sa|sqlalchemy(\.\w+)*|fastapi(\.\w+)*|starlette(\.\w+)*)\..*",
    ),
    (
        r"py:.*",
        r"(Path|PathLike|BinaryIO|IO|Any|Iterable|Iterator|Mapping|Sequence|Callable"
        r"|ClassVar|Literal|Self|Fraction|Enum|StrEnum|IntEnum|Pattern|DataFrame|Series|Index"
        r"|ndarray|NDArray|date|datetime|timedelta|rrule|TextIO|Protocol|NoneType|Hashable"
        r"|MappingProxyType|Counter|Generator|Collection|MutableMapping|TypeAlias|Element"
        r"|Engine|URL|Connection|FastAPI)",
    ),
    (
        r"py:.*",
        r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|type|None"
        r"|Exception|ValueError|TypeError|KeyError|UserWarning|Warning|OSError)",
    ),
    # napoleon reads the first words of Register.school_sessions' docstring as a type
    # annotation-only aliases inside modules (e.g. ``QuarterKind``, ``SchemeRef``)
    (r"py:.*", r"(attendance_core\.)?(\w+\.)*[A-Z]\w*(Kind|Ref|Like|Spec)"),
]

# -- doctest ----------------------------------------------------------------------------------
doctest_global_setup = f"""
import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import attendance_core as ac

pd.set_option("display.width", 100)
pd.set_option("display.max_columns", 20)
pd.set_option("display.max_colwidth", 60)
REPO = Path({str(REPO)!r})
"""
doctest_default_flags = (
    __import__("doctest").ELLIPSIS
    | __import__("doctest").NORMALIZE_WHITESPACE
    | __import__("doctest").DONT_ACCEPT_TRUE_FOR_1
)
doctest_test_doctest_blocks = "default"

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "furo" if importlib.util.find_spec("furo") else "alabaster"
html_title = f"attendance-core {release}"
html_static_path: list[str] = []
