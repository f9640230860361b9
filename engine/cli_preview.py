"""``dagflux preview FILE``: what a Data Source would make of a file, without running anything.

Prints the columns with the types a run gives them, the first rows, and the findings (columns
that are numbers except for some values) over the rows sampled for the types — the same text a
run records as a node warning. Flags map one to one onto the node's ``options`` (``--null NA``
→ ``null_values``, ``--text zip`` → ``columns``), and the options they make are printed, ready
to paste into the workflow file. Reads the file in this process (the engine is not needed) and
writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.errors import DagfluxError

EXIT_OK = 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("preview", help="show the columns, types, first rows and findings a Data Source "
                                       "would read from a file")
    p.add_argument("file", type=Path)
    p.add_argument("--format", help="csv, json, jsonl, excel, parquet or sqlite (default: by extension)")
    p.add_argument("--limit", type=int, default=5, help="rows to show (default 5)")
    p.add_argument("--null", action="append", default=[], metavar="TEXT",
                   help="also read TEXT as NULL (repeatable; option null_values)")
    p.add_argument("--no-default-nulls", action="store_true",
                   help="do not read NA, N/A, NULL, NaN, #N/A … as NULL (option default_nulls: false)")
    p.add_argument("--text", action="append", default=[], metavar="COLUMN",
                   help="keep COLUMN as text (repeatable; option columns)")
    p.add_argument("--type", action="append", default=[], metavar="COLUMN=TYPE",
                   help="give COLUMN the type integer, real or text (repeatable; option columns)")
    p.add_argument("--all-text", action="store_true", help="every column as text (option all_text)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other reader option, e.g. delimiter=; or sheet=Q1 (VALUE may be JSON)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_preview)


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The node ``options`` the flags stand for."""
    options: dict[str, Any] = {}
    for item in args.option:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise DagfluxError(f"--option {item!r}: write KEY=VALUE")
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    if args.null:
        options["null_values"] = list(args.null)
    if args.no_default_nulls:
        options["default_nulls"] = False
    columns = {name: "text" for name in args.text}
    for item in args.type:
        name, sep, kind = item.rpartition("=")
        if not sep or not name:
            raise DagfluxError(f"--type {item!r}: write COLUMN=TYPE")
        columns[name] = kind
    if columns:
        options["columns"] = columns
    if args.all_text:
        options["all_text"] = True
    return options


def cmd_preview(args: argparse.Namespace) -> int:
    from engine.io.readers.preview import preview_file

    path = args.file.expanduser()
    if not path.exists():
        raise DagfluxError(f"the file {path} does not exist")
    options = options_from(args)
    result = preview_file(path, args.format, options, max(1, min(args.limit, 1000)))
    if args.json:
        print(json.dumps({"columns": [list(c) for c in result.columns], "rows": [list(r) for r in result.rows],
                          "sampled": result.sampled, "findings": result.findings, "options": options},
                         default=str))
        return EXIT_OK
    out = sys.stdout
    out.write(f"{result.detail}: {len(result.columns)} columns; types from the first {result.sampled:,} rows\n")
    width = max((len(name) for name, _ in result.columns), default=0)
    for name, kind in result.columns:
        out.write(f"  {name:<{width}}  {kind}\n")
    out.write("\n" + "  ".join(name for name, _ in result.columns) + "\n")
    for row in result.rows:
        out.write("  ".join("NULL" if v is None else str(v)[:30] for v in row) + "\n")
    for finding in result.findings:
        out.write(f"\nwarning: {finding['message']}\n")
        if finding.get("column"):
            texts = " ".join(f"--null {json.dumps(text)}" for text, _n in finding.get("examples") or [])
            out.write(f"  read them as NULL: {texts}   keep as text: --text {finding['column']}\n")
    if options:
        out.write(f"\noptions: {json.dumps(options, ensure_ascii=False)}\n")
    return EXIT_OK
