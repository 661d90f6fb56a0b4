"""The case history: dated facts read from a table, validated row by row, written back."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core.history import EVENTS, as_history

D = dt.date


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pupil_id": ["P1", "P1", "P2"],
            "school_id": ["S1", "S1", None],
            "event": ["notice_to_improve", "penalty_notice", "la_notified_illness"],
            "date": ["2025-01-06", pd.Timestamp("2025-03-03"), D(2025, 2, 1)],
            "until": ["2025-02-03", None, None],
            "parent_id": [None, "M1", None],
            "outcome": [None, "paid", None],
            "note": [None, None, "phoned the EWO"],
        }
    )


def test_from_table_reads_every_column():
    history = ac.CaseHistory.from_table(_table())
    assert len(history) == 3
    ntc, pn, la = history.events
    assert ntc == ac.CaseEvent(
        pupil_id="P1",
        school_id="S1",
        event="notice_to_improve",
        date=D(2025, 1, 6),
        until=D(2025, 2, 3),
    )
    assert pn.date == D(2025, 3, 3) and pn.parent_id == "M1" and pn.outcome == "paid"
    assert la.school_id is None and la.note == "phoned the EWO" and la.date == D(2025, 2, 1)


def test_round_trip_through_the_table():
    history = ac.CaseHistory.from_table(_table())
    table = history.to_table()
    assert list(table.columns) == [
        "pupil_id",
        "school_id",
        "event",
        "date",
        "until",
        "parent_id",
        "outcome",
        "note",
    ]
    assert table.loc[0, "date"] == D(2025, 1, 6)
    assert table.loc[1, "until"] is None
    assert ac.CaseHistory.from_table(table) == history


def test_only_required_columns_are_needed():
    history = ac.CaseHistory.from_table(
        pd.DataFrame({"pupil_id": [101], "event": ["prosecution"], "date": ["2025-05-01"]})
    )
    # a numeric id from a spreadsheet is kept as its text
    assert history.events[0].pupil_id == "101"
    assert history.events[0].outcome is None


def test_every_listed_event_id_is_accepted():
    assert set(EVENTS) == {
        "notice_to_improve",
        "penalty_notice",
        "la_notified_continuous_absence",
        "la_notified_illness",
        "attendance_officer_consulted",
        "social_worker_agreed",
        "support_not_engaged",
        "support_not_worked",
        "prosecution",
        "education_supervision_order",
    }
    for event in EVENTS:
        assert ac.CaseEvent(pupil_id="P", event=event, date=D(2025, 1, 1)).event == event


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("event", "warning_letter", "unknown event 'warning_letter'"),
        ("date", None, "'date' is required"),
        ("date", "03/04/2025", "'date' must be a date"),
        ("pupil_id", None, "'pupil_id' is required"),
        ("outcome", "paid", "takes no outcome"),
    ],
)
def test_bad_row_names_the_row(column, value, message):
    table = pd.DataFrame(
        {
            "pupil_id": ["P1", "P2"],
            "event": ["notice_to_improve", "notice_to_improve"],
            "date": ["2025-01-06", "2025-01-06"],
            "outcome": [None, None],
        },
        index=[10, 11],
    )
    table[column] = table[column].astype(object)
    table.loc[11, column] = value
    with pytest.raises(ac.PolicyError, match=r"row 11: ") as info:
        ac.CaseHistory.from_table(table)
    assert message in str(info.value)


def test_penalty_notice_outcomes_are_checked():
    for outcome in ("paid", "unpaid", "withdrawn"):
        ac.CaseEvent(pupil_id="P", event="penalty_notice", date=D(2025, 1, 1), outcome=outcome)
    with pytest.raises(ac.PolicyError, match="expected one of paid, unpaid, withdrawn"):
        ac.CaseEvent(pupil_id="P", event="penalty_notice", date=D(2025, 1, 1), outcome="lost")


def test_until_before_date_is_refused():
    with pytest.raises(ac.PolicyError, match="before 'date'"):
        ac.CaseEvent(
            pupil_id="P", event="notice_to_improve", date=D(2025, 1, 6), until=D(2025, 1, 1)
        )


def test_missing_required_column_is_named():
    with pytest.raises(ac.PolicyError, match=r"missing column.*date"):
        ac.CaseHistory.from_table(pd.DataFrame({"pupil_id": ["P"], "event": ["prosecution"]}))


def test_events_are_frozen():
    event = ac.CaseEvent(pupil_id="P", event="prosecution", date=D(2025, 1, 1))
    with pytest.raises(AttributeError):
        event.date = D(2025, 1, 2)  # type: ignore[misc]


def test_for_pupil_orders_by_date_and_keeps_school_less_events():
    history = ac.CaseHistory(
        events=[
            ac.CaseEvent(pupil_id="P", school_id="S2", event="prosecution", date=D(2025, 3, 1)),
            ac.CaseEvent(pupil_id="P", event="support_not_worked", date=D(2025, 2, 1)),
            ac.CaseEvent(pupil_id="P", school_id="S1", event="prosecution", date=D(2025, 1, 1)),
            ac.CaseEvent(pupil_id="Q", school_id="S1", event="prosecution", date=D(2025, 1, 1)),
        ]
    )
    got = history.for_pupil("P", "S1")
    assert [(e.school_id, e.date) for e in got] == [("S1", D(2025, 1, 1)), (None, D(2025, 2, 1))]
    assert len(history.for_pupil("P")) == 3


def test_as_history_accepts_what_recommend_accepts():
    assert len(as_history(None)) == 0
    history = ac.CaseHistory.from_table(_table())
    assert as_history(history) is history
    assert as_history(_table()) == history
    with pytest.raises(ac.PolicyError, match="CaseHistory or a DataFrame"):
        as_history("history.csv")
    with pytest.raises(ac.PolicyError, match="expected a CaseEvent"):
        ac.CaseHistory(events=[{"pupil_id": "P"}])  # type: ignore[list-item]
