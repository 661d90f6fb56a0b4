"""Pseudonymisation: keyed, stable, not reversible, and nothing else in the data changes."""

from __future__ import annotations

import hmac
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core import privacy
from attendance_core.adapters import LoadResult
from attendance_core.errors import AttendanceWarning, FormatError

KEY = "k3y-for-tests-only-0123456789abcdef"
OTHER_KEY = b"another-key-for-tests-0123456789"
PSEUDONYM = re.compile(r"^P[0-9a-f]{16}$")


def expected(key: str | bytes, pupil_id: str, length: int = 16) -> str:
    raw = key.encode() if isinstance(key, str) else key
    digest = hmac.new(raw, b"attendance-core pseudonym v1\x00" + pupil_id.encode(), "sha256")
    return "P" + digest.hexdigest()[:length]


def marks() -> pd.DataFrame:
    rows = []
    for pupil, codes in {"A100": "/\\/N", "B200": "//LL", "C300": "IIII"}.items():
        for i, code in enumerate(codes):
            rows.append(
                {
                    "pupil_id": pupil,
                    "date": f"2024-09-0{2 + i // 2}",
                    "session": "AM" if i % 2 == 0 else "PM",
                    "code": code,
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the pseudonym itself
def test_pseudonym_is_keyed_hmac_sha256_documented_format() -> None:
    out = ac.pseudonymise("A100", KEY)
    assert out == expected(KEY, "A100")
    assert PSEUDONYM.match(out)
    assert "A100" not in out


def test_same_key_same_pseudonym_other_key_other_pseudonym() -> None:
    assert ac.pseudonymise("A100", KEY) == ac.pseudonymise("A100", KEY)
    assert ac.pseudonymise("A100", KEY) != ac.pseudonymise("A100", OTHER_KEY)


def test_str_key_is_its_utf8_bytes() -> None:
    assert ac.pseudonymise("A100", KEY) == ac.pseudonymise("A100", KEY.encode("utf-8"))


def test_ids_compared_as_the_register_keeps_them() -> None:
    # a CSV reader may give 1234, 1234.0 or " 1234 " for the same id
    p = privacy.Pseudonymiser(KEY)
    assert p(1234) == p(1234.0) == p(" 1234 ") == p("1234") == p(np.int64(1234))


def test_missing_ids_stay_missing() -> None:
    p = privacy.Pseudonymiser(KEY)
    values = p.values(["A100", None, float("nan"), "", pd.NA])
    assert values[0] == expected(KEY, "A100")
    assert values[1] is None
    assert isinstance(values[2], float) and np.isnan(values[2])
    assert values[3] == ""
    assert values[4] is pd.NA


def test_length_and_prefix_options() -> None:
    out = ac.pseudonymise("A100", KEY, length=32, prefix="pupil-")
    assert out == "pupil-" + expected(KEY, "A100", 32)[1:]
    with pytest.raises(ValueError, match="length"):
        ac.pseudonymise("A100", KEY, length=4)
    with pytest.raises(ValueError, match="length"):
        ac.pseudonymise("A100", KEY, length=65)


def test_empty_or_wrong_key_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ac.pseudonymise("A100", b"")
    with pytest.raises(TypeError):
        ac.pseudonymise("A100", 12345)  # type: ignore[arg-type]


def test_key_never_shown_by_repr() -> None:
    p = privacy.Pseudonymiser(KEY)
    assert KEY not in repr(p)
    assert KEY.encode() not in repr(p).encode()


@given(st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=50))
def test_distinct_ids_get_distinct_stable_pseudonyms(ids: list[str]) -> None:
    p = privacy.Pseudonymiser(KEY)
    first = p.values(ids)
    again = p.values(list(reversed(ids)))[::-1]
    assert list(first) == list(again)
    canonical = {i.strip() for i in ids}
    assert len(set(first)) == len(canonical)
    assert all(PSEUDONYM.match(v) for v in first)
    assert not any(i.strip() in v for i in ids for v in first if len(i.strip()) > 3)


# ------------------------------------------------------------------ key files
def write_key(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_key_file_is_its_stripped_content(tmp_path: Path) -> None:
    key = privacy.generate_key()
    path = write_key(tmp_path, key.encode() + b"\n")
    assert privacy.pseudonymise_key_file(path) == key.encode()
    assert ac.pseudonymise("A100", path) == ac.pseudonymise("A100", key)


def test_generated_keys_are_long_and_random() -> None:
    a, b = privacy.generate_key(), privacy.generate_key()
    assert a != b
    assert len(bytes.fromhex(a)) == 32


def test_short_key_file_refused_without_showing_it(tmp_path: Path) -> None:
    path = write_key(tmp_path, b"shortsecret\n")
    with pytest.raises(FormatError, match="fewer than the 16") as info:
        privacy.pseudonymise_key_file(path)
    assert "shortsecret" not in str(info.value)
    assert "pseudonym.key" in str(info.value)


def test_whitespace_only_key_file_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError):
        privacy.pseudonymise_key_file(write_key(tmp_path, b" \n" * 40))


def test_big_file_is_not_a_key(tmp_path: Path) -> None:
    content = b"pupil_id,date,session,code\n" + b"A100,2024-09-02,AM,/\n" * 400
    path = write_key(tmp_path, content)
    with pytest.raises(FormatError, match="larger than 4096") as info:
        privacy.pseudonymise_key_file(path)
    assert "A100" not in str(info.value)


def test_missing_or_folder_key_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such key file"):
        privacy.pseudonymise_key_file(tmp_path / "nope.key")
    with pytest.raises(FormatError):
        privacy.pseudonymise_key_file(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_key_file_readable_by_others_warns(tmp_path: Path) -> None:
    path = write_key(tmp_path, privacy.generate_key().encode(), mode=0o644)
    with pytest.warns(AttendanceWarning, match="chmod 600"):
        privacy.pseudonymise_key_file(path)
    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        privacy.pseudonymise_key_file(path)


# ------------------------------------------------------------------ frames
def test_frame_column_changed_everything_else_kept() -> None:
    df = marks()
    before = df.copy()
    out = ac.pseudonymise(df, KEY)
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert list(out["pupil_id"]) == [expected(KEY, v) for v in df["pupil_id"]]
    pd.testing.assert_frame_equal(out.drop(columns="pupil_id"), df.drop(columns="pupil_id"))
    pd.testing.assert_index_equal(out.index, df.index)


def test_frame_index_level_and_multiindex() -> None:
    table = pd.DataFrame({"possible": [10, 20]}, index=pd.Index(["A100", "B200"], name="pupil_id"))
    table.attrs["scheme"] = "dfe"
    out = ac.pseudonymise(table, KEY)
    assert list(out.index) == [expected(KEY, "A100"), expected(KEY, "B200")]
    assert out.index.name == "pupil_id"
    assert out.attrs["scheme"] == "dfe"
    multi = table.set_index(
        pd.MultiIndex.from_arrays([["S1", "S2"], ["A100", "B200"]], names=["school_id", "pupil_id"])
    )
    out = ac.pseudonymise(multi, KEY)
    assert list(out.index.get_level_values("school_id")) == ["S1", "S2"]
    assert list(out.index.get_level_values("pupil_id")) == [
        expected(KEY, "A100"),
        expected(KEY, "B200"),
    ]


def test_column_and_index_both_changed() -> None:
    df = pd.DataFrame({"pupil_id": ["A100"], "x": [1]}, index=pd.Index(["A100"], name="pupil_id"))
    out = ac.pseudonymise(df, KEY)
    assert out.index[0] == out["pupil_id"].iloc[0] == expected(KEY, "A100")


def test_several_id_columns() -> None:
    df = pd.DataFrame({"pupil_id": ["A100"], "sibling_id": ["B200"]})
    out = ac.pseudonymise(df, KEY, column=["pupil_id", "sibling_id"])
    assert list(out.iloc[0]) == [expected(KEY, "A100"), expected(KEY, "B200")]


def test_unknown_column_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="upn"):
        ac.pseudonymise(marks(), KEY, column="upn")


def test_personal_columns_warned_or_dropped() -> None:
    pupils = pd.DataFrame(
        {"name": ["Zebedee Secretname"], "year_group": ["Y7"], "date_of_birth": ["2013-01-01"]},
        index=pd.Index(["A100"], name="pupil_id"),
    )
    with pytest.warns(AttendanceWarning, match="name, date_of_birth"):
        ac.pseudonymise(pupils, KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ac.pseudonymise(pupils, KEY, drop=privacy.PERSONAL_COLUMNS)
    assert list(out.columns) == ["year_group"]
    assert "Zebedee" not in out.to_csv()


def test_register_and_pupils_still_join() -> None:
    long, pupils = ac.demo.school(seed=1)
    reg = ac.pseudonymise(ac.Register.from_long(long), KEY)
    pp = ac.pseudonymise(pupils, KEY, drop=privacy.PERSONAL_COLUMNS)
    assert set(reg.pupil_ids) == set(pp.index)


# ------------------------------------------------------------------ registers
def test_register_pseudonymised_everything_else_identical() -> None:
    long, pupils = ac.demo.school(seed=0)
    reg = ac.Register.from_long(long, pupils=pupils)
    out = ac.pseudonymise(reg, KEY)
    assert isinstance(out, ac.Register)
    assert out is not reg
    assert len(out) == len(reg)
    mapping = {pid: expected(KEY, pid) for pid in reg.pupil_ids}
    assert sorted(out.pupil_ids) == sorted(mapping.values())
    # every enrolment's marks and span travel with it
    where = {pid: i for i, pid in enumerate(out.pupil_ids)}
    for i, pid in enumerate(reg.pupil_ids):
        j = where[mapping[pid]]
        assert np.array_equal(reg.marks[i], out.marks[j])
        assert np.array_equal(reg.span[i], out.span[j])
    assert np.array_equal(reg.dates, out.dates)
    assert out.codes == reg.codes
    # the long layout: the same rows with ids mapped, still sorted by pupil
    want = reg.to_long()
    want["pupil_id"] = want["pupil_id"].map(mapping)
    want = want.sort_values(["pupil_id", "date", "session"], kind="mergesort")
    pd.testing.assert_frame_equal(
        out.to_long().reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )
    assert list(out.pupil_ids) == sorted(out.pupil_ids)
    # classification is unchanged apart from the index
    a = ac.classify(reg, scheme="five-band")
    b = ac.classify(out, scheme="five-band")
    a.index = a.index.map(mapping)
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index(), check_index_type=False)


def test_register_with_two_schools_keeps_schools_sorted() -> None:
    df = marks()
    df["school_id"] = ["S2"] * 4 + ["S1"] * 8
    reg = ac.Register.from_long(df)
    out = ac.pseudonymise(reg, KEY)
    assert list(out.school_ids) == sorted(out.school_ids)
    for school in ("S1", "S2"):
        ids = [p for p, s in zip(out.pupil_ids, out.school_ids, strict=True) if s == school]
        assert ids == sorted(ids)
    table = ac.classify(out)
    assert table.index.names == ["school_id", "pupil_id"]
    assert set(table.index.get_level_values("school_id")) == {"S1", "S2"}


def test_register_rejected_values_of_the_id_pseudonymised() -> None:
    df = pd.concat([marks(), marks().iloc[[0]].assign(code="L")], ignore_index=True)
    reg = ac.Register.from_long(df, errors="collect")
    assert len(reg.rejected)
    fake = reg.rejected.copy()
    fake.loc[len(fake)] = {
        "row": 99,
        "column": "pupil_id",
        "value": "A100",
        "reason": "field_too_long",
    }
    reg = ac.Register(
        marks=reg.marks,
        dates=reg.dates,
        pupil_ids=reg.pupil_ids,
        school_ids=reg.school_ids,
        span=reg.span,
        codes=reg.codes,
        rejected=fake,
    )
    out = ac.pseudonymise(reg, KEY)
    values = dict(zip(out.rejected["row"], out.rejected["value"], strict=True))
    assert values[99] == expected(KEY, "A100")
    assert "A100" not in out.rejected.to_csv()
    assert list(out.rejected["row"]) == list(fake["row"])


def test_load_result_every_table() -> None:
    reg = ac.Register.from_long(marks())
    pupils = pd.DataFrame(
        {"year_group": ["Y7"] * 3}, index=pd.Index(["A100", "B200", "C300"], name="pupil_id")
    )
    rejected = pd.DataFrame(
        [{"row": 7, "column": "pupil_id", "value": "D400", "reason": "field_too_long"}]
    )
    totals = pd.DataFrame({"pupil_id": ["A100"], "possible": [4]})
    result = LoadResult(
        register=reg,
        pupils=pupils,
        rejected=rejected,
        rows_read=13,
        totals=totals,
        format="x",
        source="f.csv",
    )
    out = ac.pseudonymise(result, KEY)
    assert isinstance(out, LoadResult)
    assert set(out.register.pupil_ids) == set(out.pupils.index)
    assert out.rejected["value"].iloc[0] == expected(KEY, "D400")
    assert out.totals is not None and out.totals["pupil_id"].iloc[0] == expected(KEY, "A100")
    assert out.rows_read == 13 and out.source == "f.csv"


def test_unsupported_object() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        ac.pseudonymise({"pupil_id": "A100"}, KEY)
