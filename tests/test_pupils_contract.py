"""One pupils-table contract: one column list, one normaliser, one join to enrolments."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import _pupils, adapterkit, adapters, patterns, policy
from builders import frame, week


def test_one_column_specification() -> None:
    assert adapters.PUPIL_COLUMNS == _pupils.COLUMNS
    assert policy.FLAGS == _pupils.FLAGS == adapterkit.PUPIL_FLAGS
    assert adapterkit.PUPIL_DATE_COLUMNS == _pupils.DATE_COLUMNS
    assert set(_pupils.FLAGS) <= set(_pupils.COLUMNS)


def _register() -> ac.Register:
    return ac.Register.from_long(
        frame(
            week("1234", "2024-09-02", "/\\/\\/\\/\\/\\"),
            week("77", "2024-09-02", "NN/\\/\\/\\/\\"),
        )
    )


@pytest.mark.parametrize(
    "pupils",
    [
        pd.DataFrame({"year_group": ["7", "8"]}, index=pd.Index([1234.0, 77.0], name="pupil_id")),
        pd.DataFrame({"pupil_id": [1234, 77], "year_group": ["7", "8"]}),
        pd.DataFrame({"year_group": ["7", "8"]}, index=pd.Index([" 1234 ", "77"], name="pupil_id")),
    ],
    ids=["float index", "pupil_id column", "spaces"],
)
def test_the_join_matches_ids_as_the_register_keeps_them(pupils: pd.DataFrame) -> None:
    reg = _register()
    table = ac.classify(reg)
    assert list(patterns.pupil_column(table.index, pupils, "year_group")) == ["7", "8"]
    assert list(_pupils.positions(reg.pupil_ids, None, _pupils.pupils_table(pupils))) == [0, 1]


def test_the_join_uses_the_school_when_both_sides_have_one() -> None:
    pupils = pd.DataFrame(
        {"pupil_id": ["P1", "P1"], "school_id": ["A", "B"], "year_group": ["7", "9"]}
    ).set_index("pupil_id")
    index = pd.MultiIndex.from_tuples(
        [("B", "P1"), ("A", "P1"), ("C", "P1")], names=["school_id", "pupil_id"]
    )
    got = list(patterns.pupil_column(index, pupils, "year_group"))
    assert got[:2] == ["9", "7"] and pd.isna(got[2])


def test_from_long_reads_a_pupils_table_with_a_pupil_id_column() -> None:
    """An admission date starts the span (sessions before the first mark are unmarked) whether
    pupil_id is the index or a column, and whatever type the ids were read as."""
    marks = frame(
        week("1234", "2024-09-02", "/\\/\\/\\/\\/\\"), week("9", "2024-09-02", "    /\\/\\/\\")
    )
    assert int(ac.classify(ac.Register.from_long(marks)).loc["9", "unmarked"]) == 0
    as_column = pd.DataFrame({"pupil_id": [9.0], "admission_date": [dt.date(2024, 9, 2)]})
    for pupils in (as_column, as_column.set_index("pupil_id")):
        reg = ac.Register.from_long(marks, pupils=pupils)
        assert int(ac.classify(reg).loc["9", "unmarked"]) == 4


def test_pupils_must_be_a_dataframe() -> None:
    with pytest.raises(TypeError, match="pupils must be a pandas DataFrame"):
        _pupils.pupils_table([("P1", "7")])


def test_one_flag_list() -> None:
    """Every reader of a pupils table takes its flags from _pupils: the CLI's pupils CSV, the
    DfE statistics (boarder), the cohorts of patterns and the policy's conditions."""
    from attendance_core import _pupils, cli, dfe, patterns, policy

    assert cli.FLAG_COLUMNS == _pupils.ALL_FLAGS
    assert cli.DATE_COLUMNS == _pupils.DATE_COLUMNS
    assert frozenset(_pupils.ALL_FLAGS) == dfe._FLAG_COLUMNS
    assert policy.FLAGS == _pupils.FLAGS
    assert {f for c in patterns.PRIORITY_COHORTS for f in c.flags} <= set(_pupils.ALL_FLAGS)
