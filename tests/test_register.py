"""Building a register: validation, rejected rows, duplicates, missing marks, schools."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import attendance_core as ac
from builders import frame, week


def long(rows):
    return pd.DataFrame(rows, columns=["pupil_id", "date", "session", "code"])


def test_missing_mark_is_kept_and_counted_unmarked():
    # worked example 3: a '-' on Tue 7 Jan PM
    df = frame(week("p", "2025-01-06", "/\\/-/\\/\\/\\"))
    reg = ac.Register.from_long(df)
    out = reg.to_long()
    assert (out["code"] == "-").sum() == 1
    row = ac.classify(reg).loc["p"]
    assert (row["unmarked"], row["possible"]) == (1, 9)


@pytest.mark.parametrize("blank", ["", " ", None, float("nan"), "-"])
def test_blank_codes_are_missing_marks(blank):
    df = long([("p", "2024-09-10", "AM", "/"), ("p", "2024-09-10", "PM", blank)])
    reg = ac.Register.from_long(df)
    assert list(reg.to_long()["code"]) == ["/", "-"]
    assert ac.classify(reg).loc["p", "unmarked"] == 1


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (("", "2024-09-10", "AM", "/"), "pupil_id", "missing_value"),
        ((None, "2024-09-10", "AM", "/"), "pupil_id", "missing_value"),
        (("p", None, "AM", "/"), "date", "missing_value"),
        (("p", "10/09/2024", "AM", "/"), "date", "bad_date"),
        (("p", "2024-02-30", "AM", "/"), "date", "bad_date"),
        (("p", "2024-09-10", "", "/"), "session", "missing_value"),
        (("p", "2024-09-10", "XM", "/"), "session", "bad_session"),
        (("p", "2024-09-10", "AM", "Q9"), "code", "unknown_code"),
        (("p", "2024-09-10", "AM", "H"), "code", "unknown_code"),  # abolished in 2024
        (("p", "2024-09-10", "AM", "J01"), "code", "unknown_code"),  # J is not a 2024 code
    ],
)
def test_bad_rows(row, column, reason):
    good = ("q", "2024-09-10", "AM", "/")
    df = long([good, row])
    with pytest.raises(ac.RegisterError) as info:
        ac.Register.from_long(df)
    err = info.value
    assert (err.row, err.column, err.reason) == (1, column, reason)
    assert "row 1" in str(err) and column in str(err)
    reg = ac.Register.from_long(df, errors="collect")
    assert reg.rejected.to_dict("records") == [
        {"row": 1, "column": column, "value": reg.rejected["value"].iloc[0], "reason": reason}
    ]
    assert len(reg.to_long()) == 1


def test_error_names_file_and_source_column():
    df = long([("p", "2024-09-10", "AM", "??")])
    with pytest.raises(ac.RegisterError, match=r"marks.csv, row 0, column 'Mark'"):
        ac.Register.from_long(df, source="marks.csv", source_columns={"code": "Mark"})


def test_missing_column_is_an_error():
    with pytest.raises(ac.RegisterError, match="'code'"):
        ac.Register.from_long(
            pd.DataFrame({"pupil_id": ["p"], "date": ["2024-09-10"], "session": ["AM"]})
        )


def test_codes_normalised_and_sub_codes_mapped():
    df = long(
        [
            ("p", "2024-09-10", "AM", " i01 "),
            ("p", "2024-09-10", "PM", "l"),
            ("p", "2024-09-11", "am", "Y1"),
            ("p", "2024-09-11", " pm", "X02"),
        ]
    )
    reg = ac.Register.from_long(df)
    assert list(reg.to_long()["code"]) == ["I", "L", "Y1", "X"]


def test_identical_duplicate_kept_once():
    # worked example 4, second half
    df = long(
        [
            ("p", "2025-01-08", "AM", "/"),
            ("p", "2025-01-08", "AM", "/"),
            ("p", "2025-01-08", "PM", "\\"),
        ]
    )
    reg = ac.Register.from_long(df, errors="collect")
    assert len(reg.to_long()) == 2
    assert reg.rejected[["row", "reason"]].to_dict("records") == [
        {"row": 1, "reason": "duplicate_row"}
    ]


def test_conflicting_duplicates_all_rejected_session_unmarked():
    # worked example 4: '/' and 'O' for the same session
    df = long(
        [
            ("p", "2025-01-08", "AM", "/"),
            ("p", "2025-01-08", "AM", "O"),
            ("p", "2025-01-08", "PM", "\\"),
            ("q", "2025-01-08", "AM", "/"),
        ]
    )
    reg = ac.Register.from_long(df, errors="collect")
    assert sorted(reg.rejected["row"]) == [0, 1]
    assert set(reg.rejected["reason"]) == {"duplicate_session"}
    row = ac.classify(reg).loc["p"]
    assert (row["possible"], row["unmarked"]) == (1, 1)
    assert len(df) == len(reg.to_long()) + len(reg.rejected)
    with pytest.raises(ac.RegisterError, match=r"duplicate|different code"):
        ac.Register.from_long(df)


def test_sub_code_and_letter_for_same_session_are_identical():
    df = long([("p", "2025-01-08", "AM", "I01"), ("p", "2025-01-08", "AM", "I")])
    reg = ac.Register.from_long(df, errors="collect")
    assert list(reg.rejected["reason"]) == ["duplicate_row"]


def test_school_id_empty_on_some_rows_is_an_error():
    df = pd.DataFrame(
        {
            "school_id": ["S1", ""],
            "pupil_id": ["p", "q"],
            "date": ["2024-09-10"] * 2,
            "session": ["AM"] * 2,
            "code": ["/"] * 2,
        }
    )
    with pytest.raises(ac.RegisterError, match="school_id is empty on some rows"):
        ac.Register.from_long(df, errors="collect")


def test_school_id_all_empty_means_no_school():
    df = pd.DataFrame(
        {
            "school_id": [None, None],
            "pupil_id": ["p", "q"],
            "date": ["2024-09-10"] * 2,
            "session": ["AM"] * 2,
            "code": ["/"] * 2,
        }
    )
    reg = ac.Register.from_long(df)
    assert reg.school_ids is None and "school_id" not in reg.to_long().columns


def test_mixed_code_sets_across_19_august_2024():
    # J before is attendance (approved activity); J1 after is authorised absence
    df = long(
        [
            ("p", "2024-07-15", "AM", "J"),
            ("p", "2024-07-15", "PM", "H"),
            ("p", "2024-09-10", "AM", "J1"),
            ("p", "2024-09-10", "PM", "/"),
        ]
    )
    row = ac.classify(ac.Register.from_long(df)).loc["p"]
    assert (row["possible"], row["attended"], row["authorised"]) == (4, 2, 2)
    bad = long([("p", "2024-09-10", "AM", "J"), ("p", "2024-07-15", "AM", "J1")])
    reg = ac.Register.from_long(bad, errors="collect")
    assert list(reg.rejected["reason"]) == ["unknown_code", "unknown_code"]


def test_forced_code_set_applies_to_every_date():
    df = long([("p", "2024-07-15", "AM", "J1")])
    assert len(ac.Register.from_long(df, errors="collect").rejected) == 1
    reg = ac.Register.from_long(df, code_set="england-2024")
    assert ac.classify(reg).loc["p", "authorised"] == 1


def test_dates_in_every_accepted_form():
    df = long(
        [
            ("p", "2024-09-10", "AM", "/"),
            ("p", dt.date(2024, 9, 10), "PM", "/"),
            ("p", pd.Timestamp("2024-09-11"), "AM", "/"),
            ("p", np.datetime64("2024-09-11"), "PM", "/"),
            ("p", "2024-09-12T00:00:00", "AM", "/"),
            ("p", dt.datetime(2024, 9, 12, 9, 0), "PM", "/"),
        ]
    )
    reg = ac.Register.from_long(df)
    assert len(reg.to_long()) == 6 and len(reg.dates) == 3


def test_numeric_ids_become_text():
    df = pd.DataFrame(
        {
            "pupil_id": [1234.0, 1234.0],
            "date": ["2024-09-10"] * 2,
            "session": ["AM", "PM"],
            "code": ["/", "/"],
        }
    )
    assert list(ac.classify(ac.Register.from_long(df)).index) == ["1234"]


def test_two_schools_two_enrolments_and_own_calendars():
    # worked example 10: P1 at S1 until 31 Jan, at S2 from 3 Feb
    rows = week("P1", "2025-01-27", "/\\/\\/\\/\\/\\", "S1")
    rows += week("P1", "2025-02-03", "/\\/\\OO/\\/\\", "S2")
    rows += week("Q", "2025-02-03", "/\\/\\/\\/\\/\\", "S1")
    rows += week("R", "2025-01-27", "/\\/\\/\\/\\  ", "S2")
    reg = ac.Register.from_long(frame(rows))
    table = ac.classify(reg)
    assert table.index.names == ["school_id", "pupil_id"]
    assert table.loc[("S1", "P1"), "possible"] == 10
    assert table.loc[("S2", "P1"), "possible"] == 10
    assert table.loc[("S2", "P1"), "unauthorised"] == 2
    # S2 had no school session on Fri 31 Jan; S1 did
    cal1, cal2 = reg.calendar("S1"), reg.calendar("S2")
    assert np.datetime64("2025-01-31") in cal1.school_days
    assert np.datetime64("2025-01-31") not in cal2.school_days


def test_one_school_indexes_by_pupil():
    rows = week("P1", "2025-01-27", "/\\/\\/\\/\\/\\", "S1")
    table = ac.classify(ac.Register.from_long(frame(rows)))
    assert table.index.name == "pupil_id"


def test_joining_mid_year_has_no_unmarked_before():
    # worked example 2
    rows = week("old", "2024-12-16", "/\\/\\/\\/\\/\\") + week(
        "old", "2025-01-06", "/\\/\\/\\/\\/\\"
    )
    rows += week("new", "2025-01-06", "/\\/\\/\\/\\/\\")
    table = ac.classify(ac.Register.from_long(frame(rows)))
    assert table.loc["new", "unmarked"] == 0
    assert table.loc["new", "possible"] == 10


def test_unmarked_counts_gaps_inside_the_span_only_on_school_sessions():
    rows = week("a", "2024-09-16", "/\\/\\/\\/\\##")  # INSET Friday
    rows += week("b", "2024-09-16", "/\\  /\\/\\##")  # no rows Tue; # on the INSET day
    rows += week("c", "2024-09-16", "/\\/\\/\\/\\  ")  # no rows on INSET day: not unmarked
    table = ac.classify(ac.Register.from_long(frame(rows)))
    assert table.loc["a", "unmarked"] == 0
    assert table.loc["b", "unmarked"] == 2
    assert table.loc["c", "unmarked"] == 0


def test_admission_and_leaving_dates_bound_the_span():
    rows = week("p", "2025-01-06", "  /\\/\\/\\/\\") + week("q", "2025-01-06", "/\\/\\/\\/\\/\\")
    pupils = pd.DataFrame(
        {
            "admission_date": [dt.date(2025, 1, 6), dt.date(2025, 1, 6)],
            "leaving_date": [None, dt.date(2025, 1, 8)],
        },
        index=pd.Index(["p", "q"], name="pupil_id"),
    )
    reg = ac.Register.from_long(frame(rows), pupils=pupils)
    table = ac.classify(reg)
    assert table.loc["p", "unmarked"] == 2  # Monday before the first mark, on roll
    assert table.loc["q", "unmarked"] == 0


def test_to_long_sorted_and_round_trips():
    rows = week("b", "2024-09-16", "/\\/\\OO/\\/\\", "S2") + week(
        "a", "2024-09-16", "II/\\/\\/\\/\\", "S1"
    )
    df = frame(rows).sample(frac=1, random_state=3)
    reg = ac.Register.from_long(df)
    out = reg.to_long()
    assert list(out.columns) == ["school_id", "pupil_id", "date", "session", "code"]
    keys = list(zip(out.school_id, out.pupil_id, out.date, out.session, strict=True))
    assert keys == sorted(keys)
    again = ac.Register.from_long(out)
    pd.testing.assert_frame_equal(again.to_long(), out)


def test_compact_storage_is_one_byte_a_mark(demo_school):
    long_frame, _ = demo_school
    reg = ac.Register.from_long(long_frame)
    assert reg.marks.dtype == np.uint8
    assert reg.marks.nbytes <= 1.25 * len(long_frame)
    assert reg.nbytes < 1.3 * len(long_frame) + 100_000


def test_select_by_pupil_and_school_and_period():
    rows = week("a", "2024-09-16", "/\\/\\/\\/\\/\\", "S1") + week(
        "b", "2024-09-16", "OO/\\/\\/\\/\\", "S2"
    )
    reg = ac.Register.from_long(frame(rows))
    assert list(reg.select(pupils=["a"]).pupil_ids) == ["a"]
    assert list(reg.select(schools=["S2"]).pupil_ids) == ["b"]
    one_day = reg.select(start="2024-09-16", end="2024-09-16")
    assert len(one_day.dates) == 1 and one_day.n_enrolments == 2


def test_chunks_equal_one_frame():
    df = frame(
        week("a", "2024-09-16", "/\\/\\/\\/\\/\\"),
        week("b", "2024-09-16", "OOII/\\LL/\\"),
        week("a", "2024-09-16", "/\\        "),
    )
    whole = ac.Register.from_long(df, errors="collect")
    parts = ac.Register.from_long([df.iloc[:7], df.iloc[7:15], df.iloc[15:]], errors="collect")
    pd.testing.assert_frame_equal(whole.to_long(), parts.to_long())
    pd.testing.assert_frame_equal(whole.rejected, parts.rejected)


def test_errors_argument_checked():
    with pytest.raises(ValueError, match="errors"):
        ac.Register.from_long(long([("p", "2024-09-10", "AM", "/")]), errors="ignore")


def test_empty_frame_gives_empty_register():
    reg = ac.Register.from_long(long([]))
    assert reg.n_enrolments == 0 and len(ac.classify(reg)) == 0


def test_exceptions_pickle():
    import pickle

    err = ac.RegisterError(
        "bad", file="f.csv", row=3, column="code", value="Q9", reason="unknown_code"
    )
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.row, back.reason) == (str(err), 3, "unknown_code")


def test_inverted_admission_and_leaving_dates_warn_and_fall_back_to_marks():
    rows = week("p", "2025-01-06", "/\\/\\/\\/\\/\\")
    pupils = pd.DataFrame(
        {"admission_date": [dt.date(2025, 9, 1)], "leaving_date": [None]},
        index=pd.Index(["p"], name="pupil_id"),
    )
    with pytest.warns(ac.AttendanceWarning, match="1 enrolment"):
        reg = ac.Register.from_long(frame(rows), pupils=pupils)
    assert ac.classify(reg, start="2025-01-06").loc["p", "possible"] == 10


def test_register_is_immutable():
    """Like the other models: no attribute can be set or deleted and no array changed in place;
    the views give new registers and a pickled register comes back equal."""
    import pickle

    import attrs

    reg = ac.Register.from_long(
        frame(
            week("P1", "2024-09-02", "/\\/\\/\\/\\/\\"), week("P2", "2024-09-02", "NN/\\/\\/\\/\\")
        )
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        reg.rejected = reg.rejected.copy()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del reg.marks
    for name in ("marks", "dates", "pupil_ids", "span", "schools", "school_index"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(reg, name)[0] = getattr(reg, name)[0]
    with pytest.raises(ValueError, match="read-only"):
        reg.school_sessions[0, 0] = False
    with pytest.raises(TypeError):
        reg.added_sessions["S"] = np.zeros(2, dtype=bool)  # type: ignore[index]
    before = reg.marks.copy()
    narrowed = reg.select(pupils=["P1"]).with_school_days([dt.date(2024, 9, 9)])
    assert len(narrowed) == 1 and (reg.marks == before).all()
    back = pickle.loads(pickle.dumps(reg))
    assert (back.marks == reg.marks).all() and list(back.pupil_ids) == list(reg.pupil_ids)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        back.codes = reg.codes  # type: ignore[misc]


def test_a_register_never_freezes_or_shares_the_callers_arrays() -> None:
    """Register(...) with the caller's own writeable arrays copies them: the caller's arrays
    stay writeable, and changing them later does not change the register."""
    built = ac.Register.from_long(frame(week("P1", "2024-09-02", "//////////")))
    assert not built.marks.flags.writeable and not built.span.flags.writeable
    mine = {
        "marks": built.marks.copy(),
        "dates": built.dates.copy(),
        "pupil_ids": built.pupil_ids.copy(),
        "school_ids": None,
        "span": built.span.copy(),
        "codes": built.codes,
    }
    reg = ac.Register(**mine)
    assert mine["marks"].flags.writeable and mine["span"].flags.writeable
    before = reg.marks.copy()
    mine["marks"][:] = 0
    assert np.array_equal(reg.marks, before)
    assert not reg.marks.flags.writeable
    with pytest.raises(ValueError):
        reg.marks[0, 0] = 1
