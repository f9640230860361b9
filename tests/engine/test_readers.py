"""File readers of the Data Source node: every format imports, every bad input is a clear error.

Each test writes a small file into ``tmp_path``, imports it into a fresh WAL workspace
with :func:`import_file` and checks the table (values *and* SQLite storage classes).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.errors import NodeError
from engine.io import columns as colmod
from engine.io.readers import (
    FORMATS,
    ImportResult,
    csv_native,
    csv_reader,
    detect_format,
    import_file,
    json_reader,
    sqlite_reader,
)


def load(ws, path: Path, fmt: str | None = None, **options) -> ImportResult:
    conn, lease = ws
    return import_file(conn, lease, path, "t", fmt, options)


def rows(ws, sql: str = 'SELECT * FROM "t" ORDER BY rowid') -> list[tuple]:
    return ws[0].execute(sql).fetchall()


def storage(ws, column: str) -> set[str]:
    return {r[0] for r in ws[0].execute(f'SELECT DISTINCT typeof("{column}") FROM "t"')}


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- formats ------------------------------------------------------------------------


def test_public_api():
    import engine.io.readers as readers

    assert readers.__all__ == ["FORMATS", "ImportResult", "detect_format", "import_file"]


def test_detect_format_by_extension():
    assert [detect_format(Path(f"x.{e}")) for e in
            ("csv", "TSV", "json", "jsonl", "ndjson", "xlsx", "parquet", "sqlite", "db", "sqlite3")] == \
        ["csv", "csv", "json", "jsonl", "jsonl", "excel", "parquet", "sqlite", "sqlite", "sqlite"]
    assert set(FORMATS) == {"csv", "json", "jsonl", "excel", "parquet", "sqlite"}
    with pytest.raises(NodeError, match=r"x\.bin: cannot tell the format"):
        detect_format(Path("x.bin"))


def test_csv_round_trip_with_inferred_types(ws, tmp_path):
    path = write(tmp_path, "orders.csv",
                 "id,zip,price,name,day\n1,007,1.5,ann,2024-01-02\n2,12345,2,bob,2024-01-03\n"
                 "3,00000,-3e2,,2024-01-04\n")
    result = load(ws, path)
    assert result == ImportResult(
        records=3,
        columns=[("id", "INTEGER"), ("zip", "TEXT"), ("price", "REAL"), ("name", "TEXT"), ("day", "TEXT")],
        source_columns=["id", "zip", "price", "name", "day"])
    assert rows(ws) == [(1, "007", 1.5, "ann", "2024-01-02"), (2, "12345", 2.0, "bob", "2024-01-03"),
                        (3, "00000", -300.0, None, "2024-01-04")]
    assert storage(ws, "id") == {"integer"} and storage(ws, "price") == {"real"}
    assert storage(ws, "zip") == {"text"}
    assert ws[0].execute("PRAGMA table_info(t)").fetchall()[0][2] == "INTEGER"


def test_csv_quoted_fields_crlf_and_missing_final_newline(ws, tmp_path):
    path = write(tmp_path, "q.csv", 'a,b\r\n1,"x, ""y"""\r\n2,"multi\r\nline"\r\n3,z')
    assert load(ws, path).records == 3
    assert rows(ws) == [(1, 'x, "y"'), (2, "multi\r\nline"), (3, "z")]


def test_csv_switches_to_the_csv_module_mid_file(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "BLOCK_CHARS", 64)
    monkeypatch.setattr(csv_reader, "BATCH_VALUES", 16)
    body = "".join(f"{i},v{i}\n" for i in range(50)) + '50,"quoted, comma"\n\n51,last\n'
    path = write(tmp_path, "mixed.csv", "n,v\n" + body)
    assert load(ws, path).records == 52
    got = rows(ws)
    assert got[:2] == [(0, "v0"), (1, "v1")] and got[-2:] == [(50, "quoted, comma"), (51, "last")]
    assert [r[0] for r in got] == list(range(52))


@pytest.mark.parametrize("block", [3, 7, 16, 1 << 13])
def test_csv_fast_path_nulls_and_crlf_at_any_block_boundary(ws, tmp_path, monkeypatch, block):
    monkeypatch.setattr(csv_reader, "BLOCK_CHARS", block)
    path = write(tmp_path, "n.csv", "a,b,c\r\n,1,x\r\n2,,y\r\n3,2,\r\nNA,4,z\r\n5,5,NA")
    load(ws, path, null_values=["", "NA"])
    assert rows(ws) == [(None, 1, "x"), (2, None, "y"), (3, 2, None), (None, 4, "z"), (5, 5, None)]


def test_csv_null_markers_become_null_before_sql(ws, tmp_path, monkeypatch):
    """The reader replaces CSV null markers by None itself: the INSERTs bind plain values (the
    Python path's statements; the native loader's: tests/engine/test_csv_native.py)."""
    monkeypatch.setenv("DAGFLUX_NATIVE_CSV", "0")
    path = write(tmp_path, "n.csv", "a,b,c\n1,,x\n2,5,y\nNA,6,N/A\n")
    statements: list[str] = []
    ws[0].set_trace_callback(statements.append)
    load(ws, path)
    ws[0].set_trace_callback(None)
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert inserts and not any("CASE" in s or "nullif" in s for s in inserts)
    assert rows(ws) == [(1, None, "x"), (2, 5, "y"), (None, 6, None)]


@pytest.mark.parametrize("every", [2, 3, 50, 997])
def test_csv_null_markers_frequent_or_rare_never_count_as_zero(ws, tmp_path, every):
    """'NA' in a number column, dense (one list pass) or sparse (a jump to each one), is NULL:
    the average is that of the numbers alone, and a text column's 'NA' is NULL too."""
    lines = [f"{'NA' if i % every == 0 else i},{'NA' if i % every == 1 else 'k'}" for i in range(6000)]
    path = write(tmp_path, "m.csv", "n,t\n" + "\n".join(lines) + "\n")
    load(ws, path)
    numbers = [i for i in range(6000) if i % every]
    conn = ws[0]
    assert conn.execute("SELECT count(n), avg(n), count(t) FROM t").fetchone() == (
        len(numbers), sum(numbers) / len(numbers), sum(1 for i in range(6000) if i % every != 1))
    assert conn.execute("SELECT count(*) FROM t WHERE n = 'NA' OR t = 'NA'").fetchone() == (0,)


def test_csv_fast_path_matches_the_csv_module(ws, tmp_path, monkeypatch):
    """Differential check on many small random files: the result never depends on
    where blocks end or on which parser handled a line."""
    import csv
    import io
    import random

    rnd = random.Random(7)
    atoms = ["a", "b", "xy", "", " ", '"q"', "c,d", "l\nm", "é"]
    for case in range(60):
        ncols = rnd.randint(1, 4)
        records = [[rnd.choice(atoms) for _ in range(ncols)] for _ in range(rnd.randint(0, 12))]
        out = io.StringIO()
        csv.writer(out, lineterminator=rnd.choice(["\n", "\r\n"])).writerows(
            [[f"h{i}" for i in range(ncols)]] + records)
        text = out.getvalue()
        if rnd.random() < 0.3:
            text = text.rstrip("\r\n")
        expected = [r for r in csv.reader(io.StringIO(text, newline="")) if r][1:]
        monkeypatch.setattr(csv_reader, "BLOCK_CHARS", rnd.choice([2, 5, 11, 4096]))
        path = write(tmp_path, f"case{case}.csv", text)
        result = import_file(ws[0], ws[1], path, f"t{case}", options={"default_nulls": False})
        got = ws[0].execute(f'SELECT * FROM "t{case}" ORDER BY rowid').fetchall()
        assert result.records == len(expected), text
        assert [list(r) for r in got] == expected, text


def test_csv_options_delimiter_quote_encoding_header_nulls_skip(ws, tmp_path):
    text = "report of 2024\nsecond junk line\n1;'a;b';NA;é\n2;'c';;ü\n"
    path = write(tmp_path, "in.txt", text, encoding="latin-1")
    result = load(ws, path, "csv", delimiter=";", quote="'", encoding="latin-1", header=False,
                  null_values=["NA"], default_nulls=False, skip_rows=2)
    assert [c for c, _ in result.columns] == ["col_1", "col_2", "col_3", "col_4"]
    assert rows(ws) == [(1, "a;b", None, "é"), (2, "c", "", "ü")]


def test_form_style_option_values(ws, tmp_path):
    path = write(tmp_path, "f.txt", "junk\nx\ty\n-\t2\n")
    result = load(ws, path, "csv", delimiter="\\t", header="false", skip_rows="1", null_values="-")
    assert result.source_columns == ["col_1", "col_2"]
    assert rows(ws) == [("x", "y"), (None, "2")]


def test_tsv_defaults_to_tab_and_bom_is_stripped(ws, tmp_path):
    path = write(tmp_path, "x.tsv", "\ufeffname\tn\nann\t1\n")
    result = load(ws, path)
    assert result.source_columns == ["name", "n"] and rows(ws) == [("ann", 1)]


def test_csv_header_only_gives_an_empty_table(ws, tmp_path):
    result = load(ws, write(tmp_path, "h.csv", "a,b\n"))
    assert result.records == 0 and result.columns == [("a", "TEXT"), ("b", "TEXT")]
    assert rows(ws) == []


def test_csv_single_column_with_blank_lines(ws, tmp_path):
    path = write(tmp_path, "one.csv", "v\n1\n\n2\n")
    assert load(ws, path).records == 2 and rows(ws) == [(1,), (2,)]


def test_json_array_with_varying_keys_and_nested_values(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(json_reader, "BATCH_VALUES", 4)     # keys first seen in a later batch
    records = [{"id": 1, "name": "a"}, {"id": 2, "tags": ["x", "y"]},
               {"id": 3, "name": "c", "meta": {"k": True}, "ok": False}, {"id": 4}]
    path = write(tmp_path, "r.json", json.dumps(records, indent=2))
    result = load(ws, path)
    assert result.source_columns == ["id", "name", "tags", "meta", "ok"]
    assert rows(ws) == [(1, "a", None, None, None), (2, None, '["x","y"]', None, None),
                        (3, "c", None, '{"k":true}', 0), (4, None, None, None, None)]
    assert dict(result.columns)["ok"] == "INTEGER"


def test_json_integer_beyond_64_bits_is_kept_as_text(ws, tmp_path):
    path = write(tmp_path, "big.json", json.dumps([{"n": 2 ** 70}, {"n": 1}]))
    assert load(ws, path).columns == [("n", "TEXT")]
    assert rows(ws) == [(str(2 ** 70),), ("1",)]


def test_json_records_split_across_reads(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(json_reader, "READ_CHARS", 7)
    records = [{"n": i, "s": "x" * (i % 13), "f": i / 4} for i in range(200)]
    path = write(tmp_path, "r.json", json.dumps(records))
    assert load(ws, path).records == 200
    assert rows(ws)[-1] == (199, "x" * (199 % 13), 199 / 4)
    assert dict(load_columns(ws)) == {"n": "INTEGER", "s": "TEXT", "f": "REAL"}


def load_columns(ws) -> list[tuple[str, str]]:
    return [(r[1], r[2]) for r in ws[0].execute("PRAGMA table_info(t)")]


def test_jsonl_round_trip(ws, tmp_path):
    path = write(tmp_path, "r.jsonl", '{"a": 1, "b": "x"}\n\n{"a": 2.5, "c": null}\n')
    result = load(ws, path)
    assert result.columns == [("a", "REAL"), ("b", "TEXT"), ("c", "TEXT")]
    assert rows(ws) == [(1.0, "x", None), (2.5, None, None)]


def test_excel_sheet_choice(ws, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    import datetime as dt

    book = openpyxl.Workbook()
    first = book.active
    first.title = "Summary"
    first.append(["total"])
    first.append([3])
    data = book.create_sheet("Data")
    data.append(["id", "when", "ok", None])
    data.append([1, dt.datetime(2024, 1, 2, 3, 4, 5), True, None])
    data.append([None, None, None, None])
    data.append([2, None, False, "extra"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    book.close()

    result = load(ws, path, sheet="Data")
    assert [c for c, _ in result.columns] == ["id", "when", "ok", "col_4"]
    assert rows(ws) == [(1, "2024-01-02T03:04:05", 1, None), (2, None, 0, "extra")]
    ws[0].execute('DROP TABLE "t"')
    assert load(ws, path, sheet=1).records == 1 and rows(ws) == [(3,)]
    ws[0].execute('DROP TABLE "t"')
    assert load(ws, path, sheet="2").records == 2
    ws[0].execute('DROP TABLE "t"')
    with pytest.raises(NodeError, match=r"book\.xlsx: no sheet 'Nope'; the workbook has 'Summary', 'Data'"):
        load(ws, path, sheet="Nope")


def test_parquet_round_trip(ws, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import datetime as dt
    import decimal

    table = pa.table({
        "id": pa.array([1, 2, None], pa.int64()),
        "price": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("3.50")], pa.decimal128(6, 2)),
        "name": pa.array(["a", "b", "a"]).dictionary_encode(),
        "day": [dt.date(2024, 1, 2), None, dt.date(2024, 1, 4)],
        "flag": [True, False, None],
        "tags": [[1, 2], None, []],
        "blob": [b"\x00\x01", None, b""],
        "order date": [1.5, 2.5, 3.5],
    })
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=2)
    result = load(ws, path)
    assert result.columns == [("id", "INTEGER"), ("price", "REAL"), ("name", "TEXT"), ("day", "TEXT"),
                              ("flag", "INTEGER"), ("tags", "TEXT"), ("blob", "BLOB"),
                              ("order_date", "REAL")]
    assert rows(ws) == [(1, 1.25, "a", "2024-01-02", 1, "[1,2]", b"\x00\x01", 1.5),
                        (2, None, "b", None, 0, None, None, 2.5),
                        (None, 3.5, "a", "2024-01-04", None, "[]", b"", 3.5)]


def make_source_db(path: Path) -> None:
    src = sqlite3.connect(path)
    src.execute('CREATE TABLE "Orders" (id INTEGER PRIMARY KEY, "order date" DATE, qty INT, '
                'twice INT GENERATED ALWAYS AS (qty * 2))')
    src.executemany('INSERT INTO "Orders" (id, "order date", qty) VALUES (?, ?, ?)',
                    [(i, f"2024-01-{i % 28 + 1:02d}", i) for i in range(1, 121)])
    src.execute("CREATE TABLE other (x)")
    src.execute('CREATE VIEW big AS SELECT id, qty FROM "Orders" WHERE qty > 100')
    src.commit()
    src.close()


@pytest.mark.parametrize("via_attach", [True, False])
def test_sqlite_table_copy(ws, tmp_path, monkeypatch, via_attach):
    monkeypatch.setattr(sqlite_reader, "BATCH_ROWS", 50)
    monkeypatch.setattr(sqlite_reader, "_attach_supported", lambda conn: via_attach)
    path = tmp_path / "src.db"
    make_source_db(path)
    before = path.read_bytes()
    result = load(ws, path, table="orders")
    assert result.records == 120
    assert result.columns == [("id", "INTEGER"), ("order_date", "DATE"), ("qty", "INT"), ("twice", "INT")]
    assert rows(ws)[:2] == [(1, "2024-01-02", 1, 2), (2, "2024-01-03", 2, 4)]
    assert rows(ws, 'SELECT count(*), sum(qty) FROM "t"') == [(120, sum(range(1, 121)))]
    assert path.read_bytes() == before                       # the source is never written
    assert [r[1] for r in ws[0].execute("PRAGMA database_list")] == ["main"]  # detached
    ws[0].execute('DROP TABLE "t"')
    assert load(ws, path, table="big").records == 20


def test_sqlite_declared_types_cannot_inject_sql():
    assert sqlite_reader.declared_type("VARCHAR(20)") == "VARCHAR(20)"
    assert sqlite_reader.declared_type("") == ""
    assert sqlite_reader.declared_type('"x" CHECK (0)') == "NUMERIC"
    assert sqlite_reader.declared_type('TEXT DEFAULT (x)') == "TEXT"
    assert sqlite_reader.declared_type("INT) ; DROP") == "INTEGER"


def test_sqlite_table_option_errors_list_the_tables(ws, tmp_path):
    path = tmp_path / "src.db"
    make_source_db(path)
    with pytest.raises(NodeError, match=r"src\.db: option 'table' is required; tables in the file: "
                                        r"'Orders', 'big', 'other'"):
        load(ws, path)
    with pytest.raises(NodeError, match=r"src\.db: no table 'nope'; tables in the file: 'Orders'"):
        load(ws, path, table="nope")
    bad = write(tmp_path, "bad.db", "this is not a database" * 100)
    with pytest.raises(NodeError, match=r"bad\.db: not a readable SQLite database"):
        load(ws, bad, table="x")


# --- column names --------------------------------------------------------------------


def test_sanitize_names_rules():
    assert colmod.sanitize_names([" Order  Date ", "a-b/c", "", "x", "X", "x_2", None, "größe", "__"]) == \
        ["Order_Date", "a_b_c", "col_3", "x", "X_3", "x_2", "col_7", "größe", "col_9"]
    assert colmod.sanitize_names(["a", "a", "a_2"]) == ["a", "a_3", "a_2"]
    assert colmod.sanitize_names(["id", "ID", "Id"]) == ["id", "ID_2", "Id_3"]


def test_hostile_header_names_import_and_nothing_is_injected(ws, tmp_path):
    ws[0].execute("CREATE TABLE victim (x)")
    header = 'select,"a""b",x y,"""; DROP TABLE victim; --",from,x_y\n'
    path = write(tmp_path, "evil.csv", header + "1,2,3,4,5,6\n")
    result = load(ws, path)
    assert result.source_columns == ["select", 'a"b', "x y", '"; DROP TABLE victim; --', "from", "x_y"]
    assert [c for c, _ in result.columns] == ["select", "a_b", "x_y", "DROP_TABLE_victim", "from", "x_y_2"]
    assert rows(ws) == [(1, 2, 3, 4, 5, 6)]
    assert ws[0].execute("SELECT name FROM sqlite_master WHERE name = 'victim'").fetchone()


def test_unquoted_names_reach_sql_quoted(ws, tmp_path):
    # The sink quotes every identifier, so even an unsanitised-looking table name works.
    conn, lease = ws
    path = write(tmp_path, "a.csv", "v\n1\n")
    import_file(conn, lease, path, 'odd "table"; name')
    assert conn.execute('SELECT v FROM "odd ""table""; name"').fetchall() == [(1,)]


# --- type inference ------------------------------------------------------------------


@pytest.mark.parametrize(("values", "expected"), [
    (["1", "-2", "0", ""], "INTEGER"),
    (["007", "1"], "TEXT"),
    (["1.5", "2", "-3e-2", ".5"], "REAL"),
    (["01.5"], "TEXT"),
    (["2024-01-02"], "TEXT"),
    (["12345678901234567890"], "TEXT"),          # beyond 64 bits: kept exactly as text
    (["+5"], "TEXT"),
    ([" 5"], "TEXT"),
    (["", ""], "TEXT"),
    (["nan", "inf"], "TEXT"),
])
def test_infer_text_type(values, expected):
    assert colmod.infer_text_type(values) == expected


def test_infer_value_type():
    assert colmod.infer_value_type([1, True, None]) == "INTEGER"
    assert colmod.infer_value_type([1, 2.5]) == "REAL"
    assert colmod.infer_value_type([1, "x"]) == "TEXT"
    assert colmod.infer_value_type([None]) == "TEXT"


def test_a_late_value_that_does_not_fit_is_kept(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "INFER_ROWS", 2)
    monkeypatch.setattr(csv_reader, "BATCH_VALUES", 2)
    path = write(tmp_path, "late.csv", "n\n1\n2\n3\nn/a\n")
    load(ws, path)
    assert rows(ws) == [(1,), (2,), (3,), ("n/a",)]


# --- bad input -----------------------------------------------------------------------


def test_ragged_row_names_file_and_line(ws, tmp_path):
    lines = ["a,b,c,d,e,f,g,h"] + ["1,2,3,4,5,6,7,8"] * 15 + ["1,2,3,4,5,6,7,8,9"]
    path = write(tmp_path, "orders.csv", "\n".join(lines) + "\n")
    with pytest.raises(NodeError, match=r"^orders\.csv line 17: expected 8 fields, found 9$"):
        load(ws, path)


def test_ragged_row_after_a_multiline_field(ws, tmp_path):
    path = write(tmp_path, "o.csv", 'a,b\n1,"x\ny"\n2\n')
    with pytest.raises(NodeError, match=r"o\.csv line 4: expected 2 fields, found 1"):
        load(ws, path)


def test_undecodable_bytes_name_line_and_hint(ws, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name\nok\nJos\xe9\n")
    with pytest.raises(NodeError, match=r"latin\.csv: not valid utf-8 at line 3; set the 'encoding' "
                                        r"option, e.g\. latin-1"):
        load(ws, path)


def test_empty_files(ws, tmp_path):
    for name in ("e.csv", "e.json", "e.jsonl"):
        with pytest.raises(NodeError, match=rf"^{name.replace('.', '[.]')} is empty$"):
            load(ws, write(tmp_path, name, ""))
    with pytest.raises(NodeError, match=r"blank\.csv is empty"):
        load(ws, write(tmp_path, "blank.csv", "\n\n"))
    with pytest.raises(NodeError, match=r"skip\.csv is empty after skipping 5 lines"):
        load(ws, write(tmp_path, "skip.csv", "a\n1\n"), skip_rows=5)


def test_huge_single_line_is_a_clear_error_with_bounded_memory(ws, tmp_path):
    import tracemalloc

    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        for _ in range(24):                       # 24 MiB, no newline at all
            fh.write("x" * (1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(NodeError, match=r"big\.csv line 1: the line is longer than 4 Mi characters"):
            load(ws, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2 ** 20


def test_field_over_the_csv_limit(ws, tmp_path):
    path = write(tmp_path, "f.csv", "a,b\n1," + "y" * 200_000 + "\n")
    with pytest.raises(NodeError, match=r"f\.csv line 2: a field is longer than 131,072 characters, the CSV "
                                        r"field limit; raise the option 'max_field_chars'"):
        load(ws, path)


def test_bad_options(ws, tmp_path):
    path = write(tmp_path, "o.csv", "a\n1\n")
    with pytest.raises(NodeError, match=r"o\.csv: unknown encoding 'klingon'"):
        load(ws, path, encoding="klingon")
    with pytest.raises(NodeError, match=r"option 'delimiter' must be one character"):
        load(ws, path, delimiter=";;")
    with pytest.raises(NodeError, match=r"option 'skip_rows' must be a whole number"):
        load(ws, path, skip_rows=-1)
    with pytest.raises(NodeError, match=r"option 'header' must be true or false, got 'maybe'"):
        load(ws, path, header="maybe")
    with pytest.raises(NodeError, match=r"option 'quote' must differ from the delimiter"):
        load(ws, path, quote=",")
    with pytest.raises(NodeError, match=r"option 'null_values' must be a list of strings"):
        load(ws, path, null_values=[1])
    with pytest.raises(NodeError, match=r"missing\.csv: no such file"):
        load(ws, tmp_path / "missing.csv")


@pytest.mark.parametrize(("text", "message"), [
    ('[{"a": 1},\n {"a": 2,}]', r"m\.json line 2 column 10: Expecting property name"),
    ('{"a": 1}', r"m\.json line 1 column 1: expected '\[' \(a JSON array of objects\)"),
    ('[{"a": 1}, 5]', r"m\.json line 1 column 12: array element 2 is not an object"),
    ('[{"a": 1}] x', r"m\.json line 1 column 12: extra data after the closing '\]'"),
    ('[{"a": 1}', r"m\.json line 1 column 10: expected ',' or '\]'"),
    ('[{"a": "unterminated}]', r"m\.json line 1 column 8: Unterminated string"),
    ("[]", r"m\.json: no records with any field"),
])
def test_malformed_json(ws, tmp_path, monkeypatch, text, message):
    monkeypatch.setattr(json_reader, "READ_CHARS", 4)
    with pytest.raises(NodeError, match=message):
        load(ws, write(tmp_path, "m.json", text))


def test_json_record_over_the_limit(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(json_reader, "RECORD_LIMIT", 1000)
    monkeypatch.setattr(json_reader, "READ_CHARS", 64)
    path = write(tmp_path, "big.json", '[{"a": "' + "x" * 5000 + '"}]')
    with pytest.raises(NodeError, match=r"big\.json line 1 column 2: a record is larger than"):
        load(ws, path)


def test_malformed_jsonl_names_the_line(ws, tmp_path):
    with pytest.raises(NodeError, match=r"l\.jsonl line 3 column 7: Expecting"):
        load(ws, write(tmp_path, "l.jsonl", '{"a": 1}\n\n{"a": }\n'))
    with pytest.raises(NodeError, match=r"l2\.jsonl line 2: expected a JSON object, found list"):
        load(ws, write(tmp_path, "l2.jsonl", '{"a": 1}\n[1]\n'))


def test_not_a_workbook_or_parquet(ws, tmp_path):
    import zipfile

    openpyxl = pytest.importorskip("openpyxl")
    with pytest.raises(NodeError, match=r"x\.xlsx: not a readable \.xlsx workbook"):
        load(ws, write(tmp_path, "x.xlsx", "plain text"))
    book = openpyxl.Workbook()
    book.active.append(["a"])
    book.save(tmp_path / "ok.xlsx")
    book.close()
    with zipfile.ZipFile(tmp_path / "ok.xlsx") as good, zipfile.ZipFile(tmp_path / "bad.xlsx", "w") as bad:
        for name in good.namelist():
            data = good.read(name)
            bad.writestr(name, b"<broken" if name.startswith("xl/worksheets/") else data)
    with pytest.raises(NodeError, match=r"^bad\.xlsx.*(not a readable|cannot read the sheet)"):
        load(ws, tmp_path / "bad.xlsx")
    pytest.importorskip("pyarrow")
    with pytest.raises(NodeError, match=r"x\.parquet: not a readable Parquet file"):
        load(ws, write(tmp_path, "x.parquet", "plain text"))


def test_writes_happen_in_short_transactions(ws, tmp_path, monkeypatch):
    """Every batch commits on its own, so other writers can interleave (the Python path; the
    native loader's transactions: tests/engine/test_csv_native.py)."""
    monkeypatch.setenv("DAGFLUX_NATIVE_CSV", "0")
    monkeypatch.setattr(csv_reader, "BATCH_VALUES", 10)
    monkeypatch.setattr(csv_reader, "BLOCK_CHARS", 16)
    monkeypatch.setattr(csv_reader, "INFER_ROWS", 2)
    path = write(tmp_path, "n.csv", "a\n" + "".join(f"{i}\n" for i in range(100)))
    statements: list[str] = []
    ws[0].set_trace_callback(statements.append)
    load(ws, path)
    ws[0].set_trace_callback(None)
    assert statements.count("BEGIN IMMEDIATE") >= 3
    assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT")


# --- resources -----------------------------------------------------------------------


def traced_peak(action) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def peak_per_size(ws, make, sizes) -> list[int]:
    """Traced peak memory of importing files of the given sizes (rows)."""
    peaks = []
    for n in sizes:
        path = make(n)
        peaks.append(traced_peak(lambda path=path: load(ws, path)))
        assert rows(ws, 'SELECT count(*) FROM "t"') == [(n,)]
        ws[0].execute('DROP TABLE "t"')
    return peaks


def test_csv_memory_does_not_grow_with_the_file(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "BATCH_VALUES", 1024)
    monkeypatch.setattr(csv_reader, "INFER_ROWS", 100)

    def make(n):
        path = tmp_path / f"m{n}.csv"
        with open(path, "w") as fh:
            fh.write("a,b,c,d\n")
            fh.writelines(f"{i},{i * 3},name {i},2024-01-{i % 28 + 1:02d}\n" for i in range(n))
        return path

    small, big = peak_per_size(ws, make, [5_000, 20_000])
    assert big < small * 1.6, (small, big)      # the file is 4 times larger


def test_json_memory_does_not_grow_with_the_file(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(json_reader, "BATCH_VALUES", 1024)
    monkeypatch.setattr(json_reader, "READ_CHARS", 1 << 14)

    def make(n):
        path = tmp_path / f"m{n}.json"
        path.write_text("[\n" + ",\n".join(json.dumps({"id": i, "name": f"name {i}", "v": i / 3})
                                          for i in range(n)) + "\n]")
        return path

    small, big = peak_per_size(ws, make, [3_000, 12_000])
    assert big < small * 1.6, (small, big)      # the file is 4 times larger


def test_importing_the_readers_does_not_load_pyarrow(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; import engine.io.readers as r; "
            "from engine.workspace import connect, WriteLease; "
            f"p = Path({str(tmp_path)!r}); (p / 'a.csv').write_text('x\\n1\\n'); "
            "c = connect(p / 'w.sqlite'); l = WriteLease(p / 'w.sqlite'); "
            "r.import_file(c, l, p / 'a.csv', 't'); c.close(); l.close(); "
            "assert 'pyarrow' not in sys.modules and 'openpyxl' not in sys.modules")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_reader_thread_is_gone_and_switch_interval_restored(ws, tmp_path):
    import sys
    import threading

    before = sys.getswitchinterval()
    load(ws, write(tmp_path, "ok.csv", "a\n1\n"))
    with pytest.raises(NodeError):
        load(ws, write(tmp_path, "bad.csv", "a,b\n1\n"))
    assert sys.getswitchinterval() == before
    assert not [t for t in threading.enumerate() if t.name == "dagflux-reader"]


@pytest.mark.parametrize("native", ["1", "0"])
def test_wal_is_checkpointed_by_a_helper_and_stays_bounded(ws, tmp_path, monkeypatch, native):
    import os
    import threading

    import engine.io.readers as readers
    from engine import wal_checkpoint as _checkpoint

    monkeypatch.setattr(csv_reader, "BATCH_VALUES", 2000)
    monkeypatch.setattr(csv_reader, "INFER_ROWS", 10)
    monkeypatch.setattr(readers, "BATCHES_PER_TRANSACTION", 1)
    monkeypatch.setattr(csv_native, "VALUES_PER_TRANSACTION", 2000)
    monkeypatch.setenv("DAGFLUX_NATIVE_CSV", native)
    monkeypatch.setattr(_checkpoint, "WAL_BYTES_LIMIT", 40 * 4096)
    path = tmp_path / "many.csv"
    path.write_text("a,b,c,d\n" + "".join(f"{i},{i * 7},text {i},2024-01-02\n" for i in range(40_000)))
    conn = ws[0]
    conn.execute("PRAGMA wal_autocheckpoint = 777")
    result = load(ws, path)
    assert (result.records, result.native) == (40_000, native == "1")
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 777
    assert not [t for t in threading.enumerate() if t.name == "dagflux-checkpoint"]
    busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, frames - done) == (0, 0)               # nothing left to checkpoint
    db_bytes = conn.execute("PRAGMA page_count").fetchone()[0] * 4096
    wal_bytes = os.path.getsize(str(tmp_path / "ws.sqlite") + "-wal")
    assert db_bytes > 1_000_000 and wal_bytes < db_bytes / 3


@pytest.mark.parametrize("native", ["1", "0"])
def test_the_wal_stays_bounded_when_the_checkpoint_helper_is_slow(ws, tmp_path, monkeypatch, native):
    """A loaded machine may not schedule the helper for a while: the writer must not run
    away from it (before, the WAL grew with every commit until the helper ran)."""
    import os
    import time

    import engine.io.readers as readers
    from engine import wal_checkpoint as _checkpoint

    real = _checkpoint._checkpoint

    def starved(helper):
        time.sleep(0.05)
        return real(helper)

    monkeypatch.setattr(_checkpoint, "_checkpoint", starved)
    monkeypatch.setattr(csv_reader, "BATCH_VALUES", 2000)
    monkeypatch.setattr(csv_reader, "INFER_ROWS", 10)
    monkeypatch.setattr(readers, "BATCHES_PER_TRANSACTION", 1)
    monkeypatch.setattr(csv_native, "VALUES_PER_TRANSACTION", 2000)
    monkeypatch.setenv("DAGFLUX_NATIVE_CSV", native)
    path = tmp_path / "many.csv"
    path.write_text("a,b,c,d\n" + "".join(f"{i},{i * 7},text {i},2024-01-02\n" for i in range(40_000)))
    result = load(ws, path)
    assert (result.records, result.native) == (40_000, native == "1")
    db_bytes = ws[0].execute("PRAGMA page_count").fetchone()[0] * 4096
    wal_bytes = os.path.getsize(str(tmp_path / "ws.sqlite") + "-wal")
    assert db_bytes > 1_000_000 and wal_bytes < db_bytes / 3
