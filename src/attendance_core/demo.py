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
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["academic_year_days", "local_authority", "school", "school_days_2024_25"]

_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"

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
    """Valid-looking UPNs: check letter, LA number, school number, year, serial."""
    out = []
    serials: npt.NDArray[np.int64] = rng.choice(999, size=n, replace=n > 999)
    for i in range(n):
        body = f"{la:03d}{school:04d}{rng.integers(10, 25):02d}{(serials[i] + i) % 1000:03d}"
        total = sum(int(ch) * w for ch, w in zip(body, range(2, 14), strict=True))
        out.append(_UPN_LETTERS[total % 23] + body)
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
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number from 0 (got {seed!r})")
    rng = np.random.default_rng(seed)
    days = academic_year_days()
    nd, n = len(days), n_pupils
    ids = np.array([f"{school_id}-{i + 1:05d}" for i in range(n)], dtype=object)

    # who they are: Y7-Y11 and a smaller sixth form
    years = np.array([7, 8, 9, 10, 11, 12, 13])
    year = rng.choice(years, size=n, p=[0.17, 0.17, 0.17, 0.16, 0.16, 0.09, 0.08])
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

    # absence propensity per pupil (share of days missed), heavier for flagged cohorts
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

    # enrolment: 3 % join during the year, 2 % leave
    first_day = np.zeros(n, dtype=np.int64)
    last_day = np.full(n, nd - 1, dtype=np.int64)
    joiners = rng.random(n) < 0.03
    first_day[joiners] = rng.integers(20, nd - 20, joiners.sum())
    leavers = (rng.random(n) < 0.02) & ~joiners
    last_day[leavers] = rng.integers(30, nd - 10, leavers.sum())
    # term-time holiday: 4 % of pupils take a week of G
    holiday_start = np.where(rng.random(n) < 0.04, rng.integers(5, nd - 10, n), -100)

    codes = np.empty((n, nd, 2), dtype=object)
    ill_run = np.zeros(n, dtype=np.int64)
    late_prone = rng.random(n) < 0.15
    for j, day in enumerate(days):
        on_roll = (first_day <= j) & (j <= last_day)
        am = np.full(n, "/", dtype=object)
        pm = np.full(n, "\\", dtype=object)
        if day in _INSET:
            am[:], pm[:] = "#", "#"
        elif day == _SNOW_DAY:
            am[:], pm[:] = "Y4", "Y4"
        else:
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
            pm = np.where(
                ill, code_ill, np.where(unauth, np.where(code_un == "U", "O", code_un), pm)
            )
            # appointments and lates are half days
            appt = ~absent & (rng.random(n) < 0.006)
            am = np.where(appt, "M", am)
            late = ~absent & late_prone & (rng.random(n) < 0.08)
            am = np.where(late & (am == "/"), "L", am)
            hol = (j >= holiday_start) & (j < holiday_start + 5)
            am = np.where(hol, "G", am)
            pm = np.where(hol, "G", pm)
            # educational visits, alternative provision and dual registration
            if j % 37 == 11:
                trip = year == years[j % len(years)]
                am = np.where(trip & (am == "/"), "V", am)
                pm = np.where(trip & (pm == "\\"), "V", pm)
            sixth_free = (year >= 12) & (rng.random(n) < 0.15)
            pm = np.where(sixth_free & (pm == "\\"), "X", pm)
        codes[:, j, 0] = np.where(on_roll, am, np.array(None, dtype=object))
        codes[:, j, 1] = np.where(on_roll, pm, np.array(None, dtype=object))

    # a pupil in alternative provision two days a week, one dual registered
    ap = int(np.argmax(base))
    for j, day in enumerate(days):
        if day.weekday() in (1, 3) and day not in _INSET and codes[ap, j, 0] is not None:
            codes[ap, j, :] = "K"
    dual = (ap + 1) % n
    for j, day in enumerate(days):
        if day.weekday() == 2 and day not in _INSET and codes[dual, j, 0] is not None:
            codes[dual, j, :] = "D"
    # a register not taken: one form's PM on one day is missing; two stray blank marks
    miss_day = nd // 3
    form = (year == 9) & (rng.random(n) < 0.2)
    codes[form & (first_day <= miss_day) & (last_day >= miss_day), miss_day, 1] = "-"

    pupil_idx, day_idx, sess_idx = np.nonzero(codes != None)  # noqa: E711 — object array
    date_arr = np.array(days, dtype="datetime64[D]")
    long = pd.DataFrame(
        {
            "school_id": school_id,
            "pupil_id": ids[pupil_idx],
            "date": date_arr[day_idx],
            "session": np.array(["AM", "PM"], dtype=object)[sess_idx],
            "code": codes[pupil_idx, day_idx, sess_idx],
        }
    )
    la = 881
    pupils = pd.DataFrame(
        {
            "school_id": school_id,
            "upn": _upn(rng, la, 4000 + seed % 1000, n),
            "year_group": [f"Y{y}" for y in year],
            "date_of_birth": pd.to_datetime(dob).date,
            "admission_date": [
                days[f] if jn else dt.date(2024 - (y - 7 if y < 12 else y - 12), 9, 1)
                for f, jn, y in zip(first_day, joiners, year, strict=True)
            ],
            "leaving_date": [
                days[last] if lv else None for last, lv in zip(last_day, leavers, strict=True)
            ],
            **flags,
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
    return long, pupils


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
