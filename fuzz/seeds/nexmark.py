#!/usr/bin/env python3
"""Writes the Nexmark seeds of the fuzz corpus into DIR from the golden query scripts
(tests/golden/nexmark/sql/), so the seeds never drift from the queries the tests run:

- nexmark_sources.sql: the source DDL over the fuzz harness's `fuzz` connector;
- nexmark_qN.sql: each query script with its sink on the harness's `fuzz-updates`
  connector (it accepts updating results too);
- nexmark_qN_select.sql: each query's SELECT alone.

Usage: fuzz/seeds/nexmark.py DIR
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
golden = root / "tests" / "golden" / "nexmark" / "sql"
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

sources = (golden / "sources.sql").read_text()
sources = sources.replace("${DATA_DIR}", "/nonexistent")
sources = sources.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ")
sources = sources.replace("'connector' = 'filesystem'", "'connector' = 'fuzz'")
(out / "nexmark_sources.sql").write_text(sources)

for script in sorted(golden.glob("q*.sql")):
    name = script.stem
    if not re.fullmatch(r"q\d+", name):
        continue  # q10_flat, q13_regular: variants for Flink only
    text = script.read_text()
    text = text.replace("${SINK}", "'connector' = 'fuzz-updates'")
    text = text.replace("${DATA_DIR}", "/nonexistent")
    (out / f"nexmark_{name}.sql").write_text(text)
    insert = re.search(r"^INSERT INTO \S+\n", text, re.M)
    if insert:
        query = re.sub(r";\s*$", "\n", text[insert.end():])
        (out / f"nexmark_{name}_select.sql").write_text(query)
