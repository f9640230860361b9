"""The documented rules of reading files (docs/workflow-format.md, "Reading files"), one test
per rule: null markers, the user's column types, type inference, column names, and the
columns reported as numbers-but-for-some-values (import and preview alike)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from engine.errors import NodeError
from engine.io.readers import csv_reader, import_file
from engine.io.readers._options import DEFAULT_NULL_VALUES
from engine.io.readers.preview import preview_file


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(ws, path: Path, table: str = "t", **options):
    return import_file(ws[0], ws[1], path, table, None, options)


def values(ws, sql: str = 'SELECT * FROM "t" ORDER BY rowid') -> list[tuple]:
    return ws[0].execute(sql).fetchall()


# --- null markers ---------------------------------------------------------------------------
def test_the_stray_na_repro_averages_right_with_the_default_options(ws, tmp_path):
    path = write(tmp_path, "x.csv", "x\n1\nNA\n3\n")
    result = load(ws, path)
    assert result.columns == [("x", "INTEGER")]
    assert values(ws, 'SELECT avg(x) FROM "t"') == [(2.0,)]
    assert result.findings == []


def test_every_default_marker_is_null_and_dash_is_not(ws, tmp_path):
    assert DEFAULT_NULL_VALUES == ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "#N/A")
    path = write(tmp_path, "m.csv", "n,s\n" + "".join(f"{m},{m}\n" for m in DEFAULT_NULL_VALUES) + "5,-\n")
    result = load(ws, path)
    assert result.columns == [("n", "INTEGER"), ("s", "TEXT")]
    assert values(ws) == [(None, None)] * len(DEFAULT_NULL_VALUES) + [(5, "-")]


def test_markers_are_whole_values_and_case_sensitive(ws, tmp_path):
    path = write(tmp_path, "c.csv", "s\nNAME\nna\n NA\nNa\n")
    load(ws, path)
    assert values(ws) == [("NAME",), ("na",), (" NA",), ("Na",)]


def test_a_null_values_list_adds_to_the_defaults(ws, tmp_path):
    path = write(tmp_path, "a.csv", "x\n1\n-\nNA\n\n4\n")
    load(ws, path, null_values=["-"])
    assert values(ws) == [(1,), (None,), (None,), (4,)]    # the blank line is skipped, not a row


def test_default_nulls_false_keeps_only_the_listed_markers(ws, tmp_path):
    path = write(tmp_path, "r.csv", "x,y\n1,a\nNA,\n-,b\n")
    result = load(ws, path, null_values=["-"], default_nulls=False)
    assert result.columns == [("x", "TEXT"), ("y", "TEXT")]
    assert values(ws) == [("1", "a"), ("NA", ""), (None, "b")]


def test_default_nulls_false_without_a_list_reads_no_nulls(ws, tmp_path):
    path = write(tmp_path, "e.csv", "x,y\n1,\n2,NULL\n")
    load(ws, path, default_nulls="false")                 # a form's text is accepted
    assert values(ws) == [(1, ""), (2, "NULL")]


def test_bad_null_options_name_the_file_and_option(ws, tmp_path):
    path = write(tmp_path, "b.csv", "x\n1\n")
    with pytest.raises(NodeError, match=r"b\.csv: option 'default_nulls' must be true or false"):
        load(ws, path, default_nulls="maybe")
    with pytest.raises(NodeError, match=r"b\.csv: option 'null_values' must be a list of strings"):
        load(ws, path, null_values={"replace": ["x"]})


def test_excel_text_cells_that_are_markers_are_null(ws, tmp_path):
    book = openpyxl.Workbook()
    for row in (["age", "name"], [10, "a"], ["NA", "NA"], [16, "#N/A"]):
        book.active.append(row)
    book.save(tmp_path / "b.xlsx")
    result = load(ws, tmp_path / "b.xlsx")
    assert result.columns == [("age", "INTEGER"), ("name", "TEXT")]
    assert values(ws, 'SELECT avg(age), count(name) FROM "t"') == [(13.0, 1)]


def test_json_strings_are_never_markers(ws, tmp_path):
    path = write(tmp_path, "j.json", '[{"a": "NA"}, {"a": null}]')
    load(ws, path)
    assert values(ws) == [("NA",), (None,)]


# --- the user's column types ----------------------------------------------------------------
def test_columns_override_the_inferred_types_by_source_or_clean_name(ws, tmp_path):
    path = write(tmp_path, "o.csv", "zip,Amount ($),n\n007,12,1\n123,13.5,2\n")
    result = load(ws, path, columns={"zip": "text", "Amount": "REAL", "n": "text"})
    assert result.columns == [("zip", "TEXT"), ("Amount", "REAL"), ("n", "TEXT")]
    assert values(ws) == [("007", 12.0, "1"), ("123", 13.5, "2")]
    assert result.findings == []          # a text type the user chose is not reported


def test_all_text_keeps_every_value_as_written(ws, tmp_path):
    path = write(tmp_path, "t.csv", "a,b,c\n007,1e3,1\n,NA,2\n")
    result = load(ws, path, all_text=True, columns={"c": "integer"})
    assert result.columns == [("a", "TEXT"), ("b", "TEXT"), ("c", "INTEGER")]
    assert values(ws) == [("007", "1e3", 1), (None, None, 2)]   # null markers still apply


def test_a_column_override_for_a_missing_column_is_an_error(ws, tmp_path):
    path = write(tmp_path, "m.csv", "a,b\n1,2\n")
    with pytest.raises(NodeError, match=r"m\.csv: option 'columns' names 'zip', which the file does not "
                                        r"have \(its columns: a, b\)"):
        load(ws, path, columns={"zip": "text"})


def test_an_unknown_type_is_an_error(ws, tmp_path):
    path = write(tmp_path, "u.csv", "a\n1\n")
    with pytest.raises(NodeError, match=r"u\.csv: option 'columns': the type of 'a' must be one of "
                                        r"integer, real, text, not 'date'"):
        load(ws, path, columns={"a": "date"})


# --- type inference -------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "declared", "stored"), [
    ("42", "INTEGER", 42),
    ("-0", "INTEGER", 0),
    ("-17", "INTEGER", -17),
    ("9223372036854775807", "TEXT", "9223372036854775807"),   # 19 digits: beyond the 18 inference takes
    ("1e3", "REAL", 1000.0),
    ("1.5", "REAL", 1.5),
    (".5", "REAL", 0.5),
    ("2.", "REAL", 2.0),
    ("+5", "TEXT", "+5"),
    ("007", "TEXT", "007"),
    (" 7", "TEXT", " 7"),
    ("7 ", "TEXT", "7 "),
    ("1,5", "TEXT", "1,5"),
    ("0x10", "TEXT", "0x10"),
    ("2024-01-05", "TEXT", "2024-01-05"),
    ("2024-01-05T10:00:00", "TEXT", "2024-01-05T10:00:00"),
    ("true", "TEXT", "true"),
])
def test_inference_of_one_value(ws, tmp_path, text, declared, stored):
    path = write(tmp_path, "v.csv", f'v\n"{text}"\n')
    result = load(ws, path)
    assert result.columns == [("v", declared)]
    assert values(ws) == [(stored,)]


def test_integers_and_reals_mixed_give_real(ws, tmp_path):
    path = write(tmp_path, "r.csv", "v\n1\n2.5\n")
    assert load(ws, path).columns == [("v", "REAL")]


def test_an_all_null_column_is_text(ws, tmp_path):
    path = write(tmp_path, "n.csv", "a,b\n1,\n2,NA\n")
    assert load(ws, path).columns == [("a", "INTEGER"), ("b", "TEXT")]


def test_the_first_5000_rows_decide_and_a_later_text_is_reported(ws, tmp_path, monkeypatch):
    assert csv_reader.INFER_ROWS == 5000
    path = write(tmp_path, "late.csv", "v\n" + "1\n" * 5000 + "oops\n" + "2\n")
    result = load(ws, path)
    assert result.columns == [("v", "INTEGER")]
    assert values(ws, 'SELECT typeof(v), count(*) FROM "t" GROUP BY 1 ORDER BY 1') == [("integer", 5001),
                                                                                         ("text", 1)]
    [finding] = result.findings
    assert finding["message"].startswith("column v: 1 of 5,002 values are not numbers ('oops' ×1) — "
                                         "stored as text in an INTEGER column")


# --- column names ---------------------------------------------------------------------------
def test_column_name_rules(ws, tmp_path):
    path = write(tmp_path, "h.csv", "Order Date,id,,id,ID,total ($),été,a_2,a,a\n" + "1," * 9 + "1\n")
    result = load(ws, path)
    assert [name for name, _ in result.columns] == [
        "Order_Date", "id", "col_3", "id_2", "ID_3", "total", "été", "a_2", "a", "a_3"]
    assert result.source_columns[2] == ""


def test_without_a_header_columns_are_numbered(ws, tmp_path):
    path = write(tmp_path, "n.csv", "1,2\n")
    assert [n for n, _ in load(ws, path, header=False).columns] == ["col_1", "col_2"]


# --- columns that are numbers but for some values -------------------------------------------
def test_a_kept_text_column_is_reported_with_its_odd_values(ws, tmp_path):
    rows = ["12"] * 6 + ["NA"] * 3 + ["n/a", "-"]
    path = write(tmp_path, "f.csv", "arr_delay,name\n" + "".join(f"{v},x{i}\n" for i, v in enumerate(rows)))
    result = load(ws, path, default_nulls=False)
    assert result.columns == [("arr_delay", "TEXT"), ("name", "TEXT")]
    [finding] = result.findings
    assert finding["column"] == "arr_delay" and (finding["values"], finding["not_numbers"]) == (11, 5)
    assert finding["examples"] == [["NA", 3], ["-", 1], ["n/a", 1]]
    assert finding["message"] == (
        "column arr_delay: 5 of 11 values are not numbers ('NA' ×3, '-' ×1, 'n/a' ×1) — kept as text; "
        "to read them as NULL add 'NA', '-', 'n/a' to the option 'null_values', or choose the "
        "column's type in 'columns'")


def test_mostly_text_and_all_number_text_columns_are_not_reported(ws, tmp_path):
    path = write(tmp_path, "t.csv", "code,zip\nA1,007\nB2,012\n3,345\n")
    result = load(ws, path)
    assert result.columns == [("code", "TEXT"), ("zip", "TEXT")]
    assert result.findings == []


def test_the_preview_reports_what_the_run_will(tmp_path):
    path = write(tmp_path, "p.csv", "x\n1\nNA\n3\n")
    preview = preview_file(path, None, {"default_nulls": False}, limit=2)
    assert preview.columns == [("x", "TEXT")] and preview.sampled == 3 and len(preview.rows) == 2
    [finding] = preview.findings
    assert finding["message"].startswith("column x: 1 of 3 values are not numbers ('NA' ×1) — kept as text")
    clean = preview_file(path, None, {}, limit=5)
    assert clean.columns == [("x", "INTEGER")] and clean.findings == []
    typed = preview_file(path, None, {"columns": {"x": "real", "nope": "text"}}, limit=5)
    assert typed.columns == [("x", "REAL")]
    assert [f["message"] for f in typed.findings] == [
        "p.csv: option 'columns' names 'nope', which the file does not have (its columns: x)"]


# --- limits ---------------------------------------------------------------------------------
FIELD_ERROR = (r"line \d+: a field is longer than {:,} characters, the CSV field limit; "
               r"raise the option 'max_field_chars'")


def test_a_5_mb_field_names_the_field_limit_not_the_line(ws, tmp_path):
    path = write(tmp_path, "big.csv", "a,b\n1," + "y" * 5_000_000 + "\n")
    with pytest.raises(NodeError, match="big\\.csv " + FIELD_ERROR.format(131_072)):
        load(ws, path)
    result = load(ws, path, max_field_chars=6_000_000)
    assert result.records == 1
    assert values(ws, 'SELECT a, length(b) FROM "t"') == [(1, 5_000_000)]


def test_max_field_chars_applies_to_quoted_multi_line_fields_and_the_fast_path(ws, tmp_path):
    quoted = write(tmp_path, "q.csv", 'a,b\n1,"' + "line\n" * 40 + '"\n')
    with pytest.raises(NodeError, match="q\\.csv " + FIELD_ERROR.format(100)):
        load(ws, quoted, max_field_chars=100)
    plain = write(tmp_path, "p.csv", "a,b\n1,12345678901\n")
    with pytest.raises(NodeError, match="p\\.csv " + FIELD_ERROR.format(10)):
        load(ws, plain, max_field_chars="10")
    assert load(ws, plain, "t2", max_field_chars=11).records == 1


def test_the_csv_field_limit_is_put_back_after_a_read(ws, tmp_path):
    import csv

    before = csv.field_size_limit()
    load(ws, write(tmp_path, "l.csv", "a\n1\n"), max_field_chars=1_000_000)
    assert csv.field_size_limit() == before


def test_a_bad_max_field_chars_is_an_error(ws, tmp_path):
    path = write(tmp_path, "m.csv", "a\n1\n")
    with pytest.raises(NodeError, match=r"m\.csv: option 'max_field_chars' must be a whole number from 1 to "
                                        r"268,435,456"):
        load(ws, path, max_field_chars=-3)


def test_bad_reading_options_are_found_before_a_run():
    from plugins.core.data_source import DataSourceNode

    problems = DataSourceNode().validate_config(
        {"path": "a.csv", "options": {"columns": {"a": "date"}, "default_nulls": "maybe"}}, [])
    assert [(p.field, p.message) for p in problems] == [
        ("options.default_nulls", "option 'default_nulls' must be true or false, got 'maybe'"),
        ("options.columns", "option 'columns': the type of 'a' must be one of integer, real, text, not 'date'")]
    good = {"path": "a.csv", "options": {"columns": {"a": "TEXT"}, "null_values": ["-"], "all_text": True}}
    assert DataSourceNode().validate_config(good, []) == []


def test_original_names_keeps_the_file_s_names_quoted(ws, tmp_path):
    path = write(tmp_path, "n.csv", 'Order Date,total ($),,select,"a""b",id,ID\n1,2,3,4,5,6,7\n')
    result = load(ws, path, original_names=True, columns={"total ($)": "real"})
    assert result.columns == [("Order Date", "INTEGER"), ("total ($)", "REAL"), ("col_3", "INTEGER"),
                              ("select", "INTEGER"), ('a"b', "INTEGER"), ("id", "INTEGER"), ("ID_2", "INTEGER")]
    assert values(ws, 'SELECT "Order Date", "total ($)", "select", "a""b", "ID_2" FROM "t"') == [(1, 2.0, 4, 5, 7)]


@pytest.mark.parametrize("name", ["latin-1", "ISO-8859-1", "cp1252", "iso-8859-15", "utf-16", "UTF8", "utf-8-sig"])
def test_documented_encoding_names_are_accepted(ws, tmp_path, name):
    path = tmp_path / "e.csv"
    path.write_bytes("name\ncafé\n".encode(name))
    load(ws, path, encoding=name)
    assert values(ws) == [("café",)]


def test_an_unknown_encoding_and_an_undecodable_line_are_named(ws, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes("name\nok\ncafé\n".encode("latin-1"))
    with pytest.raises(NodeError, match=r"e\.csv: unknown encoding 'klingon'"):
        load(ws, path, encoding="klingon")
    with pytest.raises(NodeError, match=r"e\.csv: not valid utf-8 at line 3; set the 'encoding' option"):
        load(ws, path)


def test_a_text_in_a_numeric_column_is_found_when_a_blob_sorts_above_it() -> None:
    # The scan takes a numeric column's max (texts sort above numbers); a BLOB sorts above
    # texts, so such a column is counted instead of trusting its max.
    import sqlite3

    from engine.io.readers._findings import mixed_columns

    db = sqlite3.connect(":memory:")
    db.execute('CREATE TABLE t ("a" REAL, "b" INTEGER, "c" INTEGER)')
    db.executemany("INSERT INTO t VALUES (?, ?, ?)",
                   [(1.5, 1, 1), ("NA", b"\x00", 2), (2.5, "oops", 3), (b"\x01", 4, None)])
    found = {f["column"]: (f["values"], f["not_numbers"]) for f in
             mixed_columns(db, "t", [("a", "REAL"), ("b", "INTEGER"), ("c", "INTEGER")])}
    assert found == {"a": (4, 1), "b": (4, 1)}


def test_the_findings_scan_uses_sqlites_own_aggregates_not_the_exact_sum(ws):
    # On a workspace connection `sum` is the exact sum, a Python call per row (engine.decimals);
    # counting with it made the scan three times slower on a wide import. Whatever shadows
    # `sum`/`total` here must never be called, and the findings must not change.
    from engine.io.readers._findings import mixed_columns

    calls = []

    class Counted:
        def step(self, value):
            calls.append(value)

        def finalize(self):
            return 0

    conn = ws[0]
    conn.execute('CREATE TABLE "m" ("n" INTEGER, "s" TEXT)')
    conn.executemany('INSERT INTO "m" VALUES (?, ?)',
                     [(1, "1"), ("oops", "2"), (3, "3"), (4, "x")])
    for name in ("sum", "total"):
        conn.create_aggregate(name, 1, Counted)
    found = {f["column"]: (f["type"], f["values"], f["not_numbers"])
             for f in mixed_columns(conn, "m", [("n", "INTEGER"), ("s", "TEXT")])}
    assert found == {"n": ("INTEGER", 4, 1), "s": ("TEXT", 4, 1)}
    assert calls == []
