"""A deterministic synthetic school (and local authority) for demos, tests and benchmarks.

:func:`school` builds about 1,000 pupils over the real 2024/25 academic year of an English
secondary school with a sixth form: three terms with half terms, INSET days coded ``#``, bank
holidays without marks, a snow day coded ``Y4``. Absence is drawn so that the school looks like
England's national figures (overall absence about 7 %, persistent absence about 20 % of pupils,
severe absence about 2 %), with a Friday effect, illness clusters in winter, term-time holidays,
unexplained absence still coded ``N`` at the end, lates, joiners and leavers, a few missing marks,
and cohort flags (CiN, CP, CiC, SEN, EHCP, medical, FSM, youth justice) that go with higher
absence. Nothing in it is real: names are drawn from short lists of common words.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "academic_year_days",
    "local_authority",
    "school",
    "school_days_2024_25",
    "write_exports",
]


# 2024/25 term dates of a typical English LA (Mon-Fri inside each range are school days)
_TERMS_2024_25 = [
    (dt.date(2024, 9, 2), dt.date(2024, 10, 25)),
    (dt.date(2024, 11, 4), dt.date(2024, 12, 20)),
    (dt.date(2025, 1, 6), dt.date(2025, 2, 14)),
    (dt.date(2025, 2, 24), dt.date(2025, 4, 4)),
    (dt.date(2025, 4, 22), dt.date(2025, 5, 23)),
    (dt.date(2025, 6, 2), dt.date(2025, 7, 22)),
]
_BANK_HOLIDAYS = {dt.date(2025, 5, 5)}
_INSET = {dt.date(2024, 9, 2), dt.date(2024, 9, 20), dt.date(2025, 1, 6), dt.date(2025, 6, 2)}
_SNOW_DAY = dt.date(2025, 1, 9)

_FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Riley",
    "Casey",
    "Morgan",
    "Taylor",
    "Jamie",
    "Robin",
    "Charlie",
    "Frankie",
    "Kit",
    "Rowan",
    "Ash",
    "Drew",
    "Avery",
    "Quinn",
    "Remy",
]
_LAST = [
    "Oak",
    "Birch",
    "Hazel",
    "Rowan",
    "Ash",
    "Elm",
    "Willow",
    "Alder",
    "Beech",
    "Holly",
    "Maple",
    "Cedar",
    "Larch",
    "Yew",
    "Pine",
    "Lime",
    "Aspen",
    "Fir",
]


def academic_year_days(terms: list[tuple[dt.date, dt.date]] | None = None) -> list[dt.date]:
    """Weekdays inside the term ranges, less bank holidays (INSET days included)."""
    days = []
    for start, end in terms or _TERMS_2024_25:
        d = start
        while d <= end:
            if d.weekday() < 5 and d not in _BANK_HOLIDAYS:
                days.append(d)
            d += dt.timedelta(days=1)
    return days


def school_days_2024_25() -> list[dt.date]:
    """The demo school's school days (dates with a mark other than ``#``)."""
    return [d for d in academic_year_days() if d not in _INSET]


def _upn(rng: np.random.Generator, la: int, school: int, n: int) -> list[str]:
    """Unique, valid UPNs: check letter, LA number, school number, two-digit year of
    allocation, serial. Each (year, serial) pair is drawn once, so no two pupils share a UPN
    and a UPN-keyed export of the demo keeps every pupil apart."""
    from .adapterkit import upn_check_letter

    if n > 15_000:
        raise ValueError(f"a demo school holds at most 15,000 pupils (asked for {n})")
    picks: npt.NDArray[np.int64] = rng.choice(15_000, size=n, replace=False)
    out = []
    for k in picks:
        rest = f"{la:03d}{school:04d}{10 + int(k) // 1000:02d}{int(k) % 1000:03d}"
        out.append(upn_check_letter(rest) + rest)
    return out


def school(
    seed: int = 0,
    n_pupils: int = 1000,
    school_id: str = "DEMO",
    *,
    names: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long frame and the pupils frame of a deterministic synthetic school.

    Returns ``(long, pupils)``: ``long`` has ``school_id``, ``pupil_id``, ``date``, ``session``
    and ``code`` (one row per pupil and session, as :meth:`Register.from_long` takes it);
    ``pupils`` is indexed by ``pupil_id`` with ``school_id``, ``upn``, ``name``, ``year_group``,
    ``date_of_birth``, ``admission_date``, ``leaving_date`` and the boolean cohort flags. The same
    ``seed`` gives the same school, byte for byte.
    """
    # the steps draw from one generator in a fixed order: the same seed, the same school
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number from 0 (got {seed!r})")
    rng = np.random.default_rng(seed)
    days = academic_year_days()
    ids = np.array([f"{school_id}-{i + 1:05d}" for i in range(n_pupils)], dtype=object)
    cohort = _Cohort.draw(rng, n_pupils)
    base, unauth_share = _propensity(rng, cohort.flags)
    roll = _Roll.draw(rng, n_pupils, len(days))
    codes = _marks(rng, days, cohort=cohort, roll=roll, base=base, unauth_share=unauth_share)
    _special_cases(rng, codes, days=days, year=cohort.year, roll=roll, base=base)
    long = _long_frame(codes, days, ids, school_id)
    pupils = _pupils_frame(
        rng, seed, ids=ids, school_id=school_id, days=days, cohort=cohort, roll=roll, names=names
    )
    return long, pupils


#: Year groups of the demo school: Y7-Y11 and a smaller sixth form.
_YEARS = np.array([7, 8, 9, 10, 11, 12, 13])


@attrs.frozen
class _Cohort:
    """Who the pupils are: year group, date of birth and cohort flags."""

    year: npt.NDArray[np.int64]
    dob: list[dt.date]
    flags: dict[str, npt.NDArray[np.bool_]]

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> _Cohort:
        year = rng.choice(_YEARS, size=n, p=[0.17, 0.17, 0.17, 0.16, 0.16, 0.09, 0.08])
        born_year = 2024 - year - 5
        dob = [
            dt.date(int(y), 9, 1) + dt.timedelta(days=int(o))
            for y, o in zip(born_year, rng.integers(0, 365, size=n), strict=True)
        ]
        flags = {
            "cin": rng.random(n) < 0.03,
            "cp": rng.random(n) < 0.012,
            "cic": rng.random(n) < 0.01,
            "sen": rng.random(n) < 0.13,
            "ehcp": rng.random(n) < 0.03,
            "medical": rng.random(n) < 0.04,
            "fsm": rng.random(n) < 0.24,
            "youth_justice": rng.random(n) < 0.006,
        }
        flags["sen"] |= flags["ehcp"]
        return cls(year=year, dob=dob, flags=flags)


def _propensity(
    rng: np.random.Generator, flags: dict[str, npt.NDArray[np.bool_]]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each pupil's absence propensity (share of days missed, heavier for flagged cohorts)
    and the share of their absence that is unauthorised."""
    n = len(flags["cin"])
    group = rng.random(n)
    base = np.where(
        group < 0.70,
        rng.beta(1.6, 48, n),  # mostly in school
        np.where(
            group < 0.93,
            rng.beta(3.0, 27, n),  # persistent risk
            np.where(
                group < 0.972,
                rng.beta(4.0, 6.0, n),  # persistent to severe
                rng.beta(20.0, 1.5, n),
            ),
        ),
    )  # severe
    lift = (
        1
        + 0.5 * (flags["cin"] | flags["cp"] | flags["cic"])
        + 0.3 * flags["fsm"]
        + 0.4 * flags["sen"]
        + 0.6 * flags["medical"]
        + 0.8 * flags["youth_justice"]
    )
    base = np.clip(base * lift, 0, 0.97)
    unauth_share = np.clip(rng.beta(2, 5, n) + 0.4 * (base > 0.3), 0, 0.95)
    return base, unauth_share


@attrs.frozen
class _Roll:
    """Enrolment: 3 % join during the year, 2 % leave; 4 % take a week of term-time holiday."""

    first_day: npt.NDArray[np.int64]
    last_day: npt.NDArray[np.int64]
    joiners: npt.NDArray[np.bool_]
    leavers: npt.NDArray[np.bool_]
    holiday_start: npt.NDArray[np.int64]

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, nd: int) -> _Roll:
        first_day = np.zeros(n, dtype=np.int64)
        last_day = np.full(n, nd - 1, dtype=np.int64)
        joiners = rng.random(n) < 0.03
        first_day[joiners] = rng.integers(20, nd - 20, joiners.sum())
        leavers = (rng.random(n) < 0.02) & ~joiners
        last_day[leavers] = rng.integers(30, nd - 10, leavers.sum())
        holiday_start = np.where(rng.random(n) < 0.04, rng.integers(5, nd - 10, n), -100)
        return cls(
            first_day=first_day,
            last_day=last_day,
            joiners=joiners,
            leavers=leavers,
            holiday_start=holiday_start,
        )


def _marks(
    rng: np.random.Generator,
    days: list[dt.date],
    *,
    cohort: _Cohort,
    roll: _Roll,
    base: npt.NDArray[np.float64],
    unauth_share: npt.NDArray[np.float64],
) -> npt.NDArray[np.object_]:
    """The codes, pupils × days × (AM, PM); None where a pupil is not on roll."""
    n, nd = len(base), len(days)
    codes = np.empty((n, nd, 2), dtype=object)
    ill_run = np.zeros(n, dtype=np.int64)
    late_prone = rng.random(n) < 0.15
    for j, day in enumerate(days):
        on_roll = (roll.first_day <= j) & (j <= roll.last_day)
        am = np.full(n, "/", dtype=object)
        pm = np.full(n, "\\", dtype=object)
        if day in _INSET:
            am[:], pm[:] = "#", "#"
        elif day == _SNOW_DAY:
            am[:], pm[:] = "Y4", "Y4"
        else:
            am, pm, ill_run = _school_day(
                rng,
                j,
                day,
                nd=nd,
                am=am,
                pm=pm,
                ill_run=ill_run,
                late_prone=late_prone,
                base=base,
                unauth_share=unauth_share,
            )
            hol = (j >= roll.holiday_start) & (j < roll.holiday_start + 5)
            am = np.where(hol, "G", am)
            pm = np.where(hol, "G", pm)
            # educational visits, alternative provision and dual registration
            if j % 37 == 11:
                trip = cohort.year == _YEARS[j % len(_YEARS)]
                am = np.where(trip & (am == "/"), "V", am)
                pm = np.where(trip & (pm == "\\"), "V", pm)
            sixth_free = (cohort.year >= 12) & (rng.random(n) < 0.15)
            pm = np.where(sixth_free & (pm == "\\"), "X", pm)
        codes[:, j, 0] = np.where(on_roll, am, np.array(None, dtype=object))
        codes[:, j, 1] = np.where(on_roll, pm, np.array(None, dtype=object))
    return codes


def _school_day(
    rng: np.random.Generator,
    j: int,
    day: dt.date,
    *,
    nd: int,
    am: npt.NDArray[np.object_],
    pm: npt.NDArray[np.object_],
    ill_run: npt.NDArray[np.int64],
    late_prone: npt.NDArray[np.bool_],
    base: npt.NDArray[np.float64],
    unauth_share: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """One ordinary school day's absences, illness spells, appointments and lates."""
    n = len(base)
    friday = 1.35 if day.weekday() == 4 else (1.1 if day.weekday() == 0 else 0.92)
    winter = 1.45 if day.month in (12, 1, 2) else (0.8 if day.month in (6, 7) else 1.0)
    # new absences start at a rate that spells then stretch to about ``base``
    p_abs = np.clip(base * friday * winter / 2.5, 0, 0.98)
    absent = rng.random(n) < p_abs
    # illness comes in spells: yesterday's illness often continues
    continuing = (ill_run > 0) & (rng.random(n) < 0.55)
    ill_run = np.where(continuing, ill_run + 1, 0)
    unauth = absent & ~continuing & (rng.random(n) < unauth_share)
    ill = (absent & ~unauth) | continuing
    ill_run[ill & (ill_run == 0)] = 1
    code_ill = np.where(rng.random(n) < 0.9, "I", np.where(rng.random(n) < 0.5, "C", "R"))
    code_un = np.where(rng.random(n) < 0.8, "O", "U")
    # unexplained absence in the last fortnight is still N
    if j >= nd - 8:
        code_un = np.where(rng.random(n) < 0.6, "N", code_un)
    am = np.where(ill, code_ill, np.where(unauth, code_un, am))
    pm = np.where(ill, code_ill, np.where(unauth, np.where(code_un == "U", "O", code_un), pm))
    # appointments and lates are half days
    appt = ~absent & (rng.random(n) < 0.006)
    am = np.where(appt, "M", am)
    late = ~absent & late_prone & (rng.random(n) < 0.08)
    am = np.where(late & (am == "/"), "L", am)
    return am, pm, ill_run


def _special_cases(
    rng: np.random.Generator,
    codes: npt.NDArray[np.object_],
    *,
    days: list[dt.date],
    year: npt.NDArray[np.int64],
    roll: _Roll,
    base: npt.NDArray[np.float64],
) -> None:
    """A pupil in alternative provision two days a week, one dual registered, and a register
    not taken (one form's PM on one day is missing)."""
    n, nd = len(base), len(days)
    ap = int(np.argmax(base))
    for j, day in enumerate(days):
        if day.weekday() in (1, 3) and day not in _INSET and codes[ap, j, 0] is not None:
            codes[ap, j, :] = "K"
    dual = (ap + 1) % n
    for j, day in enumerate(days):
        if day.weekday() == 2 and day not in _INSET and codes[dual, j, 0] is not None:
            codes[dual, j, :] = "D"
    miss_day = nd // 3
    form = (year == 9) & (rng.random(n) < 0.2)
    codes[form & (roll.first_day <= miss_day) & (roll.last_day >= miss_day), miss_day, 1] = "-"


def _long_frame(
    codes: npt.NDArray[np.object_],
    days: list[dt.date],
    ids: npt.NDArray[np.object_],
    school_id: str,
) -> pd.DataFrame:
    pupil_idx, day_idx, sess_idx = np.nonzero(codes != None)  # noqa: E711 — object array
    date_arr = np.array(days, dtype="datetime64[D]")
    return pd.DataFrame(
        {
            "school_id": school_id,
            "pupil_id": ids[pupil_idx],
            "date": date_arr[day_idx],
            "session": np.array(["AM", "PM"], dtype=object)[sess_idx],
            "code": codes[pupil_idx, day_idx, sess_idx],
        }
    )


def _pupils_frame(
    rng: np.random.Generator,
    seed: int,
    *,
    ids: npt.NDArray[np.object_],
    school_id: str,
    days: list[dt.date],
    cohort: _Cohort,
    roll: _Roll,
    names: bool,
) -> pd.DataFrame:
    n, la = len(ids), 881
    pupils = pd.DataFrame(
        {
            "school_id": school_id,
            "upn": _upn(rng, la, 4000 + seed % 1000, n),
            "year_group": [f"Y{y}" for y in cohort.year],
            "date_of_birth": pd.to_datetime(cohort.dob).date,
            "admission_date": [
                days[f] if jn else dt.date(2024 - (y - 7 if y < 12 else y - 12), 9, 1)
                for f, jn, y in zip(roll.first_day, roll.joiners, cohort.year, strict=True)
            ],
            "leaving_date": [
                days[last] if lv else None
                for last, lv in zip(roll.last_day, roll.leavers, strict=True)
            ],
            **cohort.flags,
        },
        index=pd.Index(ids, name="pupil_id"),
    )
    if names:
        pupils.insert(
            2,
            "name",
            [
                f"{_FIRST[a]} {_LAST[b]}"
                for a, b in zip(
                    rng.integers(0, len(_FIRST), n), rng.integers(0, len(_LAST), n), strict=True
                )
            ],
        )
    return pupils


def local_authority(
    n_schools: int = 250, pupils_per_school: int = 800, seed: int = 0
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Yield ``(long, pupils)`` school by school: a synthetic local authority for benchmarks.

    Each school is :func:`school` with its own seed and id, so the whole authority never has to
    sit in memory as a long frame.
    """
    for s in range(n_schools):
        yield school(
            seed=seed * 100_003 + s,
            n_pupils=pupils_per_school,
            school_id=f"S{s + 1:04d}",
            names=False,
        )


def write_exports(
    folder: str | os.PathLike[str], *, n_pupils: int = 30, seed: int = 0
) -> dict[str, Path]:
    """Write the demo school as the sample export files the docs and tutorials read.

    Into ``folder`` (created if needed): ``marks.csv`` (the long CSV layout, one row per pupil
    and session, no school column), ``pupils.csv`` (the pupils table: UPN, year group, ISO
    dates, Y/N flags; no names), ``marks.xlsx`` and ``marks.parquet`` (the same marks), and
    ``trust/``, a trust's folder of three schools' exports in mixed formats (``north.csv``
    names no school, so :func:`~attendance_core.load` takes ``north`` from the file name;
    ``south.xlsx`` and ``east.parquet`` carry a ``school_id`` column). Returns the paths by
    name (``"marks.csv"``, ``"trust"`` …). The same arguments write the same data.
    """
    out = Path(folder)
    (out / "trust").mkdir(parents=True, exist_ok=True)
    long, pupils = school(seed=seed, n_pupils=n_pupils, names=False)
    marks = long.drop(columns="school_id").assign(date=long["date"].dt.strftime("%Y-%m-%d"))
    paths = {name: out / name for name in ("marks.csv", "pupils.csv", "marks.xlsx")}
    paths["marks.parquet"] = out / "marks.parquet"
    marks.to_csv(paths["marks.csv"], index=False)
    marks.to_excel(paths["marks.xlsx"], index=False, sheet_name="Marks")
    marks.to_parquet(paths["marks.parquet"], index=False)
    table = pupils.drop(columns="school_id")
    for column in ("date_of_birth", "admission_date", "leaving_date"):
        table[column] = [d.isoformat() if isinstance(d, dt.date) else "" for d in table[column]]
    for column in [c for c in table.columns if pd.api.types.is_bool_dtype(table[c])]:
        table[column] = table[column].map({True: "Y", False: "N"})
    table.to_csv(paths["pupils.csv"])
    schools = {"north": ("north.csv", 1), "south": ("south.xlsx", 2), "east": ("east.parquet", 3)}
    for school_id, (name, offset) in schools.items():
        one, _ = school(seed=seed + offset, n_pupils=n_pupils, school_id=school_id)
        one = one.assign(date=one["date"].dt.strftime("%Y-%m-%d"))
        target = out / "trust" / name
        if name.endswith(".csv"):
            one.drop(columns="school_id").to_csv(target, index=False)
        elif name.endswith(".xlsx"):
            one.to_excel(target, index=False, sheet_name="Marks")
        else:
            one.to_parquet(target, index=False)
    paths["trust"] = out / "trust"
    return paths
