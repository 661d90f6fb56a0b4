"""Enforcement as an attendance officer would check it: one scenario per row of api.md's rule
table (register, pupils, history, plans, as_of -> steps), at and just short of each threshold,
across half term and academic years, for each cohort flag, with and without a case history;
reasons read against the spec's rules; support before enforcement as a property."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

import attrs
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core.escalation import NextStep, Stage, recommend, step_figures
from attendance_core.plans import RAG
from attendance_core.policy import policies
from test_escalation import AS_OF, DAYS, D, P, absent, actions, build, events, item, run, step

NOT_WORKED = ("support_not_worked", D(2024, 11, 29))
CONSULTED = ("attendance_officer_consulted", D(2024, 12, 2))
AGREED = ("social_worker_agreed", D(2024, 12, 2))


def pn(day: dt.date, parent: str | None = "M1", outcome: str | None = "paid") -> tuple[Any, ...]:
    return ("penalty_notice", day, {"parent_id": parent, "outcome": outcome})


def nti(day: dt.date, until: dt.date | None = None) -> tuple[Any, ...]:
    return ("notice_to_improve", day, {"until": until})


@attrs.frozen(kw_only=True)
class Case:
    """One scenario: a pupil "A", a history and plans, a date, and what must (not) follow."""

    pupil: P
    history: Sequence[tuple[Any, ...]] = ()
    plans: Sequence[Any] = ()
    as_of: dt.date = AS_OF
    fires: frozenset[str] = frozenset()
    not_fires: frozenset[str] = frozenset()
    policy: str = "england-2024"

    def steps(self) -> list[NextStep]:
        return run(
            self.pupil,
            plans=list(self.plans) or None,
            history=events(*self.history),
            as_of=self.as_of,
            policy=self.policy,
        )


def case(pupil: P, fires: str = "", not_fires: str = "", **kw: Any) -> Case:
    return Case(
        pupil=pupil, fires=frozenset(fires.split()), not_fires=frozenset(not_fires.split()), **kw
    )


A = "A"
THRESHOLD = absent(10, "O")
# 10 sessions in the last week of term before half term, none since (as_of 13 Dec): still in
# the 10-week window, which skips the half-term week
BEFORE_HALF_TERM = dict.fromkeys(DAYS[15:20], ("O", "O"))
# an N on Friday 25 Oct (before half term): its age counts school days only
N_BEFORE_HALF_TERM = {D(2024, 10, 25): ("N", "N")}
NOV_PERIOD_ABSENCE = {D(2024, 11, 12): ("O", "O"), D(2024, 11, 13): ("N", "/")}

SCENARIOS: dict[str, Case] = {
    # ---- first_day_contact: each day of unexplained absence, saying which day it is
    "first_day_contact met": case(P(id=A, tail=["N", "N"]), "first_day_contact"),
    "first_day_contact third day": case(
        P(id=A, tail=["I", "I", "I", "I", "N", "N"]), "first_day_contact"
    ),
    "first_day_contact yesterday only": case(
        P(id=A, tail=["N", "N", "/", "\\"]), not_fires="first_day_contact"
    ),
    # ---- resolve_unexplained_absence: more than 5 school days, across half term
    "resolve N across half term met": case(
        P(id=A, marks=N_BEFORE_HALF_TERM), "resolve_unexplained_absence", as_of=D(2024, 11, 11)
    ),
    "resolve N across half term short": case(
        P(id=A, marks=N_BEFORE_HALF_TERM),
        not_fires="resolve_unexplained_absence",
        as_of=D(2024, 11, 8),
    ),
    # ---- notify_la_continuous_absence: once per run
    "continuous absence met": case(P(id=A, tail=absent(20, "O")), "notify_la_continuous_absence"),
    "continuous absence 9 days": case(
        P(id=A, tail=absent(18, "O")), not_fires="notify_la_continuous_absence"
    ),
    "continuous absence notified within the run, 30+ school days ago": case(
        P(id=A, head=absent(100, "O")),
        not_fires="notify_la_continuous_absence",
        history=[("la_notified_continuous_absence", D(2024, 10, 14))],
    ),
    "continuous absence notified for an earlier run": case(
        P(id=A, head=absent(20, "O"), tail=absent(20, "N")),
        "notify_la_continuous_absence",
        history=[("la_notified_continuous_absence", D(2024, 10, 11))],
    ),
    "continuous absence before compulsory school age": case(
        P(id=A, tail=absent(20, "O"), year_group="R", dob=D(2019, 10, 15)),
        not_fires="notify_la_continuous_absence",
    ),
    # ---- notify_la_illness_15_days: once a year
    "illness met": case(P(id=A, head=absent(30)), "notify_la_illness_15_days"),
    "illness short": case(P(id=A, head=absent(29)), not_fires="notify_la_illness_15_days"),
    "illness notified earlier this year, 30+ school days ago": case(
        P(id=A, head=absent(60)),
        not_fires="notify_la_illness_15_days",
        history=[("la_notified_illness", D(2024, 10, 18))],
    ),
    "illness notified last academic year": case(
        P(id=A, head=absent(30)),
        "notify_la_illness_15_days",
        history=[("la_notified_illness", D(2024, 6, 3))],
    ),
    # ---- cohort notifications
    **{
        f"inform_social_worker {flag}": case(
            P(id=A, tail=["O"], flags=(flag,)),
            "inform_social_worker",
            not_fires="inform_youth_justice_worker",
        )
        for flag in ("cin", "cp", "cic")
    },
    "inform_social_worker 11 days ago": case(
        P(id=A, marks={DAYS[-11]: ("O", "\\")}, flags=("cin",)), not_fires="inform_social_worker"
    ),
    "inform_youth_justice_worker met": case(
        P(id=A, tail=["U"], flags=("youth_justice",)),
        "inform_youth_justice_worker",
        not_fires="inform_social_worker",
    ),
    "inform_youth_justice_worker authorised absence": case(
        P(id=A, tail=["I", "I"], flags=("youth_justice",)),
        not_fires="inform_youth_justice_worker",
    ),
    # ---- bands
    "attendance_conversation": case(P(id=A, head=absent(6)), "attendance_conversation"),
    "attendance_meeting": case(
        P(id=A, head=absent(10)), "attendance_meeting early_help_assessment"
    ),
    "review_support": case(P(id=A, head=absent(21)), "review_support"),
    "targeting_support_meeting": case(P(id=A, head=absent(50)), "targeting_support_meeting"),
    "bring_forward_ehcp_review": case(
        P(id=A, head=absent(21), flags=("ehcp",)), "bring_forward_ehcp_review"
    ),
    # ---- escalate_virtual_school: looked-after children only (county: wider)
    "virtual school cic": case(P(id=A, head=absent(50), flags=("cic",)), "escalate_virtual_school"),
    **{
        f"virtual school not for {flag}": case(
            P(id=A, head=absent(50), flags=(flag,)), not_fires="escalate_virtual_school"
        )
        for flag in ("cin", "cp")
    },
    "virtual school county cp": case(
        P(id=A, head=absent(50), flags=("cp",)),
        "escalate_virtual_school",
        policy="county-five-band",
    ),
    # ---- threshold: the 10-week window crosses half term
    "threshold before half term": case(
        P(id=A, marks=BEFORE_HALF_TERM),
        "offer_support_before_enforcement consult_attendance_officer",
    ),
    "threshold 9 sessions": case(
        P(id=A, tail=absent(9, "O")),
        not_fires="offer_support_before_enforcement consult_attendance_officer",
    ),
    "agree_with_social_worker": case(
        P(id=A, tail=THRESHOLD, flags=("cp",)), "agree_with_social_worker"
    ),
    # ---- notice_to_improve
    "notice_to_improve with history": case(
        P(id=A, tail=THRESHOLD), "notice_to_improve", history=[NOT_WORKED, CONSULTED]
    ),
    "notice_to_improve overdue support is not 'not engaged'": case(
        P(id=A, tail=THRESHOLD),
        not_fires="notice_to_improve",
        history=[CONSULTED],
        plans=[item("attendance_meeting", RAG.OVERDUE)],
    ),
    "notice_to_improve social worker not agreed": case(
        P(id=A, tail=THRESHOLD, flags=("cic",)),
        "agree_with_social_worker",
        not_fires="notice_to_improve",
        history=[NOT_WORKED, CONSULTED],
    ),
    "notice_to_improve social worker agreed": case(
        P(id=A, tail=THRESHOLD, flags=("cic",)),
        "notice_to_improve",
        history=[NOT_WORKED, CONSULTED, AGREED],
    ),
    "notice_to_improve recent one": case(
        P(id=A, tail=THRESHOLD),
        not_fires="notice_to_improve",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 10, 7), D(2024, 10, 28))],
    ),
    "notice_to_improve not with two penalty notices": case(
        P(id=A, tail=THRESHOLD),
        "consider_other_legal_action",
        not_fires="notice_to_improve consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, pn(D(2024, 9, 9)), pn(D(2024, 10, 1))],
    ),
    # ---- consider_penalty_notice after a notice to improve
    "penalty notice after an unimproved period": case(
        P(id=A, tail=THRESHOLD, marks=NOV_PERIOD_ABSENCE),
        "consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 11, 4), D(2024, 11, 25))],
    ),
    "no penalty notice after an improved period": case(
        P(id=A, tail=THRESHOLD),
        not_fires="consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 11, 4), D(2024, 11, 25))],
    ),
    "no penalty notice while the period runs": case(
        P(id=A, tail=THRESHOLD, marks=NOV_PERIOD_ABSENCE),
        not_fires="consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 11, 11), D(2024, 12, 16))],
    ),
    "a missing until is 3 weeks": case(
        P(id=A, tail=THRESHOLD, marks=NOV_PERIOD_ABSENCE),
        "consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 11, 4))],
    ),
    "a missing until is 3 weeks: not ended yet": case(
        P(id=A, tail=THRESHOLD, marks={D(2024, 11, 26): ("O", "O")}),
        not_fires="consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 11, 25))],
    ),
    "penalty notice needs the social worker's agreement": case(
        P(id=A, tail=THRESHOLD, marks=NOV_PERIOD_ABSENCE, flags=("cin",)),
        not_fires="consider_penalty_notice",
        history=[NOT_WORKED, CONSULTED, nti(D(2024, 11, 4), D(2024, 11, 25))],
    ),
    # ---- holiday-only route
    "holiday-only penalty notice": case(P(id=A, tail=absent(10, "G")), "consider_penalty_notice"),
    "holiday-only but 9 sessions": case(
        P(id=A, tail=absent(9, "G")), not_fires="consider_penalty_notice"
    ),
    "holiday-only with two notices": case(
        P(id=A, tail=absent(10, "G")),
        "consider_other_legal_action",
        not_fires="consider_penalty_notice",
        history=[pn(D(2024, 9, 9)), pn(D(2024, 10, 1))],
    ),
    "holiday-only, one notice withdrawn": case(
        P(id=A, tail=absent(10, "G")),
        "consider_penalty_notice",
        not_fires="consider_other_legal_action",
        history=[pn(D(2024, 9, 9)), pn(D(2024, 10, 1), outcome="withdrawn")],
    ),
    "holiday-only, notices to two parents": case(
        P(id=A, tail=absent(10, "G")),
        "consider_penalty_notice",
        history=[pn(D(2024, 9, 9), "M1"), pn(D(2024, 10, 1), "M2")],
    ),
    "holiday-only, a notice with no parent counts for any": case(
        P(id=A, tail=absent(10, "G")),
        "consider_other_legal_action",
        not_fires="consider_penalty_notice",
        history=[pn(D(2024, 9, 9), "M1"), pn(D(2024, 10, 1), None)],
    ),
    "holiday-only, a notice more than 3 years ago": case(
        P(id=A, tail=absent(10, "G")),
        "consider_penalty_notice",
        history=[pn(D(2021, 12, 13)), pn(D(2024, 10, 1))],
    ),
    "holiday-only, a notice 3 years ago to the day less one": case(
        P(id=A, tail=absent(10, "G")),
        "consider_other_legal_action",
        history=[pn(D(2021, 12, 14)), pn(D(2024, 10, 1))],
    ),
    # ---- sessions covered by a penalty notice do not count again
    "threshold only before the latest notice": case(
        P(id=A, tail=absent(10, "G")),
        not_fires="consider_penalty_notice consider_other_legal_action",
        history=[pn(D(2024, 9, 9)), pn(AS_OF)],
    ),
    "other legal action, 8 sessions since the latest notice": case(
        P(id=A, tail=absent(11, "O")),
        not_fires="consider_other_legal_action",
        history=[pn(D(2024, 9, 9)), pn(D(2024, 12, 9), outcome=None)],
    ),
    "other legal action after prosecution recorded": case(
        P(id=A, tail=THRESHOLD),
        not_fires="consider_other_legal_action",
        history=[pn(D(2024, 9, 9)), pn(D(2024, 10, 1)), ("prosecution", D(2024, 12, 2))],
    ),
    # ---- prosecute_or_withdraw_penalty_notice
    "unpaid notice": case(
        P(id=A),
        "prosecute_or_withdraw_penalty_notice",
        history=[pn(D(2024, 12, 2), outcome="unpaid")],
    ),
    "paid notice": case(
        P(id=A),
        not_fires="prosecute_or_withdraw_penalty_notice",
        history=[pn(D(2024, 9, 2), outcome="paid")],
    ),
    "no outcome, 28 days after receipt": case(
        P(id=A, end=D(2024, 12, 4)),
        "prosecute_or_withdraw_penalty_notice",
        history=[pn(D(2024, 11, 4), outcome=None)],
        as_of=D(2024, 12, 4),
    ),
    "no outcome, last day to pay": case(
        P(id=A, end=D(2024, 12, 4)),
        not_fires="prosecute_or_withdraw_penalty_notice",
        history=[pn(D(2024, 11, 4), outcome=None)],
        as_of=D(2024, 12, 3),
    ),
    "unpaid notice, prosecuted since": case(
        P(id=A),
        not_fires="prosecute_or_withdraw_penalty_notice",
        history=[pn(D(2024, 10, 1), outcome="unpaid"), ("prosecution", D(2024, 11, 20))],
    ),
    "unpaid notice, pupil now past compulsory school age": case(
        P(id=A, year_group="Y12"),
        "prosecute_or_withdraw_penalty_notice",
        history=[pn(D(2024, 10, 1), outcome="unpaid")],
    ),
    # ---- compulsory school age per session: 5 on 15 Oct 2024, compulsory from 31 Dec
    "sessions before compulsory school age do not count": case(
        P(
            id=A,
            end=D(2025, 1, 10),
            marks=dict.fromkeys(DAYS[-5:], ("O", "O")),
            year_group="R",
            dob=D(2019, 10, 15),
        ),
        not_fires="consult_attendance_officer offer_support_before_enforcement",
        as_of=D(2025, 1, 10),
    ),
    "sessions after compulsory school age starts count": case(
        P(id=A, end=D(2025, 1, 10), tail=THRESHOLD, year_group="R", dob=D(2019, 10, 15)),
        "consult_attendance_officer",
        as_of=D(2025, 1, 10),
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario = SCENARIOS[name]
    steps = scenario.steps()
    got = set(actions(steps))
    assert scenario.fires <= got, f"missing {scenario.fires - got}"
    assert not scenario.not_fires & got, f"unexpected {scenario.not_fires & got}"
    for s in steps:
        rule = policies()[scenario.policy].rule(s.rule)
        assert (s.stage, s.lead) == (rule.stage, rule.lead)


def test_every_rule_of_the_table_has_a_scenario() -> None:
    table = {
        "first_day_contact", "resolve_unexplained_absence", "notify_la_continuous_absence",
        "notify_la_illness_15_days", "inform_social_worker", "inform_youth_justice_worker",
        "attendance_conversation", "attendance_meeting", "early_help_assessment",
        "review_support", "targeting_support_meeting", "escalate_virtual_school",
        "bring_forward_ehcp_review", "offer_support_before_enforcement",
        "consult_attendance_officer", "agree_with_social_worker", "notice_to_improve",
        "consider_penalty_notice", "consider_other_legal_action",
        "prosecute_or_withdraw_penalty_notice",
    }  # fmt: skip
    fired = set().union(*(c.fires for c in SCENARIOS.values()))
    held = set().union(*(c.not_fires for c in SCENARIOS.values()))
    assert table <= fired and table - {"attendance_conversation"} <= held | {
        "attendance_meeting",
        "early_help_assessment",
        "review_support",
        "targeting_support_meeting",
        "bring_forward_ehcp_review",
        "agree_with_social_worker",
    }
    assert table <= set(policies()["england-2024"].actions)


# ------------------------------------------------------------------ figures behind the steps
def test_first_day_contact_says_which_day() -> None:
    first = step(run(P(id=A, tail=["N", "N"])), "first_day_contact")
    assert first.evidence["absence_day_of_run"] == 1
    assert "the first school day of this absence" in first.reason
    third = step(run(P(id=A, tail=["I", "I", "O", "I", "N", "N"])), "first_day_contact")
    assert third.evidence["absence_day_of_run"] == 3
    assert "the third school day of this absence" in third.reason
    # a day with no possible session (X) neither counts nor breaks the run
    neutral = P(id=A, tail=["I", "I", "X", "X", "N", "N"])
    assert step(run(neutral), "first_day_contact").evidence["absence_day_of_run"] == 2
    # an N in the morning after attending yesterday
    morning = step(run(P(id=A, tail=["N", "/"])), "first_day_contact")
    assert morning.evidence["absence_day_of_run"] == 1


def test_penalty_notices_counted_per_parent() -> None:
    two_parents = events(
        pn(D(2024, 9, 9), "M1"), pn(D(2024, 10, 1), "M2"), pn(D(2024, 11, 4), None)
    )
    s = step(run(P(id=A, tail=absent(10, "G")), history=two_parents), "consider_other_legal_action")
    # the notice with no parent counts for both: M1 and M2 each have 2
    assert s.evidence["penalty_notices_by_parent"] == {"M1": 2, "M2": 2}
    one = events(pn(D(2024, 9, 9), "M1"), pn(D(2024, 10, 1), "M2"))
    s = step(run(P(id=A, tail=absent(10, "G")), history=one), "consider_penalty_notice")
    assert s.evidence["penalty_notices_by_parent"] == {"M1": 1, "M2": 1}
    assert s.evidence["rate"] == "second"  # for either parent
    unnamed = events(pn(D(2024, 9, 9), None))
    s = step(run(P(id=A, tail=absent(10, "G")), history=unnamed), "consider_penalty_notice")
    assert s.evidence["penalty_notices_by_parent"] == {"(parent not recorded)": 1}


def test_penalty_notice_rate_and_count() -> None:
    history = events(pn(D(2024, 10, 1)))
    s = step(run(P(id=A, tail=absent(10, "G")), history=history), "consider_penalty_notice")
    assert s.evidence["penalty_notices_3_years"] == 1 and s.evidence["rate"] == "second"
    s = step(run(P(id=A, tail=absent(10, "G"))), "consider_penalty_notice")
    assert s.evidence["penalty_notices_3_years"] == 0 and s.evidence["rate"] == "first"
    other = step(
        run(P(id=A, tail=absent(10, "G")), history=events(pn(D(2024, 9, 9)), pn(D(2024, 10, 1)))),
        "consider_other_legal_action",
    )
    assert other.evidence["penalty_notices_3_years"] == 2
    assert other.evidence["latest_penalty_notice"] == D(2024, 10, 1)
    assert "prosecution" in other.reason and other.stage is Stage.ENFORCE


def test_the_three_years_run_from_the_first_notice_of_the_period() -> None:
    """The framework: the three-year period "starts from the date of issue of the first
    penalty notice" (the issue's wording and dfe-rules.md §4.2), not three years back from
    the run. A first notice in January 2021 and a second in June 2023 make a period that ended
    in January 2024: in December 2024 none count, where three years back from the run would
    count the second and give the higher rate."""
    from attendance_core.escalation import _current_period

    first, second = D(2021, 1, 11), D(2023, 6, 5)
    assert _current_period([first, second], D(2023, 12, 1), 3) == [first, second]
    assert _current_period([first, second], D(2024, 1, 11), 3) == []
    assert _current_period([first, second, D(2024, 2, 5)], D(2024, 12, 2), 3) == [D(2024, 2, 5)]
    assert _current_period([D(2020, 2, 29)], D(2023, 2, 28), 3) == [D(2020, 2, 29)]
    assert _current_period([D(2020, 2, 29)], D(2023, 3, 1), 3) == []
    history = events(pn(first), pn(second))
    s = step(run(P(id=A, tail=absent(10, "G")), history=history), "consider_penalty_notice")
    assert s.evidence["penalty_notices_3_years"] == 0 and s.evidence["rate"] == "first"


def test_threshold_leaves_out_sessions_covered_by_the_latest_notice() -> None:
    pupil = P(id=A, tail=absent(16, "G"))  # 6 Dec PM ... 13 Dec: 16 sessions
    reg, table = build([pupil])
    history = events(pn(D(2024, 12, 9)))
    fig = step_figures(reg, pupils=table, as_of=AS_OF, history=history)
    assert fig.loc[A, "unauthorised_sessions_10_weeks"] == 8  # 10-13 Dec only
    assert fig.loc[A, "penalty_notices_3_years"] == 1
    assert "consider_penalty_notice" not in actions(run(pupil, history=history))


def test_unpaid_notice_step_and_receipt_in_working_days() -> None:
    # issued Thu 7 Nov: received Mon 11 Nov (2 working days), last day to pay Sun 8 Dec
    history = events(pn(D(2024, 11, 7), outcome=None))
    pupil = P(id=A, end=D(2024, 12, 10))
    assert "prosecute_or_withdraw_penalty_notice" not in actions(
        run(pupil, history=history, as_of=D(2024, 12, 6))
    )
    s = step(
        run(pupil, history=history, as_of=D(2024, 12, 9)), "prosecute_or_withdraw_penalty_notice"
    )
    assert s.evidence["unpaid_penalty_notice_dates"] == [D(2024, 11, 7)]
    assert (s.stage, s.lead, s.due) == (Stage.ENFORCE, "attendance_officer", D(2024, 12, 9))
    assert "7 November 2024" in s.reason


def test_improvement_period_outside_3_to_6_weeks_warns_and_keeps_3_weeks() -> None:
    pupil = P(id=A, tail=THRESHOLD, marks={D(2024, 12, 2): ("O", "O")})
    history = events(NOT_WORKED, CONSULTED, nti(D(2024, 11, 28), D(2024, 12, 3)))
    with pytest.warns(ac.AttendanceWarning, match="improvement period of 5 days"):
        steps = run(pupil, history=history)
    # the period runs to 19 Dec whatever until says: no penalty notice on 13 Dec
    assert "consider_penalty_notice" not in actions(steps)
    with pytest.warns(ac.AttendanceWarning, match="improvement period of 5 days"):
        later = run(
            attrs.evolve(pupil, end=D(2024, 12, 20)), history=history, as_of=D(2024, 12, 20)
        )
    s = step(later, "consider_penalty_notice")
    assert s.evidence["improvement_period_end"] == D(2024, 12, 19)
    assert s.evidence["improvement_period_sessions"] == 2 + 8  # 2 Dec, 16-19 Dec


def test_history_respects_school_id() -> None:
    a1 = P(id=A, school_id="S1", tail=THRESHOLD)
    a2 = P(id=A, school_id="S2", tail=THRESHOLD)
    reg, table = build([a1, a2])
    history = ac.CaseHistory(
        events=[
            ac.CaseEvent(pupil_id=A, school_id="S1", event=event, date=D(2024, 12, 2))
            for event in ("support_not_worked", "attendance_officer_consulted")
        ]
    )
    steps = recommend(reg, pupils=table, history=history, as_of=AS_OF)
    nti_at = {s.school_id for s in steps if s.action == "notice_to_improve"}
    assert nti_at == {"S1"}
    consulted_at = {s.school_id for s in steps if s.action == "consult_attendance_officer"}
    assert consulted_at == {"S2"}
    # an event without a school answers every enrolment of the pupil
    anywhere = ac.CaseHistory(events=[attrs.evolve(e, school_id=None) for e in history.events])
    steps = recommend(reg, pupils=table, history=anywhere, as_of=AS_OF)
    assert {s.school_id for s in steps if s.action == "notice_to_improve"} == {"S1", "S2"}


def test_framework_numbers_are_policy_data(tmp_path: Any) -> None:
    import tomllib
    from pathlib import Path

    import attendance_core

    source = Path(attendance_core.__file__).parent / "data" / "policies" / "england-2024.toml"
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    data["id"] = "local"
    data["framework"]["penalty_notice_limit"] = 1
    data["framework"]["count_penalty_notices_from"] = D(2024, 8, 19)
    history = events(pn(D(2024, 10, 1)))
    steps = run(P(id=A, tail=absent(10, "G")), history=history, policy=data)  # type: ignore[arg-type]
    assert "consider_other_legal_action" in actions(steps)
    # a notice before the date the LA counts from does not count
    early = events(pn(D(2024, 8, 1)))
    steps = run(P(id=A, tail=absent(10, "G")), history=early, policy=data)  # type: ignore[arg-type]
    assert step(steps, "consider_penalty_notice").evidence["penalty_notices_3_years"] == 0
    data["framework"]["improvement_period_weeks"] = [6, 3]
    with pytest.raises(ac.PolicyError, match="improvement_period_weeks"):
        recommend(build([P(id=A)])[0], policy=data)
    data["framework"] = {"penalty_notice_limt": 2}
    with pytest.raises(ac.PolicyError, match="unknown field"):
        recommend(build([P(id=A)])[0], policy=data)
    data["framework"] = {}
    data["rule"][0]["once"] = "run"  # first_day_contact is decided per enrolment
    with pytest.raises(ac.PolicyError, match="'once'"):
        recommend(build([P(id=A)])[0], policy=data)
    data["rule"][0]["once"] = "weekly"
    with pytest.raises(ac.PolicyError, match="'once'"):
        recommend(build([P(id=A)])[0], policy=data)


def test_illness_sessions_before_compulsory_school_age_do_not_count() -> None:
    pupil = P(id=A, end=D(2025, 1, 31), head=absent(60), year_group="R", dob=D(2019, 10, 15))
    reg, table = build([pupil])
    fig = step_figures(reg, pupils=table, as_of=D(2025, 1, 31))
    assert fig.loc[A, "illness_sessions"] == 0
    late = attrs.evolve(pupil, head=(), tail=absent(30))
    fig = step_figures(*build([late]), as_of=D(2025, 1, 31))
    assert fig.loc[A, "illness_sessions"] == 30
    assert "notify_la_illness_15_days" in actions(run(late, as_of=D(2025, 1, 31)))


# ------------------------------------------------------------------ reasons a parent could read
_PERCENT = re.compile(r"(\d+\.\d)%")


def check_reason(s: NextStep) -> None:
    """The reason rules of api.md and issue 14, on one step."""
    text = s.reason
    assert text.endswith(".") and text[0].isupper(), text
    assert not re.search(r"\.\s", text), f"one sentence: {text}"
    assert "{" not in text and "still needs" not in text and "held back" not in text, text
    assert "without permission" not in text, text
    assert "first day" not in text or s.evidence.get("absence_day_of_run") == 1, text
    rate = s.evidence.get("attendance_rate")
    if rate is not None and not math.isnan(rate):
        shown = _PERCENT.findall(text)
        truncated = f"{math.floor(round(rate * 1000, 6)) / 10:.1f}"
        assert truncated in shown, (text, rate)
        if s.evidence.get("band") == "at_risk_of_persistent_absence":
            assert "95.0%" not in text


def test_every_reason_of_the_demo_school() -> None:
    long, pupils = ac.demo.school(seed=0)
    reg = ac.Register.from_long(long)
    steps = recommend(reg, pupils=pupils)
    # a case history for the pupils at the threshold: notices to improve and penalty notices
    at_threshold = sorted({s.pupil_id for s in steps if s.action == "consult_attendance_officer"})
    assert at_threshold
    day = max(s.due for s in steps)
    rows = []
    for k, pid in enumerate(at_threshold):
        school = pupils.loc[pid, "school_id"] if "school_id" in pupils.columns else None
        base = {"pupil_id": pid, "school_id": school, "parent_id": "P1"}
        rows.append({**base, "event": "support_not_worked", "date": day - dt.timedelta(days=60)})
        rows.append(
            {**base, "event": "attendance_officer_consulted", "date": day - dt.timedelta(days=59)}
        )
        rows.append({**base, "event": "social_worker_agreed", "date": day - dt.timedelta(days=59)})
        rows.append(
            {**base, "event": "notice_to_improve", "date": day - dt.timedelta(days=58 - k % 3)}
        )
        if k % 2:
            rows.append(
                {
                    **base,
                    "event": "penalty_notice",
                    "date": day - dt.timedelta(days=400),
                    "outcome": "unpaid",
                }
            )
    history = pd.DataFrame(rows)
    with_history = recommend(reg, pupils=pupils, history=history)
    assert {"prosecute_or_withdraw_penalty_notice"} <= {s.action for s in with_history}
    for s in [*steps, *with_history]:
        check_reason(s)


def test_percentages_truncated_never_rounded_across_a_band_edge() -> None:
    # 2 of 40 sessions missed after 1899 of 2000? Build 94.97%: 1899/2000 is not reachable in a
    # term, so check the writer and one real pupil: 189 attended of 199 possible = 94.97%
    from attendance_core.escalation import _percent

    assert _percent(189 / 199) == "94.9%"
    assert _percent(0.95) == "95.0%" and _percent(57 / 60) == "95.0%"
    assert _percent(0.9) == "90.0%" and _percent(1.0) == "100.0%" and _percent(0.0) == "0.0%"


def test_mostly_illness_is_said_without_alarm() -> None:
    ill = run(P(id=A, head=absent(50)))
    s = step(ill, "consider_safeguarding_referral")
    assert "illness" in s.reason and "protection" not in s.reason
    assert "illness" in step(ill, "early_help_assessment").reason
    truant = run(P(id=A, head=absent(50, "O")))
    assert "protection" in step(truant, "consider_safeguarding_referral").reason


def test_threshold_reason_names_what_the_codes_mean() -> None:
    s = step(
        run(P(id=A, tail=["G", "G", "N", "N", "N", "U", "U", "O", "O", "O"])),
        "consult_attendance_officer",
    )
    assert "2 for a holiday the school did not agree" in s.reason
    assert "3 whose reason is not yet known" in s.reason
    assert "2 arriving after the register closed" in s.reason
    assert "3 of other absence the school did not authorise" in s.reason


# ------------------------------------------------------------------ support before enforcement
EVENT_CHOICES: list[tuple[str, dt.date, dict[str, Any]]] = [
    ("support_not_worked", D(2024, 11, 29), {}),
    ("support_not_engaged", D(2024, 12, 2), {}),
    ("attendance_officer_consulted", D(2024, 12, 2), {}),
    ("social_worker_agreed", D(2024, 12, 2), {}),
    ("notice_to_improve", D(2024, 11, 4), {"until": D(2024, 11, 25)}),
    ("notice_to_improve", D(2024, 11, 25), {}),
    ("penalty_notice", D(2024, 9, 9), {"parent_id": "M1", "outcome": "paid"}),
    ("penalty_notice", D(2024, 10, 7), {"parent_id": None, "outcome": None}),
    ("penalty_notice", D(2024, 11, 18), {"parent_id": "M2", "outcome": "withdrawn"}),
    ("prosecution", D(2024, 11, 20), {}),
]
CODES = ["/", "\\", "O", "G", "N", "U", "I", "/", "\\", "/"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[P], Any]:
    pupils, rows = [], []
    for i in range(draw(st.integers(1, 3))):
        codes = draw(st.lists(st.sampled_from(CODES), min_size=60, max_size=60))
        marks = {d: (codes[2 * k], codes[2 * k + 1]) for k, d in enumerate(DAYS[-30:])}
        pupils.append(
            P(
                id=f"A{i}",
                marks=marks,
                flags=tuple(draw(st.sets(st.sampled_from(["cin", "cp", "cic", "youth_justice"])))),
                year_group=draw(st.sampled_from(["R", "Y3", "Y9", "Y12", None])),
            )
        )
        chosen = draw(st.sets(st.integers(0, len(EVENT_CHOICES) - 1)))
        for j in sorted(chosen):
            event, day, extra = EVENT_CHOICES[j]
            rows.append(ac.CaseEvent(pupil_id=f"A{i}", event=event, date=day, **extra))
    return pupils, ac.CaseHistory(events=rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_property_support_comes_before_enforcement(case_: tuple[list[P], Any]) -> None:
    pupils, history = case_
    reg, table = build(pupils)
    steps = recommend(reg, pupils=table, history=history, as_of=AS_OF)
    for s in steps:
        if s.stage is not Stage.ENFORCE:
            continue
        mine = [e for e in history.events if e.pupil_id == s.pupil_id and e.date <= AS_OF]
        kinds = {e.event for e in mine}
        if s.action == "prosecute_or_withdraw_penalty_notice":
            assert "penalty_notice" in kinds
            continue
        p = next(p for p in pupils if p.id == s.pupil_id)
        if {"cin", "cp", "cic"} & set(p.flags):
            assert "social_worker_agreed" in kinds, s
        if s.action == "consider_other_legal_action":
            counted = [e for e in mine if e.event == "penalty_notice" and e.outcome != "withdrawn"]
            assert len(counted) >= 2, s
            continue
        assert s.evidence["penalty_notices_3_years"] < 2
        if s.rule == "consider_penalty_notice_holiday":
            assert s.evidence["holiday_only"] is True
            continue
        if s.action == "consider_penalty_notice":
            # after a notice to improve (itself after support) whose period did not improve
            assert "notice_to_improve" in kinds and s.evidence["improvement_period_sessions"] > 0
            continue
        # a notice to improve follows support recorded as not engaged or not worked, and the
        # attendance officer's consultation
        assert s.action == "notice_to_improve", s
        assert kinds & {"support_not_worked", "support_not_engaged"}, s
        assert "attendance_officer_consulted" in kinds, s
