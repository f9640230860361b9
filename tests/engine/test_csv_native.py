"""The native CSV loader gives the table, the findings and the errors of the Python reader.

Each case imports one file twice into one workspace — the native path, then the Python path
(``DAGFLUX_NATIVE_CSV=0``) — and compares the column names and types, every value with its
storage class and row order, the record count and the findings; and checks which path ran:
the shapes the loader takes must not fall back, the others must.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.errors import NodeError
from engine.io.readers import ImportResult, csv_native, import_file
from engine.workspace import WriteLease, connect


def test_the_native_loader_is_built_and_shares_the_stdlib_sqlite():
    """`bash dev setup` builds it; without it every import silently takes the slow path."""
    assert csv_native.available()


def both(ws, path: Path, monkeypatch, **options) -> tuple[ImportResult, ImportResult]:
    conn, lease = ws
    for name in ("native", "python"):
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    monkeypatch.setenv("DAGFLUX_NATIVE_CSV", "1")
    native = import_file(conn, lease, path, "native", options=options)
    monkeypatch.setenv("DAGFLUX_NATIVE_CSV", "0")
    python = import_file(conn, lease, path, "python", options=options)
    assert not python.native
    assert native == python           # records, columns, source names, findings
    assert table(conn, "native") == table(conn, "python")
    return native, python


def table(conn: sqlite3.Connection, name: str) -> tuple[list, list]:
    info = [(r[1], r[2]) for r in conn.execute(f'PRAGMA table_info("{name}")')]
    typed = ", ".join(f'"{c}", typeof("{c}")' for c, _t in info)
    return info, conn.execute(f'SELECT rowid, {typed} FROM "{name}" ORDER BY rowid').fetchall()


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --- shapes the loader takes --------------------------------------------------------

TAKEN = {
    "plain": "id,amount,name,day\n1,2.5,ann,2024-01-02\n2,-3,bob,2024-01-03\n",
    "crlf and no last line end": "a,b\r\n1,x\r\n2,y",
    "quoted, doubled quotes, delimiters and line ends inside": (
        'id,text,n\n1,"a, b",2\n2,"say ""hi""",3\n3,"two\nlines",4\n4,"",5\n5,"crlf\r\ninside",6\n'),
    "blank lines between records": "a,b\n1,2\n\n3,4\r\n\r\n5,6\n\n",
    "empty last field and trailing delimiter": "a,b,c\n1,,\n2,x,\n",
    "unicode": "名前,値\nzoë,1\n東京,2\n😀,3\n",
    "null markers everywhere": "a,b,c\nNA,,x\n2,N/A,NULL\n,NA,\n",
    "an empty header name": ",b\n1,2\n3,4\n",
    "a header and no rows": "a,b\n",
    "one column with blank lines": "a\n1\n\n2\nx\n\n",
    "numbers as SQLite reads them": (
        "t,i,r\n" + "".join(f"{v},{i},{i}.5\n" for i, v in enumerate(
            [" 7", "1e3", "+5", ".5", "1.", "0x10", "-0", "99999999999999999999", "007", "1_000",
             "-", "e", "3.0", "1e400", "inf", "NaN", "12abc", "\t8\t", "-.5e-3", "1,5"[0]])) + "x,1,1\n"),
}


@pytest.mark.parametrize("text", TAKEN.values(), ids=list(TAKEN))
def test_the_loader_takes_common_shapes_and_gives_the_python_table(ws, tmp_path, monkeypatch, text):
    native, _python = both(ws, write(tmp_path, "f.csv", text), monkeypatch)
    assert native.native


def test_bom_skip_rows_and_no_header(ws, tmp_path, monkeypatch):
    path = write(tmp_path, "f.csv", b"\xef\xbb\xbfjunk line\nmore junk\r\nx,y\n1,2\n3,4\n")
    assert both(ws, path, monkeypatch, skip_rows=2)[0].native
    path = write(tmp_path, "g.csv", "1,2\n3,4\n")
    native, _ = both(ws, path, monkeypatch, header=False)
    assert native.native and native.columns == [("col_1", "INTEGER"), ("col_2", "INTEGER")]


@pytest.mark.parametrize("options", [
    {"delimiter": ";"}, {"delimiter": "\t"}, {"quote": ""}, {"quote": "'"},
    {"null_values": ["-", "?"], "default_nulls": False}, {"default_nulls": False},
    {"all_text": True}, {"columns": {"b": "REAL", "c": "INTEGER"}},
])
def test_options(ws, tmp_path, monkeypatch, options):
    sep = options.get("delimiter", ",")
    body = "".join(sep.join([str(i), "-" if i % 7 == 0 else f"{i}.25", "?" if i % 5 == 0 else "'q'",
                             "NA" if i % 3 == 0 else "x y"]) + "\n" for i in range(300))
    native, _ = both(ws, write(tmp_path, "f.csv", sep.join("abcd") + "\n" + body), monkeypatch, **options)
    assert native.native


def test_findings_are_counted_as_bound_and_match_the_scan(ws, tmp_path, monkeypatch):
    """After the type sample, stray texts in numeric columns and numbers in text columns:
    decided from the loader's counts where it was sure, asked of SQLite where not."""
    rows = []
    for i in range(12_000):
        late = i >= 6000
        rows.append(",".join([
            str(i),
            "n/a" if late and i % 97 == 0 else str(i * 3),              # INTEGER with texts
            " 4.5" if late and i % 89 == 0 else f"{i}.5",                 # REAL, unsure values
            str(i) if i % 3 else f"code{i}",                             # TEXT, mostly numbers
            "1e5" if i % 4 == 0 else "word",                             # TEXT, unsure numbers
        ]))
    path = write(tmp_path, "f.csv", "id,count,ratio,code,mixed\n" + "\n".join(rows) + "\n")
    native, _ = both(ws, path, monkeypatch)
    assert native.native
    assert [f["column"] for f in native.findings] == ["count", "code"]


def test_many_transactions_and_a_tail_shorter_than_a_statement(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_native, "VALUES_PER_TRANSACTION", 3 * 1000 + 3)
    path = write(tmp_path, "f.csv", "a,b,c\n" + "".join(f"{i},{i / 4},t{i % 13}\n" for i in range(9_875)))
    entered = []

    class CountingLease(WriteLease):
        def __enter__(self):
            entered.append(1)
            return super().__enter__()

    conn, lease = ws
    counting = CountingLease(Path(conn.execute("PRAGMA database_list").fetchone()[2]))
    native, _ = both((conn, counting), path, monkeypatch)
    assert native.native and native.records == 9_875
    assert len(entered) >= 10     # one lease per transaction of ≤ 1001 rows, so writers interleave


# --- shapes it leaves to the Python reader -------------------------------------------

FALLBACK = {
    "a quote inside an unquoted field": 'a,b\n1,x"y\n2,z\n',
    "text after a closing quote": 'a,b\n1,"x"y\n2,z\n',
    "a bare CR line end": "a,b\r1,2\r3,4\r",
    "NUL": "a,b\n1,x\x00y\n",
    "an unterminated quote at the end": 'a,b\n1,2\n3,"open\n',
    "a delimiter beyond ASCII": "a§b\n1§2\n",
}


@pytest.mark.parametrize("text", FALLBACK.values(), ids=list(FALLBACK))
def test_other_shapes_fall_back_to_the_python_reader(ws, tmp_path, monkeypatch, text):
    options = {"delimiter": "§"} if "§" in text else {}
    native, _ = both(ws, write(tmp_path, "f.csv", text), monkeypatch, **options)
    assert not native.native


def test_a_shape_after_thousands_of_committed_rows_falls_back_and_nothing_is_left(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_native, "VALUES_PER_TRANSACTION", 3000)
    body = "".join(f"{i},{i * 2},w{i}\n" for i in range(20_000))
    path = write(tmp_path, "f.csv", "a,b,c\n" + body + '20000,1,"quoted"tail\n')
    native, _ = both(ws, path, monkeypatch)
    assert not native.native and native.records == 20_001


@pytest.mark.parametrize("text, error", [
    ("a,b\n" + "1,2\n" * 9000 + "1,2,3\n", r"f\.csv line 9002: expected 2 fields, found 3"),
    (b"a,b\n" + b"1,2\n" * 9000 + b"1,\xff\n", r"f\.csv: not valid utf-8 at line 9002"),
])
def test_errors_are_the_python_readers_and_leave_no_table(ws, tmp_path, monkeypatch, text, error):
    conn, lease = ws
    path = write(tmp_path, "f.csv", text)
    with pytest.raises(NodeError, match=error):
        import_file(conn, lease, path, "t")
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0] in (0, 1)
    assert not conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'native%'").fetchone()[0]


def test_a_field_over_the_limit_is_the_python_readers_error(ws, tmp_path, monkeypatch):
    conn, lease = ws
    path = write(tmp_path, "f.csv", "a,b\n" + "1,x\n" * 100 + "2," + "y" * 300 + "\n")
    with pytest.raises(NodeError, match=r"line 102: a field is longer than 200 characters"):
        import_file(conn, lease, path, "t", options={"max_field_chars": 200})


def test_the_workspace_stays_whole_with_another_writer_between_transactions(tmp_path, monkeypatch):
    """The loader's own connection and the engine's share SQLite's locks (one library)."""
    monkeypatch.setattr(csv_native, "VALUES_PER_TRANSACTION", 2000)
    path = tmp_path / "ws.sqlite"
    conn, lease = connect(path), WriteLease(path)
    other = connect(path)
    other.execute("CREATE TABLE side (n)")
    csv_path = write(tmp_path, "f.csv", "a,b\n" + "".join(f"{i},{i}\n" for i in range(30_000)))

    class Interleaving(WriteLease):
        def __exit__(self, *exc):
            super().__exit__(*exc)
            with lease:
                other.execute("INSERT INTO side VALUES (1)")

    result = import_file(conn, Interleaving(path), csv_path, "t")
    assert result.native and result.records == 30_000
    assert other.execute("SELECT count(*) FROM side").fetchone()[0] >= 30
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT sum(a) FROM t").fetchone()[0] == sum(range(30_000))
    for c in (conn, other):
        c.close()
    lease.close()


def _values_to_judge() -> list[str]:
    import itertools
    import random

    rng = random.Random(7)
    alphabet = "0123456789+-.eE x\t"
    made = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(20_000)]
    made += ["".join(p) for n in range(1, 4) for p in itertools.product("1-.e ", repeat=n)]
    made += ["9" * n for n in range(1, 25)] + ["-" + "9" * n for n in range(1, 25)]
    made += [f"{a}.{b}" for a in ("0", "12", "9" * 15, "9" * 16) for b in ("5", "0" * 15, "1" * 16)]
    made += ["", " ", "NA", "１２", "٣", "1\u00a0", "0x1F", "1e999", "-1e-999", "Infinity", "1.5.2"]
    return made


def test_every_sure_verdict_of_the_loader_is_sqlites():
    """A value the loader calls a number is one for SQLite (stored in an INTEGER and a REAL
    column, and compared in a TEXT one as the findings do), and a value it calls text is not;
    only unsure values are left to SQLite by the findings."""
    module = csv_native._loader_module()
    values = _values_to_judge()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE v (t TEXT, i INTEGER, r REAL)")
    db.executemany("INSERT INTO v VALUES (?, ?, ?)", [(v, v, v) for v in values])
    sqlite_says = db.execute(
        "SELECT coalesce(t = CAST(t AS NUMERIC), 0), typeof(i) != 'text', typeof(r) != 'text' "
        "FROM v ORDER BY rowid").fetchall()
    verdicts = {0: 0, 1: 0, 2: 0}
    for value, (as_text, as_int, as_real) in zip(values, sqlite_says):
        verdict = module.classify(value)
        verdicts[verdict] += 1
        if verdict != 2:
            assert (as_text, as_int, as_real) == ((1, 1, 1) if verdict == 0 else (0, 0, 0)), value
    assert verdicts[0] > 500 and verdicts[1] > 5000   # the verdicts are mostly sure


def test_another_encoding_takes_the_python_reader(ws, tmp_path, monkeypatch):
    path = write(tmp_path, "f.csv", "a,b\nété,1\n".encode("latin-1"))
    native, _ = both(ws, path, monkeypatch, encoding="latin-1")
    assert not native.native
    assert table(ws[0], "native")[1] == [(1, "été", "text", 1, "integer")]


# --- reading in chunks ---------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_records_characters_and_quotes_across_chunk_ends(ws, tmp_path, monkeypatch, chunk):
    """Tiny chunks put a chunk end inside every kind of token: a multi-byte character, a
    doubled quote, a quoted line end, a CRLF, a null marker."""
    monkeypatch.setattr(csv_native, "CHUNK_BYTES", chunk)
    rows = [f'{i},"ünï ""q"" {i}\r\nnext",NA,{i / 8},😀{i}\r\n' for i in range(300)]
    native, _ = both(ws, write(tmp_path, "f.csv", "a,b,c,d,e\r\n" + "".join(rows)), monkeypatch)
    assert native.native and native.records == 300


def test_invalid_utf8_found_in_a_later_chunk_is_the_python_readers_error(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_native, "CHUNK_BYTES", 1024)
    conn, lease = ws
    path = write(tmp_path, "f.csv", b"a,b\n" + b"1,\xc3\xa9\n" * 5000 + b"2,\xc3\n")
    with pytest.raises(NodeError, match=r"f\.csv: not valid utf-8 at line 5002"):
        import_file(conn, lease, path, "t")


@pytest.mark.parametrize("change", ["append", "truncate"])
@pytest.mark.parametrize("after", [1, 3])
def test_a_file_that_changes_while_it_is_imported_fails_and_leaves_no_table(ws, tmp_path, monkeypatch, change,
                                                                            after):
    """Read in chunks (never mapped): a file cut short cannot crash the worker, and a size or
    time that moved during the import is an error, not a silently partial table."""
    monkeypatch.setattr(csv_native, "VALUES_PER_TRANSACTION", 2000)
    monkeypatch.setattr(csv_native, "CHUNK_BYTES", 4096)
    conn, lease = ws
    path = write(tmp_path, "f.csv", "a,b\n" + "".join(f"{i},{i}\n" for i in range(20_000)))

    exits = []

    class Changing(WriteLease):
        def __exit__(self, *exc):
            super().__exit__(*exc)
            exits.append(1)
            if len(exits) != after:    # 1: the table is created, the loader not started; 3: loading
                return
            if change == "append":
                with open(path, "a") as fh:
                    fh.write("1,1\n")
            else:
                with open(path, "r+") as fh:
                    fh.truncate(path.stat().st_size // 2)

    database = Path(conn.execute("PRAGMA database_list").fetchone()[2])
    with pytest.raises(NodeError, match=r"f\.csv: the file changed while it was imported"):
        import_file(conn, Changing(database), path, "t")
    assert not conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0]
