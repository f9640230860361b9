"""File writers of the Output node: every format round-trips, writes are atomic, memory is flat.

Each format is read back with an independent reader (csv, json, openpyxl, sqlite3,
pyarrow, and for Avro the small container-file decoder at the bottom of this file, written
from the Avro specification).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine.io.writers as writers
from engine.errors import NodeError
from engine.io.writers import WRITE_FORMATS, export_table, format_for_path
from engine.workspace import connect

TABLE = "wf__out"
COLUMNS = ["id", "price", "name", "note", "raw"]
ROWS = [
    (1, 2.5, "plain", 'comma, "quote"\nnew line\r\nand CRLF', b"\x00\xffbin"),
    (2, None, "ünïcødé ✓ 日本 🚀", None, None),
    (3, -1e-7, "", "=SUM(A1)", b""),
    (None, 1e300, "#N/A", "tab\tend", None),
    (-(2**63), 0.0, "int64 min", "x", b"x"),
]
SUFFIX = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "excel": ".xlsx",
          "sqlite": ".sqlite", "parquet": ".parquet", "avro": ".avro"}


@pytest.fixture
def ws(tmp_path):
    conn = connect(tmp_path / "ws.sqlite")
    conn.execute(f'CREATE TABLE "{TABLE}" (id INTEGER, price REAL, name TEXT, note TEXT, raw BLOB)')
    conn.executemany(f'INSERT INTO "{TABLE}" VALUES (?, ?, ?, ?, ?)', ROWS)
    yield conn
    conn.close()


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def as_objects(rows=ROWS) -> list[dict]:
    return [dict(zip(COLUMNS, (*row[:4], b64(row[4])), strict=True)) for row in rows]


# --- choosing the format -------------------------------------------------------------------

@pytest.mark.parametrize("name, fmt", [
    ("a.csv", "csv"), ("a.TSV", "csv"), ("a.json", "json"), ("a.jsonl", "jsonl"),
    ("a.ndjson", "jsonl"), ("a.xlsx", "excel"), ("a.sqlite", "sqlite"), ("a.db", "sqlite"),
    ("a.parquet", "parquet"), ("a.avro", "avro"), ("a.txt", None), ("noext", None),
])
def test_format_for_path_goes_by_extension(name, fmt):
    assert format_for_path(Path(name)) == fmt


def test_public_api_is_exactly_what_the_output_node_uses():
    assert sorted(writers.__all__) == ["WRITE_FORMATS", "export_connection_table", "export_table", "format_for_path"]
    assert WRITE_FORMATS == ("csv", "json", "jsonl", "excel", "sqlite", "parquet", "avro")


def test_importing_the_writers_loads_neither_pyarrow_nor_openpyxl():
    code = ("import sys, engine.io.writers; "
            "print('pyarrow' in sys.modules, 'openpyxl' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["False", "False"]


def test_unknown_format_lists_the_supported_ones(ws, out):
    with pytest.raises(NodeError, match=r"unknown export format 'xml'.*csv, json, jsonl"):
        export_table(ws, TABLE, out / "a.xml", "xml")
    with pytest.raises(NodeError, match=r"cannot tell the export format of .*a\.txt"):
        export_table(ws, TABLE, out / "a.txt")
    assert list(out.iterdir()) == []


def test_missing_table_is_a_node_error(ws, out):
    with pytest.raises(NodeError, match="no table 'nope'"):
        export_table(ws, "nope", out / "a.csv")


# --- round trips ---------------------------------------------------------------------------

def test_csv_round_trip(ws, out):
    assert export_table(ws, TABLE, out / "t.csv") == len(ROWS)
    with open(out / "t.csv", encoding="utf-8", newline="") as fh:
        got = list(csv.reader(fh))
    assert got[0] == COLUMNS
    expected = [["" if v is None else str(v) for v in (*row[:4], b64(row[4]))] for row in ROWS]
    assert got[1:] == expected


def test_csv_delimiter_option_and_tsv_default(ws, out):
    export_table(ws, TABLE, out / "t.csv", options={"delimiter": ";"})
    export_table(ws, TABLE, out / "t.tsv")
    with open(out / "t.csv", encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh, delimiter=";")) == COLUMNS
    with open(out / "t.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == COLUMNS and rows[4][3] == "tab\tend"
    with pytest.raises(NodeError, match="delimiter must be one character"):
        export_table(ws, TABLE, out / "t.csv", options={"delimiter": ";;"})


def test_csv_line_ending_and_null_marker_options(ws, out):
    export_table(ws, TABLE, out / "crlf.csv")
    export_table(ws, TABLE, out / "lf.csv", options={"line_ending": "lf", "null": "NULL"})
    crlf, lf = (out / "crlf.csv").read_bytes(), (out / "lf.csv").read_bytes()
    header = ",".join(COLUMNS).encode()
    assert crlf.startswith(header + b"\r\n") and crlf.endswith(b"\r\n")
    assert lf.startswith(header + b"\n") and lf.endswith(b"\n") and not lf.endswith(b"\r\n")
    with open(out / "lf.csv", encoding="utf-8", newline="") as fh:
        got = list(csv.reader(fh))[1:]
    expected = [["NULL" if v is None else str(v) for v in (*row[:4], b64(row[4]))] for row in ROWS]
    assert got == expected                               # NULL and '' are told apart now
    with pytest.raises(NodeError, match="line_ending must be one of crlf, lf"):
        export_table(ws, TABLE, out / "x.csv", options={"line_ending": "cr"})
    with pytest.raises(NodeError, match="null marker must be text without"):
        export_table(ws, TABLE, out / "x.csv", options={"null": "a,b"})


def test_json_is_an_array_of_objects(ws, out):
    assert export_table(ws, TABLE, out / "t.json") == len(ROWS)
    data = json.loads((out / "t.json").read_text(encoding="utf-8"))
    assert data == as_objects()
    assert isinstance(data[0]["price"], float) and isinstance(data[0]["id"], int)


def test_jsonl_is_one_object_per_line(ws, out):
    export_table(ws, TABLE, out / "t.jsonl")
    lines = (out / "t.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == as_objects()


def test_json_writes_infinity_as_null(ws, out):
    ws.execute(f'INSERT INTO "{TABLE}" (id, price) VALUES (9, 9e999)')
    export_table(ws, TABLE, out / "t.json")
    last = json.loads((out / "t.json").read_text(encoding="utf-8"))[-1]
    assert last["id"] == 9 and last["price"] is None


def test_excel_round_trip_keeps_text_as_text(ws, out):
    assert export_table(ws, TABLE, out / "t.xlsx", options={"sheet": "Data"}) == len(ROWS)
    book = openpyxl.load_workbook(out / "t.xlsx")
    try:
        assert book.sheetnames == ["Data"]
        got = [list(row) for row in book["Data"].iter_rows(values_only=True)]
        types = [cell.data_type for cell in book["Data"]["D"]]
    finally:
        book.close()
    assert got[0] == COLUMNS
    # Excel has no empty string ("" reads back as an empty cell), and its XML turns the
    # line break CR LF into Excel's own, LF.
    expected = [[None if v == "" else v.replace("\r\n", "\n") if isinstance(v, str) else v
                 for v in row.values()] for row in as_objects()]
    assert got[1:] == expected
    assert types[3] == "s"        # "=SUM(A1)" stayed text, not a formula
    assert got[4][2] == "#N/A"    # and "#N/A" is not an error value


def test_excel_refuses_bad_sheet_names(ws, out):
    with pytest.raises(NodeError, match="sheet name 'a/b' is not allowed"):
        export_table(ws, TABLE, out / "t.xlsx", options={"sheet": "a/b"})
    with pytest.raises(NodeError, match="is not allowed"):
        export_table(ws, TABLE, out / "t.xlsx", options={"sheet": "x" * 32})
    assert list(out.iterdir()) == []


def test_sqlite_round_trip_keeps_declared_types(ws, out):
    ws.execute(f"""CREATE TABLE typeless AS SELECT id, count(*) AS n, name || '' AS s
                   FROM "{TABLE}" GROUP BY id""")
    assert export_table(ws, TABLE, out / "t.sqlite", options={"table": "my table"}) == len(ROWS)
    export_table(ws, "typeless", out / "u.db")
    dest = sqlite3.connect(out / "t.sqlite")
    try:
        assert dest.execute('SELECT * FROM "my table"').fetchall() == ROWS
        info = dest.execute('PRAGMA table_info("my table")').fetchall()
        assert [(r[1], r[2]) for r in info] == [
            ("id", "INTEGER"), ("price", "REAL"), ("name", "TEXT"), ("note", "TEXT"),
            ("raw", "BLOB")]
        assert dest.execute("SELECT name FROM sqlite_master").fetchall() == [("my table",)]
    finally:
        dest.close()
    dest = sqlite3.connect(out / "u.db")
    try:
        info = dest.execute("PRAGMA table_info(typeless)").fetchall()
        assert [r[2] for r in info] == ["INT", "INTEGER", "TEXT"]   # INT: from CTAS
    finally:
        dest.close()


def test_sqlite_overwrite_replaces_the_whole_file(ws, out):
    old = sqlite3.connect(out / "t.sqlite")
    old.execute("CREATE TABLE other (x)")
    old.close()
    export_table(ws, TABLE, out / "t.sqlite")
    dest = sqlite3.connect(out / "t.sqlite")
    try:
        assert dest.execute("SELECT name FROM sqlite_master").fetchall() == [(TABLE,)]
    finally:
        dest.close()
    assert sorted(p.name for p in out.iterdir()) == ["t.sqlite"]   # no journal left


def test_parquet_round_trip_with_typed_schema(ws, out):
    assert export_table(ws, TABLE, out / "t.parquet") == len(ROWS)
    table = pq.read_table(out / "t.parquet")
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.string(),
                                  pa.binary()]
    assert [tuple(r.values()) for r in table.to_pylist()] == ROWS


def test_parquet_types_follow_the_values_the_columns_hold(ws, out):
    ws.execute("CREATE TABLE mixed (a, b INTEGER, c TEXT, d, e REAL)")
    ws.executemany("INSERT INTO mixed VALUES (?, ?, ?, ?, ?)",
                   [(1, 1, "x", 1, None), (2, 1.5, 7, "y", None), (None, None, None, b"z", None)])
    export_table(ws, "mixed", out / "m.parquet")
    table = pq.read_table(out / "m.parquet")
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.string(),
                                  pa.float64()]
    assert table.column("c").to_pylist() == ["x", "7", None]
    assert table.column("d").to_pylist() == ["1", "y", b64(b"z")]


def test_avro_round_trip(ws, out):
    assert export_table(ws, TABLE, out / "t.avro") == len(ROWS)
    schema, meta, records = read_avro(out / "t.avro")
    assert meta["avro.codec"] == b"null"
    assert [f["type"] for f in schema["fields"]] == [
        ["null", "long"], ["null", "double"], ["null", "string"], ["null", "string"],
        ["null", "bytes"]]
    assert [tuple(r.values()) for r in records] == ROWS


def test_avro_deflate_and_sanitised_names(ws, out):
    ws.execute('CREATE TABLE "odd names" ("count(*)" INTEGER, "1st" TEXT, "count___" REAL)')
    ws.executemany('INSERT INTO "odd names" VALUES (?, ?, ?)',
                   [(i, f"row {i}", i / 2) for i in range(12_000)])
    export_table(ws, "odd names", out / "o.avro", options={"codec": "deflate"})
    schema, meta, records = read_avro(out / "o.avro")
    assert meta["avro.codec"] == b"deflate"
    assert schema["name"] == "odd_names"
    fields = [(f["name"], f.get("doc")) for f in schema["fields"]]
    assert fields == [("count___", "count(*)"), ("_1st", "1st"), ("count____2", "count___")]
    assert len(records) == 12_000
    assert records[-1] == {"count___": 11_999, "_1st": "row 11999", "count____2": 5999.5}


@pytest.mark.parametrize("fmt", WRITE_FORMATS)
def test_an_empty_table_exports_as_an_empty_file_of_its_format(ws, out, fmt):
    ws.execute(f'DELETE FROM "{TABLE}"')
    path = out / f"e{SUFFIX[fmt]}"
    assert export_table(ws, TABLE, path) == 0
    assert read_back(path, fmt) == []


# --- where the file goes -------------------------------------------------------------------

def test_if_exists_fail_keeps_the_existing_file(ws, out):
    (out / "t.csv").write_text("precious", encoding="utf-8")
    with pytest.raises(NodeError, match=r"t\.csv already exists and the node's if_exists is "
                                        r"'fail'"):
        export_table(ws, TABLE, out / "t.csv", options={"if_exists": "fail"})
    assert (out / "t.csv").read_text(encoding="utf-8") == "precious"
    with pytest.raises(NodeError, match="if_exists must be one of overwrite, fail"):
        export_table(ws, TABLE, out / "t.csv", options={"if_exists": "append"})


def test_overwrite_is_the_default(ws, out):
    (out / "t.json").write_text("old", encoding="utf-8")
    export_table(ws, TABLE, out / "t.json")
    assert json.loads((out / "t.json").read_text(encoding="utf-8")) == as_objects()


def test_file_mode_is_the_replaced_files_or_the_umask_default(ws, out):
    umask = os.umask(0o022)
    os.umask(umask)
    export_table(ws, TABLE, out / "new.csv")
    assert stat.S_IMODE((out / "new.csv").stat().st_mode) == 0o666 & ~umask
    (out / "old.csv").write_text("old", encoding="utf-8")
    (out / "old.csv").chmod(0o640)
    export_table(ws, TABLE, out / "old.csv")
    assert stat.S_IMODE((out / "old.csv").stat().st_mode) == 0o640


def test_missing_folder_is_an_error_unless_create_dirs(ws, out):
    target = out / "new" / "deeper" / "t.csv"
    with pytest.raises(NodeError, match=r"folder .*new[/\\]deeper does not exist"):
        export_table(ws, TABLE, target)
    assert not (out / "new").exists()
    assert export_table(ws, TABLE, target, options={"create_dirs": True}) == len(ROWS)
    assert target.is_file()


def test_target_that_is_a_folder_is_refused(ws, out):
    (out / "t.csv").mkdir()
    with pytest.raises(NodeError, match=r"t\.csv is a folder"):
        export_table(ws, TABLE, out / "t.csv")
    assert [p.name for p in out.iterdir()] == ["t.csv"]


def test_the_workspace_itself_is_never_overwritten(ws, tmp_path):
    with pytest.raises(NodeError, match="workspace has open"):
        export_table(ws, TABLE, tmp_path / "ws.sqlite")
    assert ws.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()[0] == len(ROWS)


# --- atomicity -----------------------------------------------------------------------------

@pytest.fixture
def broken(ws):
    """A table whose row 12,001 holds text that is not UTF-8, so reading it fails mid-way."""
    ws.execute("CREATE TABLE broken (n INTEGER, v TEXT)")
    ws.execute("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 12000) "
               "INSERT INTO broken SELECT n, 'ok ' || n FROM c")
    ws.execute("INSERT INTO broken VALUES (12001, CAST(x'ff' AS TEXT))")
    return ws


@pytest.mark.parametrize("fmt", WRITE_FORMATS)
def test_a_failure_mid_way_leaves_the_old_file_and_no_temp(broken, out, fmt, tmp_path, monkeypatch):
    # openpyxl spools a write-only sheet in the temp dir: a private one, so another process
    # spooling in the shared /tmp meanwhile (a second test run on the machine) is not counted
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    target = out / f"t{SUFFIX[fmt]}"
    target.write_bytes(b"previous content")
    with pytest.raises(NodeError, match="cannot read past row 10000 of workspace table 'broken'"):
        export_table(broken, "broken", target)
    assert target.read_bytes() == b"previous content"
    assert [p.name for p in out.iterdir()] == [target.name]
    assert list(spool.iterdir()) == []


def test_excel_refuses_text_it_cannot_hold_naming_row_and_column(ws, out):
    target = out / "t.xlsx"
    target.write_bytes(b"previous content")
    ws.execute(f'INSERT INTO "{TABLE}" (id, note) VALUES (6, \'bell\x07\')')
    with pytest.raises(NodeError, match="row 6, column 'note' holds a control character"):
        export_table(ws, TABLE, target)
    ws.execute(f'UPDATE "{TABLE}" SET note = ? WHERE id = 6', ("x" * 32_768,))
    with pytest.raises(NodeError, match="row 6, column 'note' holds 32,768 characters"):
        export_table(ws, TABLE, target)
    assert target.read_bytes() == b"previous content"
    assert [p.name for p in out.iterdir()] == ["t.xlsx"]


def test_excel_row_limit_is_checked_before_writing(ws, out):
    ws.execute("CREATE TABLE huge (n INTEGER)")
    ws.execute("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
               "WHERE n < 1048576) INSERT INTO huge SELECT n FROM c")
    with pytest.raises(NodeError, match="1,048,576 rows and an Excel sheet holds at most "
                                        "1,048,575"):
        export_table(ws, "huge", out / "h.xlsx")
    assert list(out.iterdir()) == []


# --- streaming -----------------------------------------------------------------------------

STREAM_ROWS = 200_000


@pytest.fixture(scope="module")
def big_ws(tmp_path_factory):
    conn = connect(tmp_path_factory.mktemp("big") / "ws.sqlite")
    conn.execute("CREATE TABLE big (id INTEGER, s TEXT)")
    conn.execute(f"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
                 f"WHERE n < {STREAM_ROWS}) "
                 f"INSERT INTO big SELECT n, printf('row %d of the big table', n) FROM c")
    yield conn
    conn.close()


# Tracing every allocation makes the pure-Python encoders ~6x slower: those run as "slow".
@pytest.mark.parametrize("fmt", ["csv", "sqlite", "parquet",
                                 *(pytest.param(f, marks=pytest.mark.slow)
                                   for f in ("json", "jsonl", "avro"))])
def test_export_memory_does_not_grow_with_the_table(big_ws, tmp_path, fmt):
    # Holding all 200k rows as Python tuples would take ~30 MB; a batch takes under 1 MB.
    tracemalloc.start()
    try:
        rows = export_table(big_ws, "big", tmp_path / f"b{SUFFIX[fmt]}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == STREAM_ROWS
    assert peak < 8 * 2**20, f"{fmt} export peaked at {peak / 2**20:.1f} MiB"
    assert len(read_back(tmp_path / f"b{SUFFIX[fmt]}", fmt)) == STREAM_ROWS


# --- readers used above --------------------------------------------------------------------

def read_back(path: Path, fmt: str) -> list:
    """The data rows of an exported file, by an independent reader."""
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.reader(fh))[1:]
    if fmt == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "excel":
        book = openpyxl.load_workbook(path, read_only=True)
        try:
            return list(book.active.iter_rows(values_only=True))[1:]
        finally:
            book.close()
    if fmt == "sqlite":
        conn = sqlite3.connect(path)
        try:
            (name,) = conn.execute("SELECT name FROM sqlite_master").fetchone()
            return conn.execute(f'SELECT * FROM "{name}"').fetchall()
        finally:
            conn.close()
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    return read_avro(path)[2]


def read_avro(path: Path) -> tuple[dict, dict, list[dict]]:
    """Decode an Avro container file of one record of ``["null", primitive]`` fields."""
    data = io.BytesIO(path.read_bytes())
    assert data.read(4) == b"Obj\x01"
    meta = {}
    while count := _long(data):
        for _ in range(abs(count)):
            if count < 0:
                _long(data)             # a negative count is followed by a byte size
            key = _bytes(data).decode("utf-8")
            meta[key] = _bytes(data)
    schema = json.loads(meta["avro.schema"])
    sync = data.read(16)
    records = []
    while data.tell() < len(data.getbuffer()):
        count, size = _long(data), _long(data)
        block = data.read(size)
        if meta["avro.codec"] == b"deflate":
            block = zlib.decompress(block, -15)
        body = io.BytesIO(block)
        records += [_record(body, schema) for _ in range(count)]
        assert body.read() == b""
        assert data.read(16) == sync
    return schema, meta, records


def _record(data: io.BytesIO, schema: dict) -> dict:
    record = {}
    for field in schema["fields"]:
        branch = field["type"][_long(data)]
        record[field["name"]] = _AVRO_READERS[branch](data)
    return record


def _long(data: io.BytesIO) -> int:
    shift = number = 0
    while True:
        byte = data.read(1)[0]
        number |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (number >> 1) ^ -(number & 1)


def _bytes(data: io.BytesIO) -> bytes:
    return data.read(_long(data))


_AVRO_READERS = {
    "null": lambda data: None,
    "long": _long,
    "double": lambda data: struct.unpack("<d", data.read(8))[0],
    "bytes": _bytes,
    "string": lambda data: _bytes(data).decode("utf-8"),
}


def test_the_avro_test_decoder_knows_zigzag():
    # Values from the Avro specification's zigzag table.
    for value, encoded in [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (-2, b"\x03"),
                           (-64, b"\x7f"), (64, b"\x80\x01")]:
        assert _long(io.BytesIO(encoded)) == value
        assert writers.avro.encode_long(value) == encoded


def test_an_output_to_a_connection_names_its_modes_replace_append_fail() -> None:
    from plugins.core.output import OutputNode

    node = OutputNode()
    for mode in ("replace", "append", "fail", "create"):      # create: the older name of fail
        assert node.validate_config({"connection": "db", "table": "t", "mode": mode}, ["a"]) == []
    (problem,) = node.validate_config({"connection": "db", "table": "t", "mode": "overwrite"}, ["a"])
    assert problem.field == "mode" and problem.message == "must be one of replace, append, fail"
