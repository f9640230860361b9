"""Every node type works wherever its input lives (issue 18): the same graph — Transformer
local and database, Join, Branch, Output to a file and to a connection — run with its
source in the workspace, in PostgreSQL and in MariaDB (real servers)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.integration.helpers import node, source, write_csv, write_workflow
from tests.integration.places import COLUMNS, SAMPLE, add_mariadb, add_postgres, add_sqlite, fetch, seed

LOCATIONS = ["workspace", "postgresql", "mariadb"]


def _graph(tmp_path, location: str) -> tuple[list[dict], list[tuple]]:
    if location == "workspace":
        data = write_csv(tmp_path / "sample.csv", COLUMNS, [[*r[:3], int(r[3]), *r[4:]] for r in SAMPLE])
        src = source("src", str(data))
    else:
        src = node("src", "data_source", {"source": "connection", "connection": "here", "table": "sample"})
    nodes = [
        node("start", "start", {"trigger": {"kind": "manual"}}), src,
        node("tl", "transformer", {"language": "sql", "mode": "new_table", "storage": "local",
                                   "sql": "SELECT id, amount FROM {{ input }} WHERE id <= 20"}),
        node("join", "join", {"sql": "SELECT a.id, a.name, b.amount FROM {{ input.src }} a "
                                     "JOIN {{ input.tl }} b ON a.id = b.id"}),
        node("branch", "branch", {"condition": "count(*) > 30"}),
        node("big", "output", {"path": str(tmp_path / "big.jsonl")}),
        node("small", "output", {"path": str(tmp_path / "small.csv")}),
        node("joined", "output", {"path": str(tmp_path / "joined.csv")}),
        node("copy", "output", {"connection": "dest", "table": "copy", "mode": "replace"}),
    ]
    edges = [("start", "src"), ("src", "tl"), ("src", "join"), ("tl", "join"), ("src", "branch"),
             ("branch", "big", "true"), ("branch", "small", "false"), ("join", "joined"), ("src", "copy")]
    if location != "workspace":        # a database Transformer needs a database under it
        nodes += [node("td", "transformer", {"language": "sql", "mode": "new_table", "storage": "database",
                                             "sql": "SELECT id, name FROM {{ input }} WHERE id > 30"}),
                  node("td_file", "output", {"path": str(tmp_path / "td.parquet")}),
                  node("td_copy", "output", {"connection": "dest", "table": "td_copy", "mode": "create"})]
        edges += [("src", "td"), ("td", "td_file"), ("td", "td_copy")]
    return nodes, edges


@pytest.mark.parametrize("location", LOCATIONS)
def test_every_node_type_runs_wherever_its_input_lives(location, keyring_ready, postgres_server, mariadb_server,
                                                      cli, tmp_path):
    if location == "postgresql":
        seed(location, add_postgres(cli, postgres_server, "here"))
    elif location == "mariadb":
        seed(location, add_mariadb(cli, mariadb_server, "here"))
    dest = add_sqlite(cli, tmp_path / "dest.db", "dest")
    nodes, edges = _graph(tmp_path, location)
    out = cli("run", "--json", write_workflow(tmp_path, "matrix", nodes, edges), timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    ran = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}

    here = None if location == "workspace" else "here"
    assert (ran["src"]["records"], ran["src"].get("connection")) == (40, here)
    assert (ran["tl"]["records"], ran["tl"].get("connection")) == (20, None)
    assert ran["join"]["records"] == 20 and ran["joined"]["records"] == 20
    assert ran["branch"]["status"] == "succeeded" and ran["small"]["status"] == "skipped"
    assert ran["big"]["records"] == 40 and ran["copy"]["records"] == 40
    lines = (tmp_path / "big.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(1, 41))
    with (tmp_path / "joined.csv").open(newline="", encoding="utf-8") as fh:
        joined = sorted(csv.DictReader(fh), key=lambda r: int(r["id"]))
    assert [(int(r["id"]), r["name"], float(r["amount"])) for r in joined] == \
        [(r[0], r[1], float(r[2])) for r in SAMPLE[:20]]
    assert fetch("sqlite", dest, "SELECT count(*), sum(id) FROM copy") == [(40, sum(range(1, 41)))]
    if location != "workspace":
        assert (ran["td"]["records"], ran["td"].get("connection")) == (10, "here")
        import pyarrow.parquet as pq

        assert pq.read_table(tmp_path / "td.parquet").column("id").to_pylist() == list(range(31, 41))
        assert fetch("sqlite", dest, "SELECT id, name FROM td_copy ORDER BY id") == \
            [(r[0], r[1]) for r in SAMPLE[30:]]
