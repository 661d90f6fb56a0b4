"""One date policy: a date given as text is ISO; an ambiguous string is refused, never guessed."""

from __future__ import annotations

import datetime as dt

import pytest

import attendance_core as ac


@pytest.fixture(scope="module")
def reg():
    long, _ = ac.demo.school(seed=0, n_pupils=30)
    return ac.Register.from_long(long)


CALLS = {
    "classify end": (lambda reg, d: ac.classify(reg, end=d), "end"),
    "classify start": (lambda reg, d: ac.classify(reg, start=d), "start"),
    "recommend": (lambda reg, d: ac.recommend(reg, as_of=d), "as_of"),
    "letter_data": (lambda reg, d: ac.letter_data(reg, as_of=d), "as_of"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("text", ["01/03/2025", "3 January 2025", "2025-13-01", "20250103"])
def test_non_iso_text_is_refused_naming_the_argument(reg, name, text):
    call, argument = CALLS[name]
    with pytest.raises(ac.AttendanceError, match=rf"^{argument}: .*YYYY-MM-DD"):
        call(reg, text)


def test_html_report_refuses_an_ambiguous_as_of(reg, tmp_path):
    with pytest.raises(ac.AttendanceError, match=r"^as_of: "):
        ac.html_report(reg, tmp_path / "r.html", as_of="01/03/2025")
    assert not (tmp_path / "r.html").exists()


def test_iso_text_and_date_objects_agree(reg):
    by_text = ac.classify(reg, start="2024-09-01", end="2025-03-01")
    by_date = ac.classify(reg, start=dt.date(2024, 9, 1), end=dt.datetime(2025, 3, 1, 15, 0))
    assert by_text.equals(by_date)
    assert by_text.equals(ac.classify(reg, start="2024-09-01T00:00", end="2025-03-01 09:00"))


# ----------------------------------------------------------------------------- pupils tables
@pytest.mark.parametrize("column", ["admission_date", "leaving_date", "date_of_birth"])
def test_a_pupils_table_with_day_first_text_is_refused_naming_column_and_pupil(column):
    long, pupils = ac.demo.school(seed=0, n_pupils=10)
    table = pupils.copy()
    table[column] = [d.isoformat() if isinstance(d, dt.date) else "" for d in table[column]]
    table.iloc[3, table.columns.get_loc(column)] = "01/03/2012"
    if column == "date_of_birth":
        reg = ac.Register.from_long(long)
        with pytest.raises(ac.AttendanceError) as caught:
            ac.recommend(reg, pupils=table)
    else:
        with pytest.raises(ac.AttendanceError) as caught:
            ac.Register.from_long(long, pupils=table)
    message = str(caught.value)
    assert message.startswith(f"{column}: 1 value(s) are not dates")
    assert table.index[3] in message and "01/03/2012" not in message  # the id, never the date


def test_a_pupils_table_with_iso_text_is_read_as_dates():
    long, pupils = ac.demo.school(seed=0, n_pupils=10)
    text = pupils.copy()
    for column in ("admission_date", "leaving_date", "date_of_birth"):
        text[column] = [d.isoformat() if isinstance(d, dt.date) else "" for d in text[column]]
    as_text = ac.Register.from_long(long, pupils=text)
    as_dates = ac.Register.from_long(long, pupils=pupils)
    assert (as_text.span == as_dates.span).all()
    assert ac.compulsory_school_age(dt.date(2025, 1, 6), date_of_birth="2012-03-01") is True
    with pytest.raises(ac.AttendanceError, match="date_of_birth"):
        ac.compulsory_school_age(dt.date(2025, 1, 6), date_of_birth="01/03/2012")
