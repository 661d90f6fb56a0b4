"""Generic adapters of attendance-core for hand-made MIS exports.

Five formats, registered through the ``attendance_core.adapters`` entry points:

* ``generic-csv`` — long CSV: one row per pupil and session;
* ``generic-parquet`` — the same columns in a Parquet file;
* ``generic-excel`` — the same columns in an .xlsx workbook;
* ``wide-csv`` — one row per pupil with a column per session, or weekly 10-mark strings;
* ``wide-excel`` — the wide layouts in an .xlsx workbook.

Use them through :func:`attendance_core.load`: ``ac.load("marks.csv")`` detects the format.
"""

from __future__ import annotations

from .long import GenericCsvAdapter, GenericExcelAdapter, GenericParquetAdapter
from .wide import WideCsvAdapter, WideExcelAdapter

__all__ = [
    "GenericCsvAdapter",
    "GenericExcelAdapter",
    "GenericParquetAdapter",
    "WideCsvAdapter",
    "WideExcelAdapter",
]
