"""The documentation cannot drift from the code.

- every public name is in the API reference;
- the generated reference tables cover every code, band, rule and reason id (the build writes
  them from the data files; this checks the generator misses nothing);
- no code block in the docs escapes testing: Python is written as doctests (run by
  ``sphinx-build -b doctest``), TOML blocks parse, and every shell command shown is either an
  install/serve line or is run here and must exit 0.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import attendance_core as ac

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FENCE = re.compile(r"^(`{3,})(\S*)[^\n]*\n(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)

# shell lines shown for the reader to type but not run by the tests: installing and serving
NOT_RUN = ("pip install", "uvicorn ")


def _blocks(language: str) -> list[tuple[Path, str]]:
    found = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match.group(2) == language:
                found.append((page, match.group(3)))
    return found


def test_docs_exist() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    for page in ("index.md", "tutorial/first-steps.md", "reference/api.md"):
        assert page in names
    assert (DOCS / "conf.py").is_file()


@pytest.mark.parametrize("name", ac.__all__)
def test_public_name_is_in_the_api_reference(name: str) -> None:
    """Grouped by hand in reference/api.md, or listed by the generator under "Other names"."""
    api = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    page = api + _generator().api_more_page(api)
    pattern = rf"^\.\. auto(function|class|exception|module|data):: attendance_core\.{name}$"
    assert re.search(pattern, page, re.MULTILINE), f"{name} is missing from the API reference"


def test_api_reference_includes_the_generated_rest() -> None:
    api = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    assert "```{include} generated/api-more.md" in api


# Pages allowed plain ``python`` blocks, each with the reason. Keep this list empty: it names
# debts, and the test below fails once a listed page no longer needs its entry.
PYTHON_BLOCKS_ALLOWED: set[str] = set()


def test_python_is_only_written_as_doctests() -> None:
    pages = set()
    for language in ("python", "py", "pycon", "ipython"):
        for page, _text in _blocks(language):
            pages.add(page.relative_to(DOCS).as_posix())
    unexpected = pages - PYTHON_BLOCKS_ALLOWED
    assert not unexpected, f"{sorted(unexpected)}: write Python as {{doctest}} blocks so it runs"
    stale = {p for p in PYTHON_BLOCKS_ALLOWED if (DOCS / p).exists()} - pages
    assert not stale, f"{sorted(stale)} no longer needs its PYTHON_BLOCKS_ALLOWED entry"


@pytest.mark.parametrize(
    ("page", "text"), _blocks("toml"), ids=lambda v: v.name if isinstance(v, Path) else ""
)
def test_toml_blocks_parse(page: Path, text: str) -> None:
    tomllib.loads(text)


def _commands() -> list[tuple[str, str]]:
    commands = []
    for page, text in _blocks("console"):
        for line in text.splitlines():
            if line.startswith("$ "):
                commands.append((page.relative_to(DOCS).as_posix(), line[2:].strip()))
    return commands


COMMANDS = _commands()


def test_console_blocks_have_commands() -> None:
    assert COMMANDS
    for page, command in COMMANDS:
        runnable = command.startswith(("attendance-core ", "python examples/"))
        assert runnable or command.startswith(NOT_RUN), f"{page}: cannot test {command!r}"


@pytest.mark.parametrize(
    "command",
    [c for _, c in COMMANDS if not c.startswith(NOT_RUN)],
)
def test_console_command_runs(command: str, tmp_path: Path) -> None:
    # each command runs in a fresh folder holding what `attendance-core demo --exports samples`
    # writes, the sample files the pages' commands read
    ac.demo.write_exports(tmp_path / "samples")
    argv = shlex.split(command)
    if argv[0] == "attendance-core":
        argv = [sys.executable, "-m", "attendance_core", *argv[1:]]
    else:  # python examples/<script>.py ...
        argv = [sys.executable, str(REPO / argv[1]), *argv[2:]]
    result = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


# -- the generated reference tables ----------------------------------------------------------


def _generator():  # the docs extension, imported from its file (Sphinx not needed)
    path = DOCS / "_ext" / "generated_tables.py"
    spec = importlib.util.spec_from_file_location("generated_tables", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_code_table_lists_every_code_of_every_set() -> None:
    page = _generator().code_sets_page()
    for code_set in ac.code_sets().values():
        assert f"## `{code_set.id}`" in page
        for code in code_set.codes:
            cell = f"`` {code.code} ``" if "`" in code.code else f"`{code.code}`"
            assert f"| {cell} | {code.meaning} |" in page, (code_set.id, code.code)
        for reference in code_set.references:
            assert reference in page


def test_band_table_lists_every_band() -> None:
    page = _generator().band_schemes_page()
    for scheme in ac.band_schemes().values():
        for band in scheme.bands:
            assert f"| `{band.id}` | {band.label} |" in page


def test_policy_table_lists_every_rule_and_action() -> None:
    page = _generator().policies_page()
    for policy in ac.policies().values():
        assert f"## `{policy.id}`" in page
        for rule in policy.rules:
            assert f"| `{rule.id}`" in page
            assert f"`{rule.action}`" in page
    # the fixed action ids of the API contract are all produced by the bundled policy
    fixed = {
        "first_day_contact",
        "resolve_unexplained_absence",
        "notify_la_continuous_absence",
        "notify_la_illness_15_days",
        "inform_social_worker",
        "attendance_conversation",
        "attendance_meeting",
        "early_help_assessment",
        "review_support",
        "targeting_support_meeting",
        "escalate_virtual_school",
        "bring_forward_ehcp_review",
        "offer_support_before_enforcement",
        "consult_attendance_officer",
        "agree_with_social_worker",
        "notice_to_improve",
        "consider_penalty_notice",
    }
    actions = {rule.action for rule in ac.policies()["england-2024"].rules}
    assert fixed <= actions


def test_reason_table_lists_every_reason() -> None:
    page = _generator().reasons_page()
    for reason in ac.Reason:
        assert f"| `{reason.value}` | `Reason.{reason.name}` |" in page


def test_adapter_table_lists_every_installed_format() -> None:
    page = _generator().adapters_page()
    for name in ac.formats():
        assert f"| `{name}` |" in page


def test_cli_page_shows_every_subcommand() -> None:
    page = _generator().cli_page()
    for command in ("demo", "classify", "recommend", "report", "formats"):
        assert f"## `attendance-core {command}`" in page
