"""Policies as data: the bundled files, the condition vocabulary, validation with clear errors."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from attendance_core.bands import band_scheme
from attendance_core.errors import AttendanceError, PolicyError
from attendance_core.policy import (
    FIGURES,
    BandCondition,
    BandMove,
    Compare,
    Flagged,
    Policy,
    Stage,
    Truth,
    load_policy,
    parse_condition,
    policies,
    resolve_policy,
)

FIVE = band_scheme("five-band")


def bundled(name: str) -> dict[str, Any]:
    path = resources.files("attendance_core") / "data" / "policies" / f"{name}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_bundled_policies() -> None:
    found = policies()
    assert set(found) == {"england-2024", "county-five-band"}
    england = found["england-2024"]
    assert england.scheme.id == "five-band"
    fixed = {
        "first_day_contact", "resolve_unexplained_absence", "notify_la_continuous_absence",
        "notify_la_illness_15_days", "inform_social_worker", "attendance_conversation",
        "attendance_meeting", "early_help_assessment", "review_support",
        "targeting_support_meeting", "escalate_virtual_school", "bring_forward_ehcp_review",
        "offer_support_before_enforcement", "consult_attendance_officer",
        "agree_with_social_worker", "notice_to_improve", "consider_penalty_notice",
        "consider_other_legal_action",
    }  # fmt: skip
    assert fixed <= set(england.actions)
    assert england.rule("notice_to_improve").stage is Stage.ENFORCE
    assert resolve_policy("county-five-band") is found["county-five-band"]
    frame = england.to_frame()
    assert list(frame["rule"]) == [r.id for r in england.rules]


def test_dagger_rules_are_gated() -> None:
    england = policies()["england-2024"]
    daggers = {
        "notify_la_continuous_absence", "notify_la_illness_15_days",
        "offer_support_before_enforcement", "consult_attendance_officer",
        "agree_with_social_worker", "notice_to_improve", "consider_penalty_notice",
        "consider_other_legal_action",
    }  # fmt: skip
    for rule in england.rules:
        assert rule.compulsory_age == (rule.action in daggers), rule.id


def test_stage_order_and_text() -> None:
    assert sorted([Stage.ENFORCE, Stage.EXPECT, Stage.MONITOR]) == [
        Stage.EXPECT, Stage.MONITOR, Stage.ENFORCE,
    ]  # fmt: skip
    assert Stage.FACILITATE_SUPPORT < Stage.FORMALISE_SUPPORT < Stage.ENFORCE
    assert Stage.LISTEN_AND_UNDERSTAND > Stage.MONITOR
    assert Stage.MONITOR == "MONITOR" and str(Stage.MONITOR) == "MONITOR"
    assert Stage.LISTEN_AND_UNDERSTAND.label == "Listen and understand"
    assert [s.order for s in Stage] == list(range(6))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("unauthorised_sessions_10_weeks >= 10", Compare),
        ("attendance_rate < 0.9", Compare),
        ("holiday_only", Truth),
        ("not holiday_only", Truth),
        ("band is persistent_absence", BandCondition),
        ("band is persistent_absence or worse", BandCondition),
        ("band_4_weeks_ago is expected or better", BandCondition),
        ("band is worse than band_4_weeks_ago", BandMove),
        ("flagged cin or cp or cic", Flagged),
        ("not  flagged   ehcp", Flagged),
    ],
)
def test_condition_vocabulary(text: str, kind: type) -> None:
    assert isinstance(parse_condition(text, FIVE), kind)


def test_band_phrases() -> None:
    worse = parse_condition("band is persistent_absence or worse", FIVE)
    assert isinstance(worse, BandCondition)
    assert worse.bands == ("persistent_absence", "at_risk_of_severe_absence", "severe_absence")
    only = parse_condition("band is persistent_absence", FIVE)
    assert isinstance(only, BandCondition) and only.bands == ("persistent_absence",)
    better = parse_condition("band is at_risk_of_persistent_absence or better", FIVE)
    assert isinstance(better, BandCondition)
    assert better.bands == ("expected", "at_risk_of_persistent_absence")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("unauthorised_sesions >= 10", "unknown figure"),
        ("band >= 3", "cannot be compared"),
        ("band is very_bad", "unknown band"),
        ("flagged wizard", "unknown flag"),
        ("unauthorised_sessions_10_weeks", "compare it"),
        ("unauthorised_sessions_10_weeks is lots", "not a band figure"),
        ("when it rains", "cannot read condition"),
        ("", "empty condition"),
    ],
)
def test_bad_conditions(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_condition(text, FIVE)


def _with_rule(change: dict[str, Any], rule: str = "attendance_meeting") -> dict[str, Any]:
    data = copy.deepcopy(bundled("england-2024"))
    for r in data["rule"]:
        if r["id"] == rule:
            for key, value in change.items():
                if value is None:
                    r.pop(key, None)
                else:
                    r[key] = value
    return data


@pytest.mark.parametrize(
    ("rule", "change", "field", "words"),
    [
        ("attendance_meeting", {"when": ["band is persistant_absence"]}, "when", "unknown band"),
        ("attendance_meeting", {"stage": "PUNISH"}, "stage", "not one of"),
        ("attendance_meeting", {"lead": "headteacher"}, "lead", "not a role"),
        ("attendance_meeting", {"due": -1}, "due", "whole number"),
        ("attendance_meeting", {"due": "5"}, "due", "whole number"),
        ("attendance_meeting", {"reason": "Attendance is {attendance}."}, "reason", "unknown"),
        ("attendance_meeting", {"reason": None}, "reason", "missing"),
        ("attendance_meeting", {"evidence": ["shoe_size"]}, "evidence", "unknown figure"),
        ("attendance_meeting", {"requires": ["parent_signed"]}, "requires", "unknown plan term"),
        ("attendance_meeting", {"compulsory_age": "yes"}, "compulsory_age", "true or false"),
        ("attendance_meeting", {"colour": "red"}, "colour", "unknown field"),
        ("attendance_meeting", {"each": "week"}, "each", "'enrolment' or 'run'"),
        ("attendance_meeting", {"when": ["run_days >= 10"]}, "each", "run figure"),
        ("attendance_meeting", {"explain_withheld": ["nope"]}, "explain_withheld", "no rule"),
        ("attendance_meeting", {"action": "Attendance Meeting"}, "action", "lower-case id"),
        ("notice_to_improve", {"compulsory_age": False}, "compulsory_age", "compulsory"),
        ("notice_to_improve", {"requires": ["support_not_worked"]}, "requires", "social_worker"),
        (
            "notice_to_improve",
            {"requires": ["consultation_recorded",
                          "social_worker_agreement_recorded if flagged cin or cp or cic"]},
            "requires",
            "follow support",
        ),
        (
            "consider_penalty_notice_holiday",
            {"requires": ["social_worker_agreement_recorded if flagged cin"]},
            "requires",
            "social_worker",
        ),
    ],
)  # fmt: skip
def test_validation_names_rule_and_field(
    rule: str, change: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(_with_rule(change, rule), origin="my-la.toml")
    message = str(info.value)
    assert message.startswith(f"my-la.toml: rule {rule!r}: field {field!r}")
    assert words in message
    assert isinstance(info.value, AttendanceError)


def test_policy_level_errors() -> None:
    data = bundled("england-2024")
    with pytest.raises(PolicyError, match="field 'id'"):
        Policy.from_dict({**data, "id": ""})
    with pytest.raises(PolicyError, match="field 'scheme'"):
        Policy.from_dict({**data, "scheme": "seven-band"})
    with pytest.raises(PolicyError, match="at least one"):
        Policy.from_dict({**data, "rule": []})
    with pytest.raises(PolicyError, match="unknown field"):
        Policy.from_dict({**data, "rules": []})
    twice = {**data, "rule": [data["rule"][0], data["rule"][0]]}
    with pytest.raises(PolicyError, match="used by two rules"):
        Policy.from_dict(twice)
    with pytest.raises(PolicyError, match="unknown policy"):
        resolve_policy("wales-2030")


def test_extra_roles_and_dfe_scheme() -> None:
    data = _with_rule({"lead": "headteacher"})
    data["roles"] = ["headteacher"]
    assert Policy.from_dict(data).rule("attendance_meeting").lead == "headteacher"
    dfe = copy.deepcopy(bundled("england-2024"))
    dfe["scheme"] = "dfe"
    dfe["rule"] = [
        {
            "id": "severe", "action": "severe_absence_review", "stage": "FACILITATE_SUPPORT",
            "lead": "attendance_lead", "due": 5, "when": ["band is severe_absence"],
            "reason": "Attendance is {attendance_rate}, severe absence in the DfE's terms.",
        }
    ]  # fmt: skip
    pol = Policy.from_dict(dfe)
    assert pol.scheme.id == "dfe" and pol.actions == ("severe_absence_review",)


def test_load_policy_from_a_file(tmp_path: Path) -> None:
    src = resources.files("attendance_core") / "data" / "policies" / "county-five-band.toml"
    path = tmp_path / "county.toml"
    path.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    pol = load_policy(path)
    assert pol.id == "county-five-band" and pol.source == "county.toml"
    assert resolve_policy(path).rules == pol.rules
    assert resolve_policy(str(path)).id == pol.id
    bad = tmp_path / "bad.toml"
    bad.write_text("id = \n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.toml: not valid TOML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")


def test_every_figure_is_documented() -> None:
    for fig in FIGURES.values():
        assert fig.description and fig.kind
        assert (fig.axis == "run") == fig.name.startswith("run_")


LA_POLICY = """
id = "my-la"
title = "A local authority's own rules"
scheme = "dfe"
roles = ["headteacher"]

[[rule]]
id = "early_warning"
action = "early_warning_letter"
label = "an early warning letter"
stage = "MONITOR"
lead = "headteacher"
due = 3
when = ["unauthorised_sessions_10_weeks >= 6", "not holiday_only", "not flagged cic"]
reason = "{unauthorised_days_10_weeks} days missed without permission since {window_start}."
evidence = ["unauthorised_sessions_10_weeks"]

[[rule]]
id = "severe"
action = "severe_absence_panel"
stage = "FACILITATE_SUPPORT"
lead = "attendance_lead"
due = 10
when = ["band is persistent_absence or worse", "attendance_rate <= 0.5"]
reason = "Attendance this year is {attendance_rate}."
"""


def test_an_la_policy_changes_behaviour_without_code(tmp_path: Path) -> None:
    import pandas as pd

    from attendance_core import Register
    from attendance_core.escalation import recommend

    path = tmp_path / "my-la.toml"
    path.write_text(LA_POLICY, encoding="utf-8")
    days = pd.bdate_range("2024-11-04", "2024-11-15")
    rows = [
        {"pupil_id": p, "date": d, "session": s, "code": code}
        for p, absent in (("A", 6), ("B", 5), ("C", 9))
        for i, d in enumerate(days)
        for j, s in enumerate(("AM", "PM"))
        for code in ["O" if 2 * i + j < absent else "/"]
    ]
    reg = Register.from_long(pd.DataFrame(rows))
    pupils = pd.DataFrame({"cic": [False, False, True]}, index=["A", "B", "C"])
    steps = recommend(reg, pupils=pupils, policy=path)
    got = {(s.pupil_id, s.action) for s in steps}
    assert got == {("A", "early_warning_letter")}
    (s,) = steps
    assert s.lead == "headteacher" and s.due == pd.Timestamp("2024-11-20").date()
    assert s.reason == "3 days missed without permission since 4 November 2024."
    # the C pupil is severe only when the rule does not exclude the flag
    worse = LA_POLICY.replace('"attendance_rate <= 0.5"', '"attendance_rate <= 0.6"')
    path.write_text(worse, encoding="utf-8")
    steps = recommend(reg, pupils=pupils, policy=load_policy(path))
    assert ("C", "severe_absence_panel") in {(s.pupil_id, s.action) for s in steps}


def test_every_enrolment_figure_is_computed(demo_school: Any) -> None:
    """The figure vocabulary (data/vocabulary/figures.toml) and the engine agree: every
    enrolment figure a condition may name is a column of step_figures, and nothing else is."""
    import attendance_core as ac
    from attendance_core.escalation import step_figures

    marks, pupils = demo_school
    reg = ac.Register.from_long(marks)
    frame = step_figures(reg, pupils, as_of="2025-03-14")
    wanted = {name for name, fig in FIGURES.items() if fig.axis == "enrolment"}
    assert wanted <= set(frame.columns)
    assert len(frame) == reg.n_enrolments
