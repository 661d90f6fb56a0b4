"""Rebuild the binary fixtures (.xlsx, .parquet) of the generic adapters' tests.

Run from this folder: ``python make_binary_fixtures.py``. The workbooks mimic what an office
gets from an MIS "export to Excel": a cover sheet, a title row above the header, numbers stored
as numbers, real dates in date columns, and a few rows an attendance officer would frown at.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
MONDAY = dt.date(2024, 9, 2)
DAYS = [MONDAY + dt.timedelta(days=i) for i in range(5)]


def wide_sessions() -> None:
    wb = openpyxl.Workbook()
    cover = wb.worksheets[0]
    cover.title = "Notes"
    cover["A1"] = "Exported from MIS - attendance by session"
    cover["A2"] = "Codes: / present AM, \\ present PM"
    ws = wb.create_sheet("Week 1")
    ws["A1"] = "Attendance by Session - Week beginning 02/09/2024"
    heads = [f"{d:%a} {d:%d/%m/%Y} {s}" for d in DAYS for s in ("AM", "PM")]
    ws.append([])
    ws.append(["Adno", "Surname", "Forename", "Reg Group", "Year", "FSM", *heads])
    rows = [
        [3101, "Green", "Oliver", "8C", 8, "Y", *"/\\/\\/\\/\\/\\"],
        [3102, "Khan", "Aisha", "8C", 8, "N", *"/\\I /\\/\\L\\".replace(" ", "\x00")],
        [3103, "Taylor", "Mia", "8D", 8, "N", None, None, None, None, *"/\\/\\/\\"],
        [3104, "Wilson", "Jack", "8D", 8, "Y", *"NN/\\UU/\\/\\"],
        [3105, "Hughes", "Ruby", "8D", 8, "N", *"/\\/\\8 /\\/\\".replace(" ", "\x00")],
        [None, "Unknown", "Pupil", "8C", 8, "N", *"/\\/\\/\\/\\/\\"],
    ]
    for row in rows:
        ws.append([None if v == "\x00" else v for v in row])
    ws.append([])
    ws.append([3106, "Morgan", "Evie", "8C", 8, "N", *"/\\/\\/\\/\\/\\"])
    wb.save(HERE / "wide_sessions.xlsx")


def wide_weekly() -> None:
    wb = openpyxl.Workbook()
    ws = wb.worksheets[0]
    ws.title = "Marks"
    ws.append(["UPN", "Forename", "Surname", "Week Beginning", "Marks", "CiN"])
    upns = ["V873400123015", "J873400123016", "M202300524101"]
    data = [
        (upns[0], "Harry", "Clarke", MONDAY, "/\\/\\/\\/\\/\\", "N"),
        (upns[0], "Harry", "Clarke", MONDAY + dt.timedelta(7), "/\\/\\EE/\\/\\", "N"),
        (upns[1], "Isla", "Roberts", MONDAY, "/\\L\\/\\N/\\-", "Y"),
        (upns[1], "Isla", "Roberts", MONDAY + dt.timedelta(9), "/\\/\\/\\/\\/\\", "Y"),
        (upns[2], "Leo", "Ali", MONDAY, "/\\/\\/\\/\\/\\/", "N"),
        (upns[2], "Leo", "Ali", MONDAY + dt.timedelta(7), "/\\/\\/\\/\\/\\", "N"),
    ]
    for upn, forename, surname, week, marks, cin in data:
        ws.append([upn, forename, surname, dt.datetime.combine(week, dt.time()), marks, cin])
    for cell in ws["D"][1:]:
        cell.number_format = "dd/mm/yyyy"
    wb.save(HERE / "wide_weekly.xlsx")


def long_workbook() -> None:
    wb = openpyxl.Workbook()
    ws = wb.worksheets[0]
    ws.title = "Attendance"
    ws["A1"] = "Session attendance 02/09/2024 - 06/09/2024"
    ws.append(["Adno", "Surname", "Forename", "Year", "Date", "AM/PM", "Mark", "FSM"])
    pupils = [
        (4101, "Baker", "Freya", 9, "/\\/\\/\\/\\/\\", "N"),
        (4102, "Nguyen", "Thomas", 9, "/\\L\\NN/\\/\\", "Y"),
    ]
    for adno, surname, forename, year, week, fsm in pupils:
        for k, code in enumerate(week):
            day = dt.datetime.combine(DAYS[k // 2], dt.time())
            ws.append([adno, surname, forename, year, day, "AM" if k % 2 == 0 else "PM", code, fsm])
    ws.append([])
    ws.append([4101, "Baker", "Freya", 9, "09/13/2024", "AM", "/", "N"])  # month-first text
    ws.append([4102, "Nguyen", "Thomas", 9, "09/09/2024", "XM", "/", "Y"])  # bad session
    ws.append([4102, "Nguyen", "Thomas", 9, "10/09/2024", "AM", "7", "Y"])  # display symbol
    ws.append([4101, "Baker", "Freya", 9, "10/09/2024", "AM", "/", "N", None, "note"])  # spill
    for row in ws.iter_rows(min_row=3, min_col=5, max_col=5):
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "dd/mm/yyyy"
    wb.save(HERE / "long_export.xlsx")


def long_parquet() -> None:
    upn: list[str | None] = []
    dates: list[dt.date | None] = []
    sessions: list[str] = []
    marks: list[str] = []
    urn: list[int] = []
    year: list[int] = []
    pupils = [("K801200024001", 4, "/\\/\\/\\/\\/\\"), ("Z801200024002", 4, "/\\I\\/\\/\\/\\")]
    for pid, yr, week in pupils:
        for k, code in enumerate(week):
            upn.append(pid)
            dates.append(DAYS[k // 2])
            sessions.append("AM" if k % 2 == 0 else "PM")
            marks.append(code)
            urn.append(100001)
            year.append(yr)
    extra: list[tuple[str | None, dt.date | None, str, str]] = [
        ("K801200024001", DAYS[0] + dt.timedelta(7), "AM", "Y8"),  # not a 2024 code
        ("K801200024001", None, "AM", "/"),  # no date
        (None, DAYS[0] + dt.timedelta(7), "AM", "/"),  # no pupil
        ("Z801200024002", DAYS[0] + dt.timedelta(7), "Afternoon", "/"),
    ]
    for maybe_pid, day, sess, code in extra:
        upn.append(maybe_pid)
        dates.append(day)
        sessions.append(sess)
        marks.append(code)
        urn.append(100001)
        year.append(4)
    table = pa.table(
        {
            "UPN": pa.array(upn, pa.string()),
            "Date": pa.array(dates, pa.date32()),
            "Session": pa.array(sessions, pa.string()),
            "Mark": pa.array(marks, pa.string()),
            "URN": pa.array(urn, pa.int64()),
            "NC Year": pa.array(year, pa.int64()),
        }
    )
    pq.write_table(table, HERE / "long.parquet", row_group_size=8)


if __name__ == "__main__":
    wide_sessions()
    wide_weekly()
    long_workbook()
    long_parquet()
