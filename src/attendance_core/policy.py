"""Escalation policies as data: rules an attendance officer can read, edit and validate.

A policy is a TOML file (the bundled ones are ``data/policies/england-2024.toml`` and
``data/policies/county-five-band.toml``). It names the band scheme its conditions use and holds
one ``[[rule]]`` table per rule::

    [[rule]]
    id = "attendance_meeting"                # unique id of the rule (NextStep.rule)
    action = "attendance_meeting"            # action id (NextStep.action)
    label = "an attendance meeting"          # how the action reads in a sentence (optional)
    stage = "LISTEN_AND_UNDERSTAND"          # a Stage name
    lead = "attendance_lead"                 # a role id
    due = 5                                  # weekdays after as_of
    when = ["band is persistent_absence"]    # all must hold
    compulsory_age = false                   # true: only pupils of compulsory school age (†)
    requires = []                            # plan terms that must hold
    unless = []                              # plan terms that must not hold
    reason = "Attendance this year is {attendance_rate}, which is persistent absence."
    evidence = ["attendance_rate", "band"]   # figures shown with the step

**Conditions** (``when``, and after ``if`` in a gate) are short phrases over named figures:

- ``<figure> <op> <number>`` with ``op`` one of ``>= > <= < == !=``:
  ``unauthorised_sessions_10_weeks >= 10``;
- a yes/no figure, or ``not`` one: ``holiday_only``, ``not holiday_only``;
- a band: ``band is persistent_absence``, ``band is persistent_absence or worse``,
  ``band is at_risk_of_persistent_absence or better``, ``band is worse than
  band_4_weeks_ago``, ``band is better than band_4_weeks_ago`` (band ids of the policy's
  scheme; "or worse" is the band and every band after it in scheme order);
- cohort flags from the pupils table: ``flagged cin or cp or cic``, ``not flagged ehcp``.

**Gates**: ``compulsory_age = true`` marks a † rule. ``requires`` and ``unless`` list plan terms
(:data:`PLAN_TERMS`, decided from the action plans passed to ``recommend``), each optionally
followed by ``if <condition>``: ``"social_worker_agreement_recorded if flagged cin or cp or
cic"``. When a rule's conditions hold but a gate does not, the rule is *withheld*; a rule that
lists it in ``explain_withheld`` says in its step's ``note`` (for staff) what is still missing.

``each = "run"`` evaluates a rule once per run of qualifying days (figures ``run_*``) instead of
once per enrolment. ``once = "run"`` or ``once = "academic_year"`` marks a duty done once: a
record of it (history event or ``COMPLETED`` item) dated within the run, or within the academic
year of ``as_of``, keeps it quiet for the rest of that run or year, instead of the usual 30
school days. ``reason`` is one plain-English sentence a parent could read; ``{figure}``
placeholders are filled with the figure written for people (percentages truncated to one
decimal, dates, days). The step's evidence is its ``evidence`` list and its reason's figures.

The national framework's numbers (improvement period of 3 to 6 weeks, two penalty notices in
three years, 28 days to pay, …) are the policy's ``[framework]`` table (:class:`Framework`).

Validation on load raises :class:`~attendance_core.errors.PolicyError` naming the file, the rule
and the field. Enforcement rules (stage ``ENFORCE``) must be gated on compulsory school age,
must require the social worker's agreement for a child with a social worker, and must either
follow support (require one of :data:`SUPPORT_TERMS`) or be the holiday route
(``holiday_only`` in ``when``): support before sanction is checked when the policy is read, not
left to the file's author. A rule acting on a notice already issued (requiring
``penalty_notice_unpaid``) is exempt: the LA must prosecute or withdraw whatever the pupil's age.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

import attrs

from . import _pupils
from ._data import bundled, by_id, resolve, table
from .bands import DEFAULT_SCHEME, BandScheme, band_scheme
from .errors import PolicyError, SchemeError

__all__ = [
    "FIGURES",
    "FLAGS",
    "PLAN_TERMS",
    "ROLES",
    "BandCondition",
    "BandMove",
    "Compare",
    "Condition",
    "Figure",
    "Flagged",
    "Framework",
    "PlanGate",
    "Policy",
    "Rule",
    "Stage",
    "Truth",
    "load_policy",
    "parse_condition",
    "policies",
    "resolve_policy",
]


class Stage(StrEnum):
    """The DfE stages of support, in order: each member compares by its position.

    Members are strings equal to their names (``Stage.MONITOR == "MONITOR"``), so frames and
    CSV files show the name; ``<`` and ``sorted`` follow the stage order, not the alphabet.
    """

    EXPECT = "EXPECT"
    MONITOR = "MONITOR"
    LISTEN_AND_UNDERSTAND = "LISTEN_AND_UNDERSTAND"
    FACILITATE_SUPPORT = "FACILITATE_SUPPORT"
    FORMALISE_SUPPORT = "FORMALISE_SUPPORT"
    ENFORCE = "ENFORCE"

    @property
    def order(self) -> int:
        """Position in the stage order (EXPECT = 0 … ENFORCE = 5)."""
        return _STAGE_ORDER[self.value]

    @property
    def label(self) -> str:
        """The stage as the DfE guidance writes it ("Listen and understand")."""
        return self.value.replace("_", " ").capitalize()

    def _cmp(self, other: object, op: Callable[[int, int], bool]) -> bool:
        if isinstance(other, Stage):
            return op(self.order, other.order)
        return NotImplemented  # type: ignore[no-any-return]

    def __lt__(self, other: object) -> bool:  # type: ignore[override,unused-ignore]
        return self._cmp(other, operator.lt)

    def __le__(self, other: object) -> bool:  # type: ignore[override,unused-ignore]
        return self._cmp(other, operator.le)

    def __gt__(self, other: object) -> bool:  # type: ignore[override,unused-ignore]
        return self._cmp(other, operator.gt)

    def __ge__(self, other: object) -> bool:  # type: ignore[override,unused-ignore]
        return self._cmp(other, operator.ge)

    __hash__ = str.__hash__


_STAGE_ORDER = {name: i for i, name in enumerate(Stage.__members__)}

#: Role ids a step's ``lead`` may take (a policy may add its own with ``roles = [...]``).
ROLES: tuple[str, ...] = (
    "form_tutor",
    "attendance_lead",
    "senco",
    "designated_safeguarding_lead",
    "attendance_officer",
    "social_worker",
    "virtual_school",
    "early_help",
)

#: Cohort flags a condition may name (boolean columns of the pupils table).
FLAGS: tuple[str, ...] = _pupils.FLAGS

FigureKind = Literal[
    "count",
    "days",
    "rate",
    "bool",
    "band",
    "date",
    "dates",
    "age",
    "number",
    "text",
    "ordinal",
    "mapping",
]


@attrs.frozen
class Figure:
    """A named figure a condition, a reason or the evidence can use.

    ``kind`` decides how it compares and how it is written for people; ``axis`` is
    ``"enrolment"`` (one value per enrolment) or ``"run"`` (one per run of qualifying days).
    """

    name: str
    kind: FigureKind
    axis: Literal["enrolment", "run"]
    description: str


def _figures() -> dict[str, Figure]:
    """The figures of ``data/vocabulary/figures.toml``, in the file's order; a figure named
    ``run_*`` has one value per run of qualifying days."""
    rows = table("vocabulary", "figures.toml")["figure"]
    kinds = get_args(FigureKind)
    figures: dict[str, Figure] = {}
    for row in rows:
        name, kind = row["name"], row["kind"]
        if kind not in kinds or name in figures:
            raise PolicyError(f"figures.toml: figure {name!r} has kind {kind!r} or is repeated")
        axis: Literal["enrolment", "run"] = "run" if name.startswith("run_") else "enrolment"
        figures[name] = Figure(name, kind, axis, row["description"])
    return figures


#: The figures of the condition vocabulary, computed for every enrolment at once.
FIGURES: Mapping[str, Figure] = _figures()


@attrs.frozen
class PlanTerm:
    """A fact read from the action plans, with the words used when it is missing."""

    name: str
    description: str
    missing: str
    present: str


#: Plan terms usable in ``requires`` / ``unless``. ``missing`` completes "… still needs: " and
#: ``present`` completes "… is held back because ".
PLAN_TERMS: Mapping[str, PlanTerm] = {
    t.name: t
    for t in (
        PlanTerm(
            "support_recorded",
            "a support item is recorded for the pupil (any status)",
            "support to be recorded on the pupil's plan",
            "support is already recorded on the pupil's plan",
        ),
        PlanTerm(
            "support_not_worked",
            "a support_not_engaged or support_not_worked history event, or a COMPLETED support "
            "item whose success measure is not met or whose attendance since is no better than "
            "before (an OVERDUE item alone is not enough: the delay may be the school's)",
            "support to be offered and shown not to work or not to be taken up",
            "support has been offered and has not worked",
        ),
        PlanTerm(
            "consultation_recorded",
            "an attendance_officer_consulted event or a COMPLETED item answering "
            "consult_attendance_officer",
            "the consultation with the attendance officer to be recorded",
            "the consultation with the attendance officer is recorded",
        ),
        PlanTerm(
            "social_worker_agreement_recorded",
            "a social_worker_agreed event or a COMPLETED item answering agree_with_social_worker",
            "the social worker's agreement to be recorded",
            "the social worker's agreement is recorded",
        ),
        PlanTerm(
            "notice_to_improve_recent",
            "a notice to improve issued (or open) within the last 10 school weeks",
            "a notice to improve issued in the last 10 school weeks",
            "a notice to improve was issued in the last 10 school weeks",
        ),
        PlanTerm(
            "notice_to_improve_period_passed",
            "the latest notice to improve (a notice_to_improve event, or a COMPLETED item with "
            "its due date as until) has an improvement period ended before as_of (never "
            "before 3 weeks after issue)",
            "a notice to improve whose improvement period has ended",
            "the improvement period of a notice to improve has ended",
        ),
        PlanTerm(
            "notice_to_improve_not_improved",
            "the latest notice to improve's improvement period has ended (never before 3 weeks "
            "after issue) and the pupil had a session coded G, N, O or U during it",
            "a notice to improve whose improvement period has ended without improvement",
            "attendance did not improve during a notice to improve's improvement period",
        ),
        PlanTerm(
            "penalty_notice_limit_reached",
            "as many penalty notices counted as the framework allows (2 in three years)",
            "the limit of penalty notices to have been reached",
            "no further penalty notice can be issued within three years of the first",
        ),
        PlanTerm(
            "penalty_notice_unpaid",
            "a penalty notice is unpaid: outcome unpaid, or no outcome 28 days after its "
            "receipt (2 working days after issue), and no prosecution recorded since",
            "an unpaid penalty notice",
            "a penalty notice is unpaid",
        ),
        PlanTerm(
            "penalty_notice_recorded",
            "a COMPLETED item answering consider_penalty_notice",
            "a penalty notice to have been considered and recorded",
            "a penalty notice has been considered and recorded",
        ),
    )
}

#: Plan terms that show support came before an enforcement rule.
SUPPORT_TERMS = (
    "support_not_worked",
    "notice_to_improve_period_passed",
    "notice_to_improve_not_improved",
    "penalty_notice_recorded",
    "penalty_notice_limit_reached",
)
#: Plan terms of a notice already issued: a rule requiring one acts on that notice (the LA's
#: duty to prosecute or withdraw an unpaid penalty notice), whatever the pupil's age now.
ON_RECORD_TERMS = ("penalty_notice_unpaid",)
SOCIAL_WORKER_FLAGS = frozenset({"cin", "cp", "cic"})


# ----------------------------------------------------------------------------- conditions
@attrs.frozen
class Compare:
    """``<figure> <op> <number>``."""

    figure: str
    op: str
    value: float
    text: str


@attrs.frozen
class Truth:
    """A yes/no figure, or its negation."""

    figure: str
    negate: bool
    text: str


@attrs.frozen
class BandCondition:
    """``<band figure> is <band> [or worse | or better]``: ``bands`` are the ids that satisfy it."""

    figure: str
    bands: tuple[str, ...]
    text: str


@attrs.frozen
class BandMove:
    """``<band figure> is worse|better than <band figure>`` (both bands must be known)."""

    figure: str
    direction: Literal["worse", "better"]
    other: str
    text: str


@attrs.frozen
class Flagged:
    """``[not] flagged f1 or f2 …``: holds when any flag is set (or, negated, none is)."""

    flags: tuple[str, ...]
    negate: bool
    text: str


Condition = Compare | Truth | BandCondition | BandMove | Flagged

OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMERIC_KINDS = ("count", "days", "rate", "number")
_COMPARE = re.compile(r"^([a-z_0-9]+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)$")
_BAND_IS = re.compile(r"^([a-z_0-9]+)\s+is\s+([a-z_0-9\-]+)(\s+or\s+(worse|better))?$")
_BAND_MOVE = re.compile(r"^([a-z_0-9]+)\s+is\s+(worse|better)\s+than\s+([a-z_0-9]+)$")
_FLAGGED = re.compile(r"^(not\s+)?flagged\s+([a-z_]+(?:\s+or\s+[a-z_]+)*)$")
_TRUTH = re.compile(r"^(not\s+)?([a-z_0-9]+)$")


def parse_condition(text: str, scheme: BandScheme) -> Condition:
    """Read one condition phrase; ``ValueError`` says what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a condition must be text (got {text!r})")
    flat = " ".join(text.strip().split())
    if not flat:
        raise ValueError("empty condition")
    m = _COMPARE.match(flat)
    if m:
        name, op, number = m.groups()
        fig = _figure(name)
        if fig.kind not in _NUMERIC_KINDS:
            raise ValueError(f"{name!r} is a {fig.kind} figure and cannot be compared with {op}")
        return Compare(name, op, float(number), flat)
    m = _BAND_MOVE.match(flat)
    if m:
        name, direction, other = m.groups()
        for n in (name, other):
            if _figure(n).kind != "band":
                raise ValueError(f"{n!r} is not a band figure")
        return BandMove(name, "worse" if direction == "worse" else "better", other, flat)
    m = _FLAGGED.match(flat)
    if m:
        flags = tuple(f.strip() for f in m.group(2).split(" or "))
        for f in flags:
            if f not in FLAGS:
                raise ValueError(f"unknown flag {f!r}; known: {', '.join(FLAGS)}")
        return Flagged(flags, bool(m.group(1)), flat)
    m = _BAND_IS.match(flat)
    if m:
        name, band, _, direction = m.groups()
        if _figure(name).kind != "band":
            raise ValueError(f"{name!r} is not a band figure")
        if band not in scheme.band_ids:
            raise ValueError(
                f"unknown band {band!r} in scheme {scheme.id!r}; known: "
                f"{', '.join(scheme.band_ids)}"
            )
        ids = scheme.band_ids
        if direction == "worse":
            bands = scheme.worse_or_equal(band)
        elif direction == "better":
            bands = ids[: ids.index(band) + 1]
        else:
            bands = (band,)
        return BandCondition(name, tuple(bands), flat)
    m = _TRUTH.match(flat)
    if m:
        name = m.group(2)
        fig = _figure(name)
        if fig.kind != "bool":
            raise ValueError(
                f"{name!r} is a {fig.kind} figure: compare it (e.g. '{name} >= 1')"
                if fig.kind in _NUMERIC_KINDS
                else f"{name!r} is a {fig.kind} figure, not a yes/no figure"
            )
        return Truth(name, bool(m.group(1)), flat)
    raise ValueError(
        f"cannot read condition {flat!r}; write '<figure> >= <number>', '<yes/no figure>', "
        "'band is <band> [or worse|or better]' or 'flagged <flag> [or <flag>]'"
    )


def _figure(name: str) -> Figure:
    try:
        return FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}") from None


def condition_figures(cond: Condition) -> tuple[str, ...]:
    """The figures a condition reads."""
    if isinstance(cond, BandMove):
        return (cond.figure, cond.other)
    if isinstance(cond, Flagged):
        return ()
    return (cond.figure,)


@attrs.frozen
class PlanGate:
    """A plan term that must hold (``requires``) or must not (``unless``), optionally only
    ``if`` a condition holds."""

    term: str
    condition: Condition | None
    text: str


def _parse_gate(text: str, scheme: BandScheme) -> PlanGate:
    if not isinstance(text, str):
        raise ValueError(f"a plan term must be text (got {text!r})")
    flat = " ".join(text.strip().split())
    term, _, cond = flat.partition(" if ")
    term = term.strip()
    if term not in PLAN_TERMS:
        raise ValueError(f"unknown plan term {term!r}; known: {', '.join(PLAN_TERMS)}")
    return PlanGate(term, parse_condition(cond, scheme) if cond else None, flat)


# ----------------------------------------------------------------------------------- rules
@attrs.frozen(kw_only=True)
class Rule:
    """One rule of a policy: when it fires, which step it gives, and why."""

    id: str
    action: str
    stage: Stage
    lead: str
    due: int
    when: tuple[Condition, ...]
    reason: str
    label: str
    evidence: tuple[str, ...] = ()
    compulsory_age: bool = False
    requires: tuple[PlanGate, ...] = ()
    unless: tuple[PlanGate, ...] = ()
    each: Literal["enrolment", "run"] = "enrolment"
    explain_withheld: tuple[str, ...] = ()
    description: str = ""
    once: Literal["run", "academic_year"] | None = None

    @property
    def shown(self) -> tuple[str, ...]:
        """The figures the step shows: its ``evidence`` list and its reason's placeholders
        (the figures a condition only reads are not shown, so a reason and its evidence can
        cite a period's sessions and nothing earlier)."""
        names = [*self.evidence, *_template_fields(self.reason)]
        return tuple(dict.fromkeys(n for n in names if n in FIGURES))

    @property
    def figures(self) -> tuple[str, ...]:
        """Every figure the rule reads or shows, in first-use order."""
        names: list[str] = []
        for cond in self.when:
            names.extend(condition_figures(cond))
        for gate in (*self.requires, *self.unless):
            if gate.condition is not None:
                names.extend(condition_figures(gate.condition))
        names.extend(self.evidence)
        names.extend(_template_fields(self.reason))
        return tuple(dict.fromkeys(n for n in names if n in FIGURES))


_RULE_FIELDS = {
    "id",
    "action",
    "label",
    "stage",
    "lead",
    "due",
    "when",
    "reason",
    "evidence",
    "compulsory_age",
    "requires",
    "unless",
    "each",
    "explain_withheld",
    "description",
    "once",
}
_POLICY_FIELDS = {"id", "title", "description", "scheme", "roles", "rule", "source", "framework"}
_ID = re.compile(r"^[a-z][a-z0-9_\-]*$")


def _template_fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


@attrs.frozen(kw_only=True)
class Framework:
    """The national framework's numbers a policy decides with (its ``[framework]`` table).

    The defaults are the 2024 national framework for penalty notices (dfe-rules.md §4) and the
    statutory guidance; an LA's policy file may change any of them.
    """

    #: The shortest and longest improvement period of a notice to improve, in weeks. A notice
    #: without ``until`` gets the shortest; one outside the range is kept with a warning, and
    #: its period never ends before the shortest has passed.
    improvement_period_weeks: tuple[int, int] = (3, 6)
    #: penalty notices per child and parent within ``penalty_notice_years``
    penalty_notice_limit: int = 2
    penalty_notice_years: int = 3
    #: Notices issued before this date do not count toward the limit (None, the default, means
    #: all count, as rulings.md 8 says; the framework's text on notices from before 19 August
    #: 2024 was not found).
    count_penalty_notices_from: dt.date | None = None
    #: days to pay, beginning with the day of receipt; receipt is taken as this many working
    #: days after issue
    penalty_notice_payment_days: int = 28
    penalty_notice_receipt_working_days: int = 2
    #: school days a COMPLETED plan item (or an answering history event) keeps its step quiet
    completed_suppresses_days: int = 30
    #: school days after completed support before attendance since can show it did not work
    support_check_min_days: int = 15
    #: school days within which an N must be resolved
    unexplained_resolve_days: int = 5
    #: school weeks (on the school's calendar) a notice to improve counts as recent
    notice_to_improve_recent_weeks: int = 10

    @classmethod
    def from_dict(cls, data: Any, origin: str) -> Framework:
        """Read the ``[framework]`` table; :class:`PolicyError` names the field."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise PolicyError(f"{origin}: field 'framework' must be a table")
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(
                f"{origin}: framework: unknown field(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        values: dict[str, Any] = {}
        for name, value in data.items():
            where = f"{origin}: framework: field {name!r}"
            if name == "improvement_period_weeks":
                if (
                    not isinstance(value, list)
                    or len(value) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                    or not 1 <= value[0] <= value[1]
                ):
                    raise PolicyError(f"{where}: must be [shortest, longest] weeks, e.g. [3, 6]")
                values[name] = (value[0], value[1])
            elif name == "count_penalty_notices_from":
                day = value.date() if isinstance(value, dt.datetime) else value
                if not isinstance(day, dt.date):
                    raise PolicyError(f"{where}: must be a date such as 2024-08-19")
                values[name] = day
            else:
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise PolicyError(f"{where}: must be a whole number (got {value!r})")
                values[name] = value
        return cls(**values)


@attrs.frozen(kw_only=True)
class Policy:
    """A named set of rules evaluated by :func:`~attendance_core.recommend`.

    Build one with :func:`load_policy` (a TOML file), :meth:`from_dict`, or pick a bundled one
    by id from :func:`policies`.
    """

    id: str
    title: str = ""
    description: str = ""
    scheme: BandScheme
    rules: tuple[Rule, ...]
    roles: tuple[str, ...] = ROLES
    source: str = "<dict>"
    framework: Framework = attrs.field(factory=Framework)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        return by_id(self.rules, rule_id)

    @property
    def actions(self) -> tuple[str, ...]:
        """The action ids the policy can give, in rule order, each once."""
        return tuple(dict.fromkeys(r.action for r in self.rules))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "<dict>") -> Policy:
        """Build and validate a policy from a mapping in the TOML layout."""
        if not isinstance(data, Mapping):
            raise PolicyError(f"{origin}: a policy must be a table of fields")
        unknown = sorted(set(data) - _POLICY_FIELDS)
        if unknown:
            raise PolicyError(f"{origin}: unknown field(s) {', '.join(unknown)}")
        pid = data.get("id")
        if not isinstance(pid, str) or not pid.strip():
            raise PolicyError(f"{origin}: field 'id' must be non-empty text")
        try:
            scheme = band_scheme(data.get("scheme", DEFAULT_SCHEME))
        except SchemeError as exc:
            raise PolicyError(f"{origin}: field 'scheme': {exc}") from exc
        extra_roles = data.get("roles", [])
        if not isinstance(extra_roles, list) or not all(isinstance(r, str) for r in extra_roles):
            raise PolicyError(f"{origin}: field 'roles' must be a list of role ids")
        roles = tuple(dict.fromkeys([*ROLES, *extra_roles]))
        raw_rules = data.get("rule")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise PolicyError(f"{origin}: a policy needs at least one [[rule]] table")
        rules: list[Rule] = []
        for n, raw in enumerate(raw_rules, start=1):
            rules.append(_rule(raw, n, scheme, roles, origin))
        ids = [r.id for r in rules]
        for r in rules:
            if ids.count(r.id) > 1:
                raise PolicyError(f"{origin}: rule {r.id!r}: field 'id': used by two rules")
            for other in r.explain_withheld:
                if other not in ids:
                    raise PolicyError(
                        f"{origin}: rule {r.id!r}: field 'explain_withheld': no rule {other!r}"
                    )
        framework = Framework.from_dict(data.get("framework"), origin)
        return cls(
            framework=framework,
            id=pid.strip(),
            title=str(data.get("title", "")),
            description=str(data.get("description", "")),
            scheme=scheme,
            rules=tuple(rules),
            roles=roles,
            source=origin,
        )

    def to_frame(self) -> Any:
        """The rules as a DataFrame (one row per rule), for reading or printing."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "rule": r.id,
                    "action": r.action,
                    "stage": r.stage,
                    "lead": r.lead,
                    "due": r.due,
                    "when": " and ".join(c.text for c in r.when),
                    "compulsory_age": r.compulsory_age,
                    "requires": "; ".join(g.text for g in r.requires),
                    "unless": "; ".join(g.text for g in r.unless),
                }
                for r in self.rules
            ]
        )


def _as_list(value: Any) -> Any:
    """A rule field that may be one string or a list of them."""
    return [value] if isinstance(value, str) else value


def _parsed_list(
    raw: Mapping[str, Any],
    key: str,
    parse: Callable[[Any], Any],
    fail: Callable[[str, str], PolicyError],
    what: str,
) -> tuple[Any, ...]:
    """The field ``key`` (one string or a list) parsed item by item; a parse error names it."""
    value = _as_list(raw.get(key, []))
    if not isinstance(value, list):
        raise fail(key, f"must be a list of {what}")
    parsed = []
    for text in value:
        try:
            parsed.append(parse(text))
        except ValueError as exc:
            raise fail(key, str(exc)) from None
    return tuple(parsed)


def _names(
    raw: Mapping[str, Any],
    key: str,
    fail: Callable[[str, str], PolicyError],
    what: str,
    known: Callable[[str], bool] | None = None,
) -> tuple[str, ...]:
    """The field ``key`` as a list of names, each ``known`` when a check is given."""
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise fail(key, f"must be a list of {what}")
    for name in value:
        if known is not None and not known(name):
            raise fail(key, f"unknown figure {name!r}")
    return tuple(value)


def _one_of(
    raw: Mapping[str, Any],
    key: str,
    options: tuple[Any, ...],
    fail: Callable[[str, str], PolicyError],
) -> Any:
    """The field ``key`` (default: the first option), one of ``options``."""
    value = raw.get(key, options[0])
    if value not in options:
        allowed = " or ".join(repr(o) for o in options if o is not None)
        raise fail(key, f"must be {allowed} (got {value!r})")
    return value


def _is_figure(name: str) -> bool:
    return name in FIGURES or name in FLAGS


def _rule_reason(raw: Mapping[str, Any], fail: Callable[[str, str], PolicyError]) -> str:
    """The reason template, checked: a sentence whose fields are all figures."""
    reason = raw["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise fail("reason", "must be a non-empty sentence")
    try:
        fields = _template_fields(reason)
    except ValueError as exc:
        raise fail("reason", f"bad template ({exc})") from None
    for name in fields:
        if not _is_figure(name):
            raise fail("reason", f"unknown figure {{{name}}}")
    return " ".join(reason.split())


def _rule_text(
    raw: Mapping[str, Any], key: str, default: str, fail: Callable[[str, str], PolicyError]
) -> str:
    """The text field ``key`` (``default`` when absent)."""
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise fail(key, "must be text")
    return value


def _rule(raw: Any, n: int, scheme: BandScheme, roles: tuple[str, ...], origin: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{origin}: rule {n} is not a table")
    rid = raw.get("id")
    where = f"{origin}: rule {rid!r}" if isinstance(rid, str) and rid else f"{origin}: rule {n}"

    def fail(field: str, message: str) -> PolicyError:
        return PolicyError(f"{where}: field {field!r}: {message}")

    unknown = sorted(set(raw) - _RULE_FIELDS)
    if unknown:
        raise fail(unknown[0], "unknown field" + (f" (known: {', '.join(sorted(_RULE_FIELDS))})"))
    for key in ("id", "action", "stage", "lead", "due", "when", "reason"):
        if key not in raw:
            raise fail(key, "missing")
    for key in ("id", "action"):
        if not isinstance(raw[key], str) or not _ID.match(raw[key]):
            raise fail(key, f"must be a lower-case id (got {raw[key]!r})")
    stage_name = raw["stage"]
    if not isinstance(stage_name, str) or stage_name.strip().upper() not in Stage.__members__:
        raise fail("stage", f"{stage_name!r} is not one of {', '.join(Stage.__members__)}")
    lead = raw["lead"]
    if lead not in roles:
        raise fail(
            "lead",
            f"{lead!r} is not a role; known: {', '.join(roles)} (add others "
            "with the policy's 'roles' list)",
        )
    due = raw["due"]
    if not isinstance(due, int) or isinstance(due, bool) or not 0 <= due <= 260:
        raise fail("due", f"must be a whole number of weekdays from 0 to 260 (got {due!r})")
    if not isinstance(_as_list(raw["when"]), list):
        raise fail("when", "must be a list of conditions")
    compulsory = raw.get("compulsory_age", False)
    if not isinstance(compulsory, bool):
        raise fail("compulsory_age", f"must be true or false (got {compulsory!r})")
    once = _one_of(raw, "once", (None, "run", "academic_year"), fail)
    each = _one_of(raw, "each", ("enrolment", "run"), fail)
    if once == "run" and each != "run":
        raise fail("once", 'once = "run" needs each = "run" (the rule is decided per run)')
    rule = Rule(
        id=raw["id"],
        action=raw["action"],
        stage=Stage[stage_name.strip().upper()],
        lead=lead,
        due=due,
        when=_parsed_list(raw, "when", lambda t: parse_condition(t, scheme), fail, "conditions"),
        reason=_rule_reason(raw, fail),
        label=_rule_text(raw, "label", raw["action"].replace("_", " "), fail),
        evidence=_names(raw, "evidence", fail, "figure names", _is_figure),
        compulsory_age=compulsory,
        requires=_parsed_list(
            raw, "requires", lambda t: _parse_gate(t, scheme), fail, "plan terms"
        ),
        unless=_parsed_list(raw, "unless", lambda t: _parse_gate(t, scheme), fail, "plan terms"),
        each=each,
        explain_withheld=_names(raw, "explain_withheld", fail, "rule ids"),
        description=_rule_text(raw, "description", "", fail),
        once=once,
    )
    for name in rule.figures:
        if FIGURES[name].axis == "run" and each != "run":
            raise fail("each", f'the rule reads the run figure {name!r}: set each = "run"')
    _check_enforcement(rule, fail)
    return rule


def _check_enforcement(rule: Rule, fail: Callable[[str, str], PolicyError]) -> None:
    """Support before sanction, checked on the policy itself (domain.md §5)."""
    if rule.stage is not Stage.ENFORCE:
        return
    if any(g.term in ON_RECORD_TERMS and g.condition is None for g in rule.requires):
        return  # acts on a notice already issued (e.g. prosecute or withdraw an unpaid one)
    if not rule.compulsory_age:
        raise fail(
            "compulsory_age",
            "an ENFORCE rule applies only to pupils of compulsory "
            "school age: set compulsory_age = true",
        )
    agreed = [g for g in rule.requires if g.term == "social_worker_agreement_recorded"]
    covers = any(
        g.condition is None
        or (
            isinstance(g.condition, Flagged)
            and not g.condition.negate
            and set(g.condition.flags) >= SOCIAL_WORKER_FLAGS
        )
        for g in agreed
    )
    if not covers:
        raise fail(
            "requires",
            "an ENFORCE rule must require "
            "'social_worker_agreement_recorded if flagged cin or cp or cic'",
        )
    holiday = any(
        isinstance(c, Truth) and c.figure == "holiday_only" and not c.negate for c in rule.when
    )
    after_support = any(g.term in SUPPORT_TERMS and g.condition is None for g in rule.requires)
    if not (holiday or after_support):
        raise fail(
            "requires",
            "an ENFORCE rule must follow support (require one of "
            f"{', '.join(SUPPORT_TERMS)}) or be the holiday route "
            "('holiday_only' in when)",
        )


# ---------------------------------------------------------------------------- loading
def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy TOML file; :class:`PolicyError` names the rule and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p.name}: cannot read policy ({exc.__class__.__name__})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{p.name}: not valid TOML ({exc})") from exc
    return Policy.from_dict(data, origin=p.name)


@functools.cache
def _builtin() -> dict[str, Policy]:
    return bundled("policies", Policy.from_dict)


def policies() -> dict[str, Policy]:
    """The bundled policies by id: ``england-2024`` and ``county-five-band``."""
    return dict(_builtin())


def resolve_policy(ref: str | Path | Mapping[str, Any] | Policy) -> Policy:
    """A policy from a bundled id, a TOML path, a mapping or a :class:`Policy`."""
    return resolve(
        ref,
        model=Policy,
        known=policies(),
        from_dict=Policy.from_dict,
        from_toml=load_policy,
        error=PolicyError,
        what="policy",
        listed="bundled",
        hint=", or give the path of a .toml file",
    )


def describe_vocabulary() -> Iterable[str]:
    """Lines describing every figure, flag and plan term (for documentation and the CLI)."""
    for fig in FIGURES.values():
        yield f"{fig.name} ({fig.kind}, per {fig.axis}): {fig.description}"
    for flag in FLAGS:
        yield f"flagged {flag}: the pupils table marks the pupil {flag}"
    for term in PLAN_TERMS.values():
        yield f"{term.name} (plan term): {term.description}"
