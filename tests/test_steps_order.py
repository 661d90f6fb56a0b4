"""Steps shown per pupil: most serious stage first, safeguarding never folded away."""

from __future__ import annotations

import datetime as dt

import pandas as pd

import attendance_core as ac
from attendance_core import reports


def _frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "pupil_id": "p1",
                "school_id": None,
                "stage": ac.Stage[stage],
                "action": action,
                "lead": lead,
                "due": dt.date(2025, 3, 3),
                "reason": "r",
                "action_label": reports.ACTION_LABELS.get(action, action),
                "lead_label": lead,
            }
            for stage, action, lead in rows
        ]
    )


def test_most_serious_first_and_safeguarding_always_shown() -> None:
    steps = _frame(
        [
            ("EXPECT", "praise_improvement", "form_tutor"),
            ("MONITOR", "inform_social_worker", "designated_safeguarding_lead"),
            ("LISTEN_AND_UNDERSTAND", "attendance_conversation", "form_tutor"),
            ("LISTEN_AND_UNDERSTAND", "attendance_meeting", "attendance_lead"),
            ("FACILITATE_SUPPORT", "early_help_assessment", "early_help"),
            ("FORMALISE_SUPPORT", "consult_attendance_officer", "attendance_officer"),
            ("ENFORCE", "notice_to_improve", "attendance_officer"),
        ]
    )
    items = reports._steps_by_enrolment(steps)[("", "p1")]
    stages = [i["stage_order"] for i in items]
    assert stages == sorted(stages, reverse=True)
    assert items[0]["action"] == reports.ACTION_LABELS["notice_to_improve"]
    shown = [i["action"] for i in items if i["shown"]]
    assert reports.ACTION_LABELS["consult_attendance_officer"] in shown
    # the MONITOR safeguarding step is 6th by stage but still shown
    assert reports.ACTION_LABELS["inform_social_worker"] in shown
    assert reports.ACTION_LABELS["praise_improvement"] not in shown
    assert len(shown) == reports.SHOWN_STEPS + 1
    # within a stage the engine's order is kept
    listen = [
        i["action"] for i in items if i["stage_order"] == ac.Stage.LISTEN_AND_UNDERSTAND.order
    ]
    assert listen == [
        reports.ACTION_LABELS["attendance_conversation"],
        reports.ACTION_LABELS["attendance_meeting"],
    ]
