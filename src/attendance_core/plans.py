"""Action plans: strategic (partnership or LA) plans and pupil plans, as items with a status.

Two strategic source layouts exist (domain.md §8) and a pupil-plan layout:

* the *action plan*: ``ACTION AREA``, ``STRATEGIC / FRAMEWORK ALIGNMENT``,
  ``LEAD ORGANISTION /PERSON`` (sic), ``RESOURCES REQUIRED``, ``MILESTONES/TIMELINE``,
  ``SUCCESS MEASURES``, ``NOTES`` — no item numbers and no RAG;
* the *delivery plan*: ``No.``, ``Objective Area``, ``Timeline``, ``Owner``, ``RAG Status``,
  ``Commentary``;
* the *pupil plan*: ``Pupil ID`` (or ``UPN``), ``Action``, ``Action ID``, ``Owner``,
  ``Due date``, ``Success measure``, ``Status``, ``Completed on``, ``Notes``.

:meth:`ActionPlan.from_table` reads any of them (headers matched through :data:`HEADER_ALIASES`,
case-, space- and punctuation-insensitive, known typos included), remembers the layout, and
:meth:`ActionPlan.to_table` writes the same headers back in the same order. Cells are never moved
between columns and a blank status stays blank: it is never inferred from a commentary such as
"In place". Timelines are kept as written and read into a due date and/or a recurrence by
:func:`parse_timeline`. :meth:`ActionPlan.review` marks overdue items and checks measurable success
measures (:func:`parse_success_measure`) against a register.

Choices made where the sources are silent are documented on each function; the main ones:

* **RAG words.** Only the five states' own words (and their unambiguous short forms such as
  "On track", "Overdue", "Partial", "Complete", or the member names) are read. Colour words
  ("Red", "Amber", "Green", "Blue") are *not* mapped: the sources name five states but never
  give their colour key, so no colour is unambiguous. Progress words ("In place", "In progress",
  "Started") are not statuses either. A status cell that is not one of the accepted words raises
  :class:`~attendance_core.errors.PlanError` naming the row and column.
* **Derived ids.** Without an id column items are numbered ``"1"``, ``"2"`` … in source order.
  With one, a row whose id cell is blank gets the previous id plus a letter (``"1.2a"``,
  ``"1.2b"`` …; ``"0a"`` before any id). Derived ids are written back by :meth:`to_table`.
* **Row numbers** in messages count as a spreadsheet does: the header row of a DataFrame is row 1
  and its first data row is row 2; for files, the row in the file. Messages never carry cell
  contents other than a status word, because owner and notes cells may name people.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import enum
import io
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import pandas as pd
from dateutil.parser import parserinfo
from dateutil.relativedelta import relativedelta
from dateutil.rrule import FR, MONTHLY, WEEKLY, rrule

from ._data import by_id
from ._values import decode_bytes, shorten
from .calendar import academic_year
from .errors import AttendanceWarning, PlanError
from .io import neutralise, unneutralise

if TYPE_CHECKING:
    from .register import Register

__all__ = [
    "HEADER_ALIASES",
    "RAG",
    "RAG_WORDS",
    "ActionPlan",
    "ActionPlanItem",
    "MeasureCheck",
    "PlanChange",
    "QuarterKind",
    "SuccessMeasure",
    "Timeline",
    "evaluate_success_measure",
    "parse_success_measure",
    "parse_timeline",
]

QuarterKind = Literal["calendar", "financial", "academic"]

_MONTHS = parserinfo()


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, 1) + relativedelta(day=31)


def _fmt(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _rrule_key(rule: rrule | None) -> str | None:
    return None if rule is None else str(rule)


# ---------------------------------------------------------------------------------------- RAG


def _words(text: str) -> str:
    """Lower-case words only: dashes, slashes, underscores and runs of spaces become one space."""
    return " ".join(re.sub(r"[\s\-‐‑‒–—―/_.,:;()]+", " ", text.casefold()).split())


class RAG(enum.Enum):
    """The five RAG states of a plan item; each value is the sources' own wording."""

    NOT_STARTED = "Not started"
    OVERDUE = "Overdue / unresolved issue"
    PARTIAL = "Partial completion"
    ON_TRACK = "Started – on track"
    COMPLETED = "Completed"

    @property
    def label(self) -> str:
        """The sources' wording of the state (as written back by :meth:`ActionPlan.to_table`)."""
        return str(self.value)

    @classmethod
    def parse(cls, text: str | RAG | None) -> RAG | None:
        """The state named by ``text``; None for a blank cell.

        Case, spaces and dashes do not matter ("started - on track" is ``ON_TRACK``). Accepted:
        the five source phrases, their unambiguous short forms (:data:`RAG_WORDS`) and the
        member names. Anything else (colours, "In progress", "In place") raises ``ValueError``.
        """
        if text is None or isinstance(text, RAG):
            return text
        key = _words(str(text))
        if not key:
            return None
        try:
            return RAG_WORDS[key]
        except KeyError:
            accepted = ", ".join(repr(m.value) for m in cls)
            raise ValueError(
                f"not a RAG status (got {_short(str(text))}); use one of {accepted}"
            ) from None


#: Words read as a RAG state (after :func:`_words` normalisation). Colours are deliberately
#: absent: the sources do not say which colour each of the five states has.
RAG_WORDS: Mapping[str, RAG] = {
    _words(word): state
    for state, words in {
        RAG.NOT_STARTED: ("Not started", "Not yet started", "NOT_STARTED"),
        RAG.OVERDUE: (
            "Overdue / unresolved issue",
            "Overdue",
            "Unresolved issue",
            "Overdue / unresolved",
            "OVERDUE",
        ),
        RAG.PARTIAL: (
            "Partial completion",
            "Partial",
            "Partially complete",
            "Partially completed",
            "PARTIAL",
        ),
        RAG.ON_TRACK: ("Started – on track", "On track", "ON_TRACK"),
        RAG.COMPLETED: ("Completed", "Complete", "COMPLETED"),
    }.items()
    for word in words
}


def _short(text: str, limit: int = 40) -> str:
    return shorten(repr(text), limit)


# ----------------------------------------------------------------------------------- timeline


@attrs.frozen(kw_only=True)
class Timeline:
    """A timeline cell as read: the text as written, a due date and a recurrence.

    ``recurrence`` is a :class:`dateutil.rrule.rrule` whose occurrences are the due dates of a
    recurring item; it compares equal by its RFC 5545 text.
    """

    text: str | None
    due: dt.date | None = None
    recurrence: rrule | None = attrs.field(default=None, eq=_rrule_key)


_NO_DATE = (
    re.compile(r"^\W*immediate", re.I),
    re.compile(r"\bas\s+per\b.*\bschedule", re.I),
    re.compile(r"\bbusiness\s+as\s+usual\b", re.I),
)

# (pattern, frequency, rrule keyword arguments); the first match wins, so "half-termly" comes
# before "termly". Weekly items fall due each Friday, the others on the last day of a month.
_RECURRENCES: tuple[tuple[re.Pattern[str], Literal[1, 2], Mapping[str, Any]], ...] = (
    (
        re.compile(r"(\bhalf|½)[\s\-‐‑–—]*term(ly)?\b|\bevery\s+half[\s\-–—]*term\b", re.I),
        MONTHLY,
        {"bymonth": (10, 12, 2, 3, 5, 7), "bymonthday": -1},
    ),
    (
        re.compile(r"\btermly\b|\b(each|every|per)\s+term\b", re.I),
        MONTHLY,
        {"bymonth": (12, 3, 7), "bymonthday": -1},
    ),
    (re.compile(r"\bfortnightly\b", re.I), WEEKLY, {"interval": 2, "byweekday": FR}),
    (re.compile(r"\bweekly\b|\b(each|every)\s+week\b", re.I), WEEKLY, {"byweekday": FR}),
    (re.compile(r"\bmonthly\b|\b(each|every)\s+month\b", re.I), MONTHLY, {"bymonthday": -1}),
)

_QUARTER = re.compile(r"\bQ\s?([1-4])\b", re.I)
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_UK_DATE = re.compile(r"(?<![\d/.])(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})(?![\d/.])")
_DAY_MONTH_YEAR = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]{3,9})\.?,?\s+(\d{4})\b", re.I
)
_YEAR_RANGE = re.compile(r"(?<![\d/.\-–—])((?:20)?\d{2})\s*[/\-–—]\s*((?:20)?\d{2})(?![\d/.\-–—%])")
_MONTH_YEAR = re.compile(r"\b([a-z]{3,9})\.?(?:,?\s*|-)('?\d{4}|'?\d{2})(?![\d/.:%])", re.I)
# "Autumn term 2025" → 31 Dec, "Spring 2026" → 31 Mar, "Summer term 2026" → 31 Jul: the
# termly dates of domain.md §8
_TERMS: Mapping[str, tuple[int, int]] = {"autumn": (12, 31), "spring": (3, 31), "summer": (7, 31)}
_TERM_YEAR = re.compile(
    r"\b(autumn|spring|summer)(?:\s+term)?\s*('?\d{4}|'?\d{2})(?![\d/.:%])", re.I
)
# a month-year after one of these words is a start, not a due date
_START_WORDS = re.compile(
    r"\b(from|starting|start(s|ing)?\s+(in|of)|beginning(\s+of)?|since|commencing|after)\s*$",
    re.I,
)


def _year(text: str) -> int:
    digits = text.lstrip("'")
    return int(digits) if len(digits) == 4 else 2000 + int(digits)


def _month(name: str) -> int | None:
    month = _MONTHS.month(name.casefold())
    return None if month is None else int(month)


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _explicit_dates(text: str) -> tuple[list[dt.date], str]:
    """Whole dates written in ``text`` (ISO, day/month/year, "31 March 2026") and the text with
    them blanked out."""
    found: list[dt.date] = []

    def iso(m: re.Match[str]) -> str:
        day = _safe_date(int(m[1]), int(m[2]), int(m[3]))
        found.extend([day] if day else [])
        return " "

    def uk(m: re.Match[str]) -> str:
        day = _safe_date(_year(m[3]), int(m[2]), int(m[1]))
        found.extend([day] if day else [])
        return " "

    def named(m: re.Match[str]) -> str:
        month = _month(m[2])
        if month is None:
            return m[0]
        day = _safe_date(int(m[3]), month, int(m[1]))
        found.extend([day] if day else [])
        return " "

    text = _ISO_DATE.sub(iso, text)
    text = _UK_DATE.sub(uk, text)
    text = _DAY_MONTH_YEAR.sub(named, text)
    return found, text


def _quarter_due(
    quarter: int, kind: QuarterKind, text: str, quarter_year: int | None
) -> dt.date | None:
    year_range = _YEAR_RANGE.search(text)
    single = re.search(r"(?<!\d)(20\d{2})(?!\d)", text)
    if year_range:
        year = _year(year_range[1])
    elif single:
        year = int(single[1])
    elif quarter_year is not None:
        year = quarter_year
    else:
        return None
    # months after the quarter year's first month at which each quarter ends
    first_month = {"calendar": 1, "financial": 4, "academic": 9}[kind]
    end = dt.date(year, first_month, 1) + relativedelta(months=3 * quarter - 1)
    return _month_end(end.year, end.month)


def parse_timeline(
    text: str | None,
    reference_date: dt.date | None = None,
    quarters: QuarterKind | None = None,
    quarter_year: int | None = None,
) -> Timeline:
    """Read a free-text timeline by the conventions of domain.md §8; never raises on text.

    The text is always kept. Rules, in order:

    * "Immediate …", "As per … schedule", "… business as usual" → no date.
    * "Half-termly" / "½ termly" → a recurrence on the last day of Oct, Dec, Feb, Mar, May and
      Jul; "Termly" → 31 Dec, 31 Mar, 31 Jul; "Fortnightly" / "Weekly …" → every (other)
      Friday; "Monthly …" → the last day of each month. A recurrence runs over the academic
      year (1 Aug – 31 Jul) of ``reference_date``, and ``due`` is its next occurrence on or
      after ``reference_date``.
    * "Q1" … "Q4" → the last day of the quarter, only when ``quarters`` says which quarters
      ("calendar" from January, "financial" from April, "academic" from September) *and* a year
      is known: a year in the text ("Q2 2025/26", "Q1 2026": the year the quarters start in)
      or ``quarter_year``. Otherwise no date.
    * Whole dates ("31/03/2026" day first, "2026-03-31", "31 March 2026") → that day;
      "Month YYYY", "End of Month YYYY", "Month YY" → the last day of the month; "Academic
      year 25-28", "25/26", "2025-2028" → 31 July of the final year (first year 2015 or
      later, at most five years apart, so "10/11" is not a year); "Autumn term 2025",
      "Spring 2026", "Summer term 2026" → 31 Dec, 31 Mar, 31 Jul (the termly dates). A month
      after "from", "starting", "since" … is a start and ignored. When several dates are
      written (milestones), ``due`` is the latest.
    * Anything else → no date.

    ``reference_date`` defaults to today.
    """
    if text is None:
        return Timeline(text=None)
    raw = str(text)
    flat = " ".join(raw.replace("½", " half ").split())
    if not flat or any(p.search(flat) for p in _NO_DATE):
        return Timeline(text=raw)
    ref = reference_date if reference_date is not None else dt.date.today()
    for pattern, freq, options in _RECURRENCES:
        if pattern.search(flat):
            start, end = academic_year(ref)
            rule = rrule(freq, dtstart=start, until=end, **options)
            nxt = rule.after(dt.datetime.combine(ref, dt.time()), inc=True)
            return Timeline(text=raw, due=None if nxt is None else nxt.date(), recurrence=rule)
    quarter = _QUARTER.search(flat)
    if quarter:
        if quarters is None:
            return Timeline(text=raw)
        return Timeline(text=raw, due=_quarter_due(int(quarter[1]), quarters, flat, quarter_year))
    dates, rest = _explicit_dates(flat)

    def year_range(m: re.Match[str]) -> str:
        first, last = _year(m[1]), _year(m[2])
        if 2015 <= first < last <= first + 5:
            dates.append(dt.date(last, 7, 31))
            return " "
        return m[0]

    rest = _YEAR_RANGE.sub(year_range, rest)
    for m in _TERM_YEAR.finditer(rest):
        year = _year(m[2])
        if 2000 <= year <= 2100 and not _START_WORDS.search(rest[: m.start()]):
            dates.append(dt.date(year, *_TERMS[m[1].casefold()]))
    for m in _MONTH_YEAR.finditer(rest):
        month = _month(m[1])
        if month is None or _START_WORDS.search(rest[: m.start()]):
            continue
        year = _year(m[2])
        if 2000 <= year <= 2100:
            dates.append(_month_end(year, month))
    return Timeline(text=raw, due=max(dates) if dates else None)


# --------------------------------------------------------------------------- success measures


@attrs.frozen(kw_only=True)
class SuccessMeasure:
    """A success measure that the register can check.

    ``kind`` is ``"attendance"`` (attendance rate compared with ``percent`` by ``comparison``,
    ``">="`` or ``">"``) or ``"no_unauthorised_absence"``. ``weeks`` is the number of school weeks
    the measure looks at (None: the academic year to date); ``by`` the date written in the text.
    ``percent`` is exact (a :class:`~fractions.Fraction`): 92.5% is ``Fraction(185, 2)``.
    """

    text: str
    kind: Literal["attendance", "no_unauthorised_absence"]
    percent: Fraction | None = None
    comparison: Literal[">=", ">"] | None = None
    weeks: int | None = None
    by: dt.date | None = None


_NUMBER_WORDS: Mapping[str, int] = {
    word: n
    for n, word in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"), start=1
    )
}
_COUNT = r"(?P<weeks>\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")"
_PCT = r"(?P<pct>\d{1,3}(?:\.\d+)?)\s*%"

# (pattern, kind); the first that matches decides. For attendance, the words before the
# percentage decide the comparison: strictly above when they match ``_STRICT``, else at least.
_MEASURES: tuple[tuple[re.Pattern[str], Literal["attendance", "no_unauthorised_absence"]], ...] = (
    (
        re.compile(r"\bno\s+(?:further\s+|more\s+)?unauthori[sz]ed\s+absences?\b", re.I),
        "no_unauthorised_absence",
    ),
    (
        re.compile(
            r"\battendance\b(?:\s+(?:rate|level|figure))?\s*(?:is\s+|of\s+|at\s+|to\s+|"
            r"improves?\s+to\s+|increases?\s+to\s+|rises?\s+to\s+|reaches?\s+|remains?\s+|"
            r"stays?\s+|maintained\s+(?:at\s+)?)?"
            r"(?P<cmp>>=|≥|=>|>|at\s+least|of\s+at\s+least|above|over|more\s+than|"
            r"greater\s+than|higher\s+than|no\s+less\s+than|not\s+below)?\s*" + _PCT,
            re.I,
        ),
        "attendance",
    ),
    (
        re.compile(
            r"(?P<cmp>>=|≥|=>|>|at\s+least|above|over|more\s+than)?\s*"
            + _PCT
            + r"\s*(?:\+|or\s+(?:more|above|higher|better|over))?\s+attendance\b",
            re.I,
        ),
        "attendance",
    ),
)
_STRICT = re.compile(r"^(>|above|over|more\s+than|greater\s+than|higher\s+than)$", re.I)
# relative targets ("improve attendance by 5%", "an increase of 3%", "2 percentage points")
_RELATIVE = re.compile(
    r"\bby\s+\d{1,3}(\.\d+)?\s*%|\bpercentage\s+points?\b|"
    r"\b(increase|improvement|rise|reduction|decrease)\s+of\s+\d{1,3}(\.\d+)?\s*%",
    re.I,
)
_WEEKS = re.compile(
    r"\b(?:over|for|in|during|across|within)\s+(?:the\s+)?(?:next|following|coming|last|"
    r"subsequent)?\s*" + _COUNT + r"\s+(?:consecutive\s+)?(?:school\s+)?weeks?\b",
    re.I,
)
_BY = re.compile(r"\bby\s+(?:the\s+)?(?:end\s+of\s+)?(?P<when>[^;,()]+)", re.I)


def parse_success_measure(
    text: str | None, reference_date: dt.date | None = None
) -> SuccessMeasure | None:
    """The measurable part of a success measure, or None when the register cannot check it.

    Recognised (case-insensitive, ≥ or >= or "at least", "above" meaning strictly above):
    "attendance ≥ 90% by 31 March 2026", "attendance ≥ 90% over the next 6 school weeks",
    "90%+ attendance", "no unauthorised absence for 6 weeks". Relative targets ("improve
    attendance by 5%", "percentage points") and anything without a percentage are not
    measurable here. The date after "by" is read like a timeline (:func:`parse_timeline`, with
    ``reference_date``); "weeks" are school weeks. Never raises on text.
    """
    if not text or not str(text).strip():
        return None
    flat = " ".join(str(text).split())
    for pattern, kind in _MEASURES:
        m = pattern.search(flat)
        if m is None:
            continue
        percent: Fraction | None = None
        comparison: Literal[">=", ">"] | None = None
        if kind == "attendance":
            if _RELATIVE.search(flat):
                return None
            percent = Fraction(m["pct"])
            if percent > 100:
                return None
            comparison = ">" if m["cmp"] and _STRICT.match(m["cmp"].strip()) else ">="
        weeks_match = _WEEKS.search(flat)
        weeks = None
        if weeks_match:
            word = weeks_match["weeks"].casefold()
            weeks = _NUMBER_WORDS.get(word) or int(word)
        by = None
        by_match = _BY.search(flat[m.end() :]) or _BY.search(flat)
        if by_match and not _RELATIVE.match(by_match[0]):
            by = parse_timeline(by_match["when"], reference_date).due
        return SuccessMeasure(
            text=str(text),
            kind=kind,
            percent=percent,
            comparison=comparison,
            weeks=weeks or None,
            by=by,
        )
    return None


@attrs.frozen(kw_only=True)
class MeasureCheck:
    """The outcome of checking a :class:`SuccessMeasure` for one pupil.

    ``met`` is None when the register cannot decide (no possible sessions in the period, fewer
    school weeks of marks than the measure asks for, pupil not in the register). ``start`` and
    ``end`` bound the period checked (inclusive); the counts are those of
    :func:`attendance_core.classify` over it. ``reason`` says it in plain English.
    """

    met: bool | None
    start: dt.date
    end: dt.date
    possible: int
    attended: int
    unauthorised: int
    reason: str

    @classmethod
    def undecided(cls, start: dt.date, end: dt.date, reason: str) -> MeasureCheck:
        """The check when the register cannot decide: ``met`` None, no counts."""
        return cls(
            met=None, start=start, end=end, possible=0, attended=0, unauthorised=0, reason=reason
        )


def _percent_text(attended: int, possible: int) -> str:
    # shown to one decimal for reading only; the decision is made on the integers
    return f"{100 * attended / possible:.1f}%" if possible else "no possible sessions"


def evaluate_success_measure(
    measure: SuccessMeasure,
    register: Register,
    pupil_id: str,
    as_of: dt.date,
    *,
    due: dt.date | None = None,
    school_id: str | None = None,
) -> MeasureCheck | None:
    """Check ``measure`` for ``pupil_id`` on ``register``; None while its period is not over.

    The period ends on the measure's own date (``by``), else on ``due``, else on ``as_of``
    (a rolling check); a period ending after ``as_of`` is not over and gives None. It starts
    ``weeks`` school weeks before its end (the school week of the end and the ``weeks - 1``
    school weeks before it, on the pupil's school calendar), or, without ``weeks``, on 1 August
    of the academic year of its end (year to date). Attendance is compared on exact integers
    (``attended * 100 >= percent * possible``), never on a rounded rate. When the pupil has
    several enrolments, the school of the latest one is used unless ``school_id`` is given.
    """
    from .measures import classify

    end = measure.by or due or as_of
    if end > as_of:
        return None
    if not any(str(p) == pupil_id for p in register.pupil_ids):
        return MeasureCheck.undecided(end, end, f"pupil {pupil_id} is not in the register")
    school = school_id if school_id is not None else _pupil_school(register, pupil_id)
    if measure.weeks:
        calendar = register.calendar(school if register.has_schools else None)
        weeks = calendar.school_weeks
        held = int((weeks <= np.datetime64(end, "D")).sum())
        start = calendar.week_window(end, measure.weeks)[0]
        if held < measure.weeks:
            return MeasureCheck.undecided(
                start,
                end,
                f"only {held} school weeks of marks up to {_fmt(end)}, "
                f"fewer than the {measure.weeks} the measure needs",
            )
    else:
        start = academic_year(end)[0]
    table = classify(register, start=start, end=end)
    key: Any = (school, pupil_id) if isinstance(table.index, pd.MultiIndex) else pupil_id
    if key not in table.index:
        return MeasureCheck.undecided(
            start, end, f"pupil {pupil_id} has no marks from {_fmt(start)} to {_fmt(end)}"
        )
    row = table.loc[key]
    possible, attended = int(row["possible"]), int(row["attended"])
    unauthorised = int(row["unauthorised"])
    period = f"from {_fmt(start)} to {_fmt(end)}"
    if measure.kind == "no_unauthorised_absence":
        met: bool | None = unauthorised == 0
        reason = (
            f"no unauthorised absence {period}"
            if met
            else f"{unauthorised} unauthorised sessions {period}"
        )
    elif possible == 0:
        met, reason = None, f"no possible sessions {period}"
    else:
        assert measure.percent is not None
        lhs = attended * 100 * measure.percent.denominator
        rhs = measure.percent.numerator * possible
        met = lhs > rhs if measure.comparison == ">" else lhs >= rhs
        target = f"{'above' if measure.comparison == '>' else 'at least'} {measure.percent}%"
        reason = (
            f"attendance {_percent_text(attended, possible)} ({attended} of {possible} "
            f"sessions) {period}: {'meets' if met else 'below'} the target of {target}"
        )
    return MeasureCheck(
        met=met,
        start=start,
        end=end,
        possible=possible,
        attended=attended,
        unauthorised=unauthorised,
        reason=reason,
    )


def _pupil_school(register: Register, pupil_id: str) -> str | None:
    if register.school_ids is None:
        return None
    rows = [i for i, p in enumerate(register.pupil_ids) if str(p) == pupil_id]
    if not rows:
        return None
    latest = max(rows, key=lambda i: int(register.span[i][1]))
    return str(register.school_ids[latest])


# ------------------------------------------------------------------------------------- items


def _optional(kind: type | tuple[type, ...]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    return attrs.validators.optional(attrs.validators.instance_of(kind))


def _date_only(value: Any) -> Any:
    return value.date() if isinstance(value, dt.datetime) else value


@attrs.frozen(kw_only=True)
class ActionPlanItem:
    """One item of an action plan (strategic or pupil), built by keyword.

    ``timeline`` is the text as written; ``due`` and ``recurrence`` are what it was read as
    (:func:`parse_timeline`). ``status`` is None when the source leaves it blank. Items compare
    equal field by field; ``recurrence`` compares by its RFC 5545 text.
    """

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    action: str = attrs.field(validator=attrs.validators.instance_of(str))
    action_id: str | None = attrs.field(default=None, validator=_optional(str))
    pupil_id: str | None = attrs.field(default=None, validator=_optional(str))
    area: str | None = attrs.field(default=None, validator=_optional(str))
    alignment: str | None = attrs.field(default=None, validator=_optional(str))
    lead: str | None = attrs.field(default=None, validator=_optional(str))
    resources: str | None = attrs.field(default=None, validator=_optional(str))
    timeline: str | None = attrs.field(default=None, validator=_optional(str))
    due: dt.date | None = attrs.field(
        default=None, converter=_date_only, validator=_optional(dt.date)
    )
    recurrence: rrule | None = attrs.field(default=None, eq=_rrule_key, validator=_optional(rrule))
    success_measure: str | None = attrs.field(default=None, validator=_optional(str))
    status: RAG | None = attrs.field(default=None, validator=_optional(RAG))
    completed_on: dt.date | None = attrs.field(
        default=None, converter=_date_only, validator=_optional(dt.date)
    )
    notes: str | None = attrs.field(default=None, validator=_optional(str))


@attrs.frozen(kw_only=True)
class PlanChange:
    """One change made by :meth:`ActionPlan.review`: which item, which field, from what to what,
    and why in plain English.

    ``field`` is an :class:`ActionPlanItem` field name, or ``"success_measure_met"`` for the
    outcome of checking the item's success measure on the register (``old`` None, ``new``
    True, False or None when undecidable); that entry changes no field.
    """

    item_id: str
    field: str
    old: Any
    new: Any
    reason: str


# ------------------------------------------------------------------------------------ layouts

#: Headers read as each item field. Matching ignores case, spaces and punctuation, so
#: "LEAD ORGANISTION /PERSON" and "Lead organistion/person" are the same header. Typos seen in
#: the sources are listed on purpose. ``due`` is a date column (pupil plans); ``timeline`` text.
HEADER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "id": ("No.", "Number", "Item", "Item no.", "Ref", "Reference", "ID", "Item ID", "#"),
    "action": (
        "ACTION AREA",
        "Objective Area",
        "Action",
        "Actions",
        "Objective",
        "Description",
        "Activity",
    ),
    "action_id": ("Action ID", "Action code", "Step", "Step ID"),
    "pupil_id": ("Pupil ID", "UPN", "Pupil ID / UPN", "Pupil", "Pupil UPN", "Student ID"),
    "area": ("Area", "Theme", "Priority", "Priority area", "Strand", "Workstream"),
    "alignment": (
        "STRATEGIC / FRAMEWORK ALIGNMENT",
        "Strategic alignment",
        "Framework alignment",
        "Alignment",
    ),
    "lead": (
        "LEAD ORGANISTION /PERSON",
        "LEAD ORGANISATION /PERSON",
        "LEAD ORGANIZATION /PERSON",
        "Lead organisation",
        "Lead person",
        "Lead",
        "Owner",
        "Owner role",
        "Responsible",
        "Who",
    ),
    "resources": ("RESOURCES REQUIRED", "Resources", "Resource", "Resources needed"),
    "timeline": (
        "MILESTONES/TIMELINE",
        "Timeline",
        "Timescale",
        "Timescales",
        "Milestones",
        "When",
    ),
    "due": ("Due date", "Due", "Due by", "Target date", "Deadline"),
    "success_measure": (
        "SUCCESS MEASURES",
        "Success measure",
        "Success criteria",
        "Measure of success",
        "Outcome measure",
        "Target",
    ),
    "status": ("RAG Status", "RAG", "Status", "RAG rating"),
    "completed_on": ("Completed on", "Date completed", "Completion date"),
    "notes": (
        "NOTES",
        "Commentary",
        "Comments",
        "Comment",
        "Notes / commentary",
        "Update",
        "Progress update",
    ),
}


def _header_key(header: str) -> str:
    return re.sub(r"[^0-9a-z#]", "", header.casefold())


_HEADER_FIELDS: Mapping[str, str] = {
    _header_key(alias): field for field, aliases in HEADER_ALIASES.items() for alias in aliases
}

_TEXT_FIELDS = (
    "action_id",
    "pupil_id",
    "area",
    "alignment",
    "lead",
    "resources",
    "timeline",
    "success_measure",
    "notes",
)

_LAYOUT_NAMES: tuple[tuple[str, str], ...] = (
    # (a field whose column marks the layout, layout name); first match wins
    ("pupil_id", "pupil_plan"),
    ("alignment", "action_plan"),
    ("resources", "action_plan"),
    ("status", "delivery_plan"),
)

_DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    ("ID", "id"),
    ("Pupil ID", "pupil_id"),
    ("Action", "action"),
    ("Action ID", "action_id"),
    ("Area", "area"),
    ("Alignment", "alignment"),
    ("Lead", "lead"),
    ("Resources", "resources"),
    ("Timeline", "timeline"),
    ("Due date", "due"),
    ("Success measure", "success_measure"),
    ("Status", "status"),
    ("Completed on", "completed_on"),
    ("Notes", "notes"),
)


@attrs.frozen
class _Layout:
    """Headers as written in the source, in order, each with the field it holds (None: a column
    the library does not read, written back empty)."""

    columns: tuple[tuple[str, str | None], ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(f for _, f in self.columns if f is not None)

    @property
    def name(self) -> str:
        for field, name in _LAYOUT_NAMES:
            if field in self.fields:
                return name
        return "custom"


# --------------------------------------------------------------------------------------- plan


def _items_tuple(items: Iterable[ActionPlanItem]) -> tuple[ActionPlanItem, ...]:
    result = tuple(items)
    for item in result:
        if not isinstance(item, ActionPlanItem):
            raise TypeError(f"'items' must hold ActionPlanItem (got {type(item).__name__})")
    return result


@attrs.frozen(kw_only=True)
class ActionPlan:
    """An action plan: its items in source order and an optional title.

    Build one from items (``ActionPlan(items=[...], title=None)``) or read one with
    :meth:`from_table`; a plan read from a table remembers its layout so that :meth:`to_table`
    writes the same headers in the same order.
    """

    items: tuple[ActionPlanItem, ...] = attrs.field(converter=_items_tuple)
    title: str | None = None
    _layout: _Layout | None = attrs.field(default=None, eq=False, repr=False, alias="_layout")

    @property
    def layout(self) -> str | None:
        """Name of the source layout (``"action_plan"``, ``"delivery_plan"``, ``"pupil_plan"`` or
        ``"custom"``), None for a plan built from items."""
        return None if self._layout is None else self._layout.name

    def item(self, item_id: str) -> ActionPlanItem:
        """The item with id ``item_id`` (``KeyError`` when there is none)."""
        return by_id(self.items, item_id)

    # ------------------------------------------------------------------------------ reading
    @classmethod
    def from_table(
        cls,
        source: pd.DataFrame | str | os.PathLike[str],
        *,
        reference_date: dt.date | None = None,
        quarters: QuarterKind | None = None,
        quarter_year: int | None = None,
        sheet: str | int | None = None,
        title: str | None = None,
    ) -> ActionPlan:
        """Read a plan from a DataFrame or a ``.csv`` / ``.xlsx`` file in any known layout.

        The header row is the first of the first 15 rows with at least two known headers
        (:data:`HEADER_ALIASES`); a single text cell above it becomes the ``title`` unless one is
        given. Line endings inside cells become ``\\n``. Unknown columns are ignored with an
        :class:`~attendance_core.errors.AttendanceWarning` and written back empty. Cells are
        stripped of surrounding spaces; a leading quote that protects a formula character
        (``'=``, ``'+``, ``'-``, ``'@``) is removed, so the output of :meth:`to_csv` reads back
        as it was. CSV is read as UTF-8 (with or without BOM), else
        cp1252 with a warning; Excel through openpyxl (first sheet unless ``sheet``). Read a
        DataFrame with ``dtype=str`` so that "1.10" does not become 1.1.

        Timelines are read by :func:`parse_timeline` with ``reference_date`` (default today: the
        academic year of recurrences), ``quarters`` and ``quarter_year``. A row whose owner looks
        like a timeline, or whose timeline looks like a person or organisation, is kept as written
        and named in an ``AttendanceWarning``. Unreadable tables raise
        :class:`~attendance_core.errors.PlanError` naming the file, row and column.
        """
        ref = reference_date if reference_date is not None else dt.date.today()
        if isinstance(source, pd.DataFrame):
            name = None
            grid = [list(source.columns), *source.astype(object).to_numpy().tolist()]
            numbers = None
        else:
            path = Path(source)
            name = path.name
            grid, numbers = _read_file(path, sheet)
        cells = [[_cell_text(v) for v in row] for row in grid]
        return _parse_grid(
            cells,
            name=name,
            numbers=numbers,
            ref=ref,
            quarters=quarters,
            quarter_year=quarter_year,
            title=title,
        )

    # ------------------------------------------------------------------------------ writing
    def to_table(self) -> pd.DataFrame:
        """The plan as a DataFrame of text in its source layout (headers as written).

        A plan built from items gets the columns ``ID``, ``Pupil ID``, ``Action``, ``Action ID``,
        ``Area``, ``Alignment``, ``Lead``, ``Resources``, ``Timeline``, ``Due date``,
        ``Success measure``, ``Status``, ``Completed on``, ``Notes``, leaving out those blank in
        every item (``ID`` and ``Action`` always kept). Statuses are written in the sources'
        words, dates as ISO text; a due date read from a timeline is not written separately
        (the timeline is). The recurrence is not a column: it is read again from the timeline.

        Nothing set on an item is dropped silently: when items carry a field the remembered
        layout has no column for (typically a status set by :meth:`review` on a plan in the
        action-plan layout, which has no RAG column), a column with the default header
        (``RAG Status``, ``Completed on`` …) is appended after the source's columns. Fields the
        reader derives (``id`` without an id column, ``area`` from the parent item, ``due`` and
        ``recurrence`` from the timeline) are not appended.
        """
        layout = self._layout or _default_layout(self.items)
        layout = _with_missing_columns(layout, self.items)
        fields = layout.fields
        rows = [[_cell_out(item, f, fields) for _, f in layout.columns] for item in self.items]
        headers = [h for h, _ in layout.columns]
        if not rows:
            return pd.DataFrame({h: pd.Series([], dtype="str") for h in headers})
        return pd.DataFrame(rows, columns=headers, dtype="str")

    def _rows_out(self) -> list[list[str]]:
        table = self.to_table()
        rows = [[str(h) for h in table.columns]]
        for values in table.astype(object).to_numpy().tolist():
            rows.append(["" if _cell_text(v) is None else str(v) for v in values])
        if self.title:
            rows.insert(0, [self.title])
        return rows

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_table` (title row first when there is one) as UTF-8 CSV with a BOM,
        atomically, safe to open in Excel: a cell that a spreadsheet would run as a formula
        (see :func:`attendance_core.io.neutralise`) gets a leading single quote, which
        :meth:`from_table` removes again."""
        from .io import atomic_open

        with atomic_open(path, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            for row in self._rows_out():
                writer.writerow([neutralise(cell) for cell in row])

    def to_excel(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_table` (title row first when there is one) to an ``.xlsx`` file,
        atomically and byte-identical for an identical plan; every cell is written as text,
        never as a formula, and a control character ``.xlsx`` cannot hold is written as a
        visible escape (``\\x07``). Needs openpyxl (extra ``excel``)."""
        openpyxl = _openpyxl()
        from .io import atomic_workbook, excel_text

        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "Action plan"
        for row in self._rows_out():
            sheet.append([excel_text(cell) if cell != "" else None for cell in row])
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        with atomic_workbook(path) as buffer:
            workbook.save(buffer)

    # ------------------------------------------------------------------------------- review
    def review(
        self, as_of: dt.date, register: Register | None = None
    ) -> tuple[ActionPlan, list[PlanChange]]:
        """Review the plan on ``as_of``: a new plan with statuses updated and what changed, why.

        * An item with a due date before ``as_of`` that is not ``COMPLETED`` becomes ``OVERDUE``
          (a blank status too: statuses are never inferred from notes).
        * A recurring item (weekly, termly …) is not overdue because one occurrence passed — the
          register cannot show whether it happened. Its ``due`` moves on to the next occurrence
          on or after ``as_of``; once the recurrence has ended (31 July) and the item is not
          ``COMPLETED`` it becomes ``OVERDUE``.
        * With a ``register``, each pupil item (``pupil_id`` set) with a measurable success
          measure (:func:`parse_success_measure`) whose period is over is checked
          (:func:`evaluate_success_measure`, with the item's ``due``): the outcome is recorded as
          a ``"success_measure_met"`` change, and an open item whose measure is not met becomes
          ``OVERDUE`` (an unresolved issue). A met measure does not complete an item: completing
          is a person's decision.

        ``COMPLETED`` items are never changed. The new plan keeps the title and layout; a due
        date moved on is what :meth:`from_table` reads again with ``reference_date=as_of``.
        """
        as_of = _date_only(as_of)
        changes: list[PlanChange] = []
        items: list[ActionPlanItem] = []
        for item in self.items:
            new = item
            if item.status is not RAG.COMPLETED:
                new = _review_dates(item, as_of, changes)
            if register is not None and item.pupil_id and item.success_measure:
                measure = parse_success_measure(item.success_measure, as_of)
                if measure is not None:
                    check = evaluate_success_measure(
                        measure, register, item.pupil_id, as_of, due=item.due
                    )
                    if check is not None:
                        changes.append(
                            PlanChange(
                                item_id=item.id,
                                field="success_measure_met",
                                old=None,
                                new=check.met,
                                reason=check.reason,
                            )
                        )
                        if check.met is False and new.status not in (RAG.COMPLETED, RAG.OVERDUE):
                            changes.append(
                                PlanChange(
                                    item_id=item.id,
                                    field="status",
                                    old=new.status,
                                    new=RAG.OVERDUE,
                                    reason=f"success measure not met: {check.reason}",
                                )
                            )
                            new = attrs.evolve(new, status=RAG.OVERDUE)
            items.append(new)
        plan = ActionPlan(items=items, title=self.title, _layout=self._layout)
        return plan, changes


def _review_dates(
    item: ActionPlanItem, as_of: dt.date, changes: list[PlanChange]
) -> ActionPlanItem:
    rule = item.recurrence
    if rule is not None:
        nxt = rule.after(dt.datetime.combine(as_of, dt.time()), inc=True)
        if nxt is not None:
            if nxt.date() != item.due:
                changes.append(
                    PlanChange(
                        item_id=item.id,
                        field="due",
                        old=item.due,
                        new=nxt.date(),
                        reason=f"next date of the recurring timeline "
                        f"{_short(item.timeline or '', 60)} after review on {_fmt(as_of)}",
                    )
                )
                item = attrs.evolve(item, due=nxt.date())
            return item
        if item.status is RAG.OVERDUE:
            return item
        last = rule.before(dt.datetime.combine(as_of, dt.time()), inc=True)
        ended = f" on {_fmt(last.date())}" if last is not None else ""
        reason = f"its recurring timeline ended{ended} and the item is not marked completed"
    elif item.due is not None and item.due < as_of and item.status is not RAG.OVERDUE:
        reason = f"due {_fmt(item.due)} has passed and the item is not marked completed"
    else:
        return item
    changes.append(
        PlanChange(item_id=item.id, field="status", old=item.status, new=RAG.OVERDUE, reason=reason)
    )
    return attrs.evolve(item, status=RAG.OVERDUE)


# ------------------------------------------------------------------------------ table helpers


def _openpyxl() -> Any:
    import openpyxl  # a dependency of the core, imported only when a plan meets a workbook

    return openpyxl


def _cell_text(value: Any) -> str | None:
    """A cell as text: None for blank (None, NaN, NA, empty, spaces), dates as ISO, whole
    floats without ".0", line endings as ``\\n``; a quote protecting a formula character is
    removed."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    text = unneutralise(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()  # as .xlsx stores them
    return text or None


def _read_file(path: Path, sheet: str | int | None) -> tuple[list[list[Any]], list[int]]:
    suffix = path.suffix.casefold()
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, sheet)
    if suffix not in (".csv", ".txt", ".tsv"):
        raise PlanError(f"{path.name}: not a .csv or .xlsx file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    text, used = decode_bytes(data)
    if used != "utf-8":
        shown = "Windows-1252" if used == "cp1252" else "Latin-1"
        warnings.warn(f"{path.name}: not UTF-8, read as {shown}", AttendanceWarning, stacklevel=3)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [list(r) for r in rows], list(range(1, len(rows) + 1))


def _read_excel(path: Path, sheet: str | int | None) -> tuple[list[list[Any]], list[int]]:
    openpyxl = _openpyxl()
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise PlanError(f"{path.name}: not a readable .xlsx file") from exc
    try:
        if sheet is None:
            ws = workbook.worksheets[0]
        elif isinstance(sheet, int):
            ws = workbook.worksheets[sheet]
        else:
            ws = workbook[sheet]
    except (IndexError, KeyError) as exc:
        raise PlanError(f"{path.name}: no sheet {sheet!r}") from exc
    grid: list[list[Any]] = []
    numbers: list[int] = []
    for cells in ws.iter_rows():
        row: list[Any] = []
        for cell in cells:
            value = cell.value
            fmt = getattr(cell, "number_format", "") or ""
            decimals = re.fullmatch(r"0\.(0+)", fmt)
            if isinstance(value, float) and decimals:
                value = f"{value:.{len(decimals[1])}f}"  # "1.10" typed as a number shown 0.00
            row.append(value)
        grid.append(row)
        numbers.append(cells[0].row if cells and getattr(cells[0], "row", None) else len(grid))
    workbook.close()
    return grid, numbers


def _field_of(header: str | None) -> tuple[str | None, bool]:
    """The field a header holds and whether it was matched only approximately."""
    if header is None or header.startswith("Unnamed:"):
        return None, False
    key = _header_key(header)
    if key in _HEADER_FIELDS:
        return _HEADER_FIELDS[key], False
    close = difflib.get_close_matches(key, list(_HEADER_FIELDS), n=1, cutoff=0.88)
    if close and len(key) >= 6:
        return _HEADER_FIELDS[close[0]], True
    return None, False


def _find_header(cells: Sequence[Sequence[str | None]]) -> int | None:
    for r, row in enumerate(cells[:15]):
        known = {f for f in (_field_of(c)[0] for c in row) if f is not None}
        if len(known) >= 2 or (len(known) == 1 and "action" in known and r == 0):
            return r
    return None


def _where(name: str | None, row: int | None = None, column: str | None = None) -> str:
    parts = [name] if name else []
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def _parse_grid(
    cells: list[list[str | None]],
    *,
    name: str | None,
    numbers: list[int] | None,
    ref: dt.date,
    quarters: QuarterKind | None,
    quarter_year: int | None,
    title: str | None,
) -> ActionPlan:
    def row_no(r: int) -> int:
        return numbers[r] if numbers is not None else r + 1

    h = _find_header(cells)
    if h is None:
        examples = ", ".join(repr(a[0]) for a in HEADER_ALIASES.values())
        raise PlanError(
            f"{_where(name)}: no header row found; expected headers such as {examples}".lstrip(": ")
        )
    if title is None:
        title = _grid_title(cells[:h])
    columns = _grid_columns(cells, h, name=name, header_row=row_no(h))
    layout = _Layout(columns=tuple(columns))
    index = {field: j for j, (_, field) in enumerate(columns) if field is not None}
    ignored_warned: set[int] = set()
    items: list[ActionPlanItem] = []
    ids: dict[str, int] = {}
    last_id, letter = "0", 0
    for r in range(h + 1, len(cells)):
        row = cells[r]
        if not any(row):
            continue
        number = row_no(r)
        _warn_unread_columns(row, columns, ignored_warned, _where(name, number))

        def get(field: str, row: list[str | None] = row) -> str | None:
            j = index.get(field)
            return row[j] if j is not None and j < len(row) else None

        if not any(get(f) for f in index):
            continue
        given_id = get("id")
        if "id" not in index:
            item_id = str(len(items) + 1)
        elif given_id:
            item_id, last_id, letter = given_id, given_id, 0
        else:
            while True:
                letter += 1
                item_id = f"{last_id}{_letters(letter)}"
                if item_id not in ids:
                    break
        if item_id in ids:
            raise PlanError(
                f"{_where(name, number, columns[index['id']][0])}: id {item_id!r} repeats "
                f"row {ids[item_id]}"
            )
        ids[item_id] = number

        def where(field: str, number: int = number) -> str:
            return _where(name, number, columns[index[field]][0])

        values = _item_values(get, index, where, ref=ref, quarters=quarters, year=quarter_year)
        if "area" not in index and "." in item_id:
            parent = next((i for i in items if i.id == item_id.split(".", 1)[0]), None)
            values["area"] = parent.action if parent else None
        if "lead" in index and "timeline" in index:
            _warn_if_swapped(
                lead=values["lead"],
                timeline=values["timeline"],
                ref=ref,
                where=_where(name, number),
                lead_header=columns[index["lead"]][0],
                timeline_header=columns[index["timeline"]][0],
            )
        items.append(ActionPlanItem(id=item_id, action=get("action") or "", **values))
    return ActionPlan(items=items, title=title, _layout=layout)


def _grid_title(above: list[list[str | None]]) -> str | None:
    """The plan's title: the first line above the header with exactly one filled cell."""
    for row in above:
        texts = [c for c in row if c]
        if len(texts) == 1:
            return texts[0]
    return None


def _grid_columns(
    cells: list[list[str | None]], h: int, *, name: str | None, header_row: int
) -> list[tuple[str, str | None]]:
    """(header as written, field or None) of each column of the header row ``h``; trailing
    columns with neither header nor content are not part of the layout."""
    columns: list[tuple[str, str | None]] = []
    seen: dict[str, str] = {}
    for header in cells[h]:
        field, approximate = _field_of(header)
        shown = header or ""
        if field is not None and field in seen:
            raise PlanError(
                f"{_where(name, header_row, shown)}: a second column for {field!r} "
                f"(the first is {seen[field]!r})"
            )
        if field is not None:
            seen[field] = shown
            if approximate:
                warnings.warn(
                    f"{_where(name, header_row, shown)}: header read as {field!r}",
                    AttendanceWarning,
                    stacklevel=4,
                )
        columns.append((shown, field))
    if "action" not in seen:
        raise PlanError(
            f"{_where(name, header_row)}: no action column; expected one of "
            f"{', '.join(repr(a) for a in HEADER_ALIASES['action'])}"
        )
    width = len(columns)
    while (
        width
        and columns[width - 1][0] == ""
        and not any(len(row) >= width and row[width - 1] for row in cells[h + 1 :])
    ):
        width -= 1
    return columns[:width]


def _warn_unread_columns(
    row: list[str | None],
    columns: list[tuple[str, str | None]],
    warned: set[int],
    where: str,
) -> None:
    """Warn once per column that a filled cell under an unknown header is not read."""
    for j, (header, field) in enumerate(columns):
        if field is None and j < len(row) and row[j] and j not in warned:
            warned.add(j)
            warnings.warn(
                f"{where}, column {header or f'#{j + 1}'!r}: column not read "
                "(unknown header); it is written back empty",
                AttendanceWarning,
                stacklevel=4,
            )


def _item_values(
    get: Callable[[str], str | None],
    index: Mapping[str, int],
    where: Callable[[str], str],
    *,
    ref: dt.date,
    quarters: QuarterKind | None,
    year: int | None,
) -> dict[str, Any]:
    """The fields of one plan row: text, RAG status, due date and recurrence (from the
    timeline, or a due cell), completion date."""
    values: dict[str, Any] = {f: get(f) for f in _TEXT_FIELDS}
    try:
        values["status"] = RAG.parse(get("status"))
    except ValueError:  # neither the cell nor its error is shown: it may hold anything
        accepted = ", ".join(repr(m.label) for m in RAG)
        raise PlanError(f"{where('status')}: not a RAG status; use one of {accepted}") from None
    timeline = parse_timeline(values["timeline"], ref, quarters, year)
    values["due"], values["recurrence"] = timeline.due, timeline.recurrence
    due_text = get("due")
    if due_text:
        due = _strict_date(due_text)
        if due is not None:
            values["due"] = due
        elif "timeline" in index:
            raise PlanError(f"{where('due')}: not a date")
        else:  # a pupil plan's due cell written as a timeline ("End of March 2026")
            read = parse_timeline(due_text, ref, quarters, year)
            values.update(timeline=due_text, due=read.due, recurrence=read.recurrence)
    done = get("completed_on")
    if done:
        values["completed_on"] = _strict_date(done)
        if values["completed_on"] is None:
            raise PlanError(f"{where('completed_on')}: not a date")
    return values


def _letters(n: int) -> str:
    """1 → "a", 26 → "z", 27 → "aa" …"""
    text = ""
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(ord("a") + rest) + text
    return text


_DAYFIRST = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})$")
_ISO_FULL = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_NAMED_FULL = re.compile(
    r"^(?:[a-z]+,?\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?,?\s+(\d{4})$", re.I
)


def _strict_date(text: str) -> dt.date | None:
    """A cell that is one whole date (ISO, day/month/year, "31 March 2026"), else None."""
    text = text.strip()
    if m := _ISO_FULL.match(text):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _DAYFIRST.match(text):
        return _safe_date(_year(m[3]), int(m[2]), int(m[1]))
    if m := _NAMED_FULL.match(text):
        month = _month(m[2])
        return None if month is None else _safe_date(int(m[3]), month, int(m[1]))
    return None


_TIMELINE_WORDS = re.compile(
    r"\b(q[1-4]|ongoing|immediate(ly)?|asap|tbc|annual(ly)?|weekly|monthly|termly|"
    r"fortnightly|quarterly|daily|term|terms|weeks?|months?|years?|academic|spring|summer|"
    r"autumn|by\s+end|end\s+of|deadline|schedule|usual|20\d\d)\b",
    re.I,
)
_ROLE_WORDS = re.compile(
    r"\b(lead|leads|officer|officers|team|teams|service|services|council|school|schools|head|"
    r"heads|headteachers?|manager|managers|partnership|board|group|dsl|senco|trust|trusts|nhs|"
    r"health|co-?ordinator|worker|workers|ews|ewo|early\s+help|virtual\s+school|police|mat|"
    r"governors?|camhs|nurse|nurses|gp|dfe|authority|department|director|chair|staff|tutor|"
    r"tutors|teacher|teachers|principal|hub|forum|alliance|providers?|partners|colleagues|"
    r"la|lsp|sendco|commissioner|commissioning|public|office|unit|network|panel)\b",
    re.I,
)


def _looks_like_timeline(text: str | None, ref: dt.date) -> bool:
    if not text:
        return False
    read = parse_timeline(text, ref)
    timely = read.due is not None or read.recurrence is not None
    timely = timely or bool(_TIMELINE_WORDS.search(text)) or bool(_NO_DATE[0].search(text))
    return timely and not _ROLE_WORDS.search(text)


def _looks_like_person_or_org(text: str | None, ref: dt.date) -> bool:
    if not text:
        return False
    read = parse_timeline(text, ref)
    if read.due is not None or read.recurrence is not None or _TIMELINE_WORDS.search(text):
        return False
    if any(p.search(text) for p in _NO_DATE):
        return False
    if _ROLE_WORDS.search(text):
        return True
    # a run of acronyms such as "LA / DSL" or "EWS, SENCo"
    tokens = [t for t in re.split(r"[\s/,&+]+|\band\b", text) if t]
    return bool(tokens) and all(
        re.fullmatch(r"[A-Z][A-Za-z]{1,5}", t) and sum(c.isupper() for c in t) >= 2 for t in tokens
    )


def _warn_if_swapped(
    *,
    lead: str | None,
    timeline: str | None,
    ref: dt.date,
    where: str,
    lead_header: str,
    timeline_header: str,
) -> None:
    odd = []
    if _looks_like_timeline(lead, ref):
        odd.append(f"the {lead_header!r} cell looks like a timeline")
    if _looks_like_person_or_org(timeline, ref):
        odd.append(f"the {timeline_header!r} cell looks like a person or organisation")
    if odd:
        warnings.warn(
            f"{where}: {' and '.join(odd)}; the cells may be swapped and are kept as written",
            AttendanceWarning,
            stacklevel=4,
        )


def _cell_out(item: ActionPlanItem, field: str | None, fields: frozenset[str]) -> str | None:
    if field is None:
        return None
    if field == "status":
        return None if item.status is None else item.status.label
    if field == "due":
        if "timeline" not in fields and item.timeline:
            return item.timeline
        return None if item.due is None else item.due.isoformat()
    if field == "completed_on":
        return None if item.completed_on is None else item.completed_on.isoformat()
    value = getattr(item, field)
    return None if value is None else str(value)


#: Header given to a field appended to a source layout that has no column for it.
_APPENDED_HEADERS: Mapping[str, str] = {
    "pupil_id": "Pupil ID",
    "action_id": "Action ID",
    "alignment": "Alignment",
    "lead": "Lead",
    "resources": "Resources",
    "timeline": "Timeline",
    "success_measure": "Success measure",
    "status": "RAG Status",
    "completed_on": "Completed on",
    "notes": "Notes",
}


def _with_missing_columns(layout: _Layout, items: Sequence[ActionPlanItem]) -> _Layout:
    fields = layout.fields
    extra = []
    for field, header in _APPENDED_HEADERS.items():
        if field in fields or (field == "timeline" and "due" in fields):
            continue
        if any(getattr(item, field) is not None for item in items):
            extra.append((header, field))
    return attrs.evolve(layout, columns=layout.columns + tuple(extra)) if extra else layout


def _default_layout(items: Sequence[ActionPlanItem]) -> _Layout:
    keep = []
    for header, field in _DEFAULT_HEADERS:
        if field in ("id", "action") or any(
            _cell_out(i, field, frozenset({"timeline"})) is not None for i in items
        ):
            keep.append((header, field))
    return _Layout(columns=tuple(keep))
