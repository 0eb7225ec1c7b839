#!/usr/bin/env python3
"""Rewrite the expected results of sqllogictest files with Apache Flink 2.3 (PyFlink).

  regenerate.py --data DIR [--check] FILE.slt...

Every record of a file runs, in order, in one fresh streaming TableEnvironment (parallelism
1, UTC) of one JVM shared by all files; `${SLT_DATA}` is replaced with DIR.

  statement ok            executed; a failure is reported (the file is still rewritten)
  query <types> [mode]    executed and collected; the changelog (+I/-U/+U/-D) is applied and
                          the remaining rows replace the ones under `----`; <types> is
                          rewritten from Flink's result schema (see FLINK_TYPE); `rowsort`
                          rows are sorted as the sqllogictest runner sorts them
  statement/query error   executed; Flink's message goes into a `# flink: ...` comment line
                          just above the record (Millstream's wording is checked by the
                          record's own regex, which this script leaves alone)

Values are spelled by Flink's own RowDataToStringConverter (what its SQL client prints),
except NULL, written `NULL`, the empty string, written `(empty)`, and spaces at either end
of a value, written `\u2423` (the runner compares lines exactly; editors eat trailing spaces).

With --check nothing is written: the exit status says whether every file is up to date.
"""
import argparse
import collections
import os
import sys

FLINK_TYPE = {
    "TINYINT": "I", "SMALLINT": "I", "INTEGER": "I",
    "BIGINT": "L",
    "FLOAT": "R", "DOUBLE": "R",
    "DECIMAL": "D",
    "CHAR": "T", "VARCHAR": "T",
    "BOOLEAN": "B",
    "TIMESTAMP_WITHOUT_TIME_ZONE": "P", "TIMESTAMP_WITH_LOCAL_TIME_ZONE": "P",
}

RECORD_STARTS = ("statement ", "query ")


def cell(text):
    """A non-NULL value as the files spell it (as tests/sqllogic.rs does): `(empty)` for the
    empty string, spaces at either end shown as U+2423."""
    if text == "":
        return "(empty)"
    body = text.strip(" ")
    if body == text:
        return text
    if body == "":
        return "\u2423" * len(text)
    lead = len(text) - len(text.lstrip(" "))
    trail = len(text) - len(text.rstrip(" "))
    return "\u2423" * lead + body + "\u2423" * trail


class Record:
    """One record: the header line, its SQL lines, and where it sits in the file."""

    def __init__(self, header, sql_lines, start, end):
        self.header = header
        self.sql = "\n".join(sql_lines)
        self.sql_lines = sql_lines
        self.start = start  # index of the header line
        self.end = end  # index one past the record (its results included)

    @property
    def words(self):
        return self.header.split()

    @property
    def is_error(self):
        w = self.words
        return len(w) > 1 and w[1] == "error"


def parse(lines):
    """The records of a file (lines without their newlines)."""
    records = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith(RECORD_STARTS):
            i += 1
            continue
        start = i
        i += 1
        sql = []
        while i < len(lines) and lines[i].strip() not in ("", "----"):
            sql.append(lines[i])
            i += 1
        if i < len(lines) and lines[i].strip() == "----":
            i += 1
            while i < len(lines) and lines[i].strip() != "":
                i += 1
        records.append(Record(line, sql, start, i))
    return records


def flink_message(exc):
    """The most telling line of a Flink exception: the cause that gives the place
    ("From line 1, column 8 to ..."), else the deepest cause, without its package."""
    text = str(exc)
    causes = [l.strip()[len("Caused by:"):].strip() for l in text.splitlines()
              if l.strip().startswith("Caused by:")]
    placed = [c for c in causes if "From line " in c]
    if placed:
        line = placed[-1]
    elif causes:
        line = causes[-1]
    else:
        # A Java exception without a cause comes after py4j's "An error occurred while
        # calling ...", on a line of its own that starts with ": ".
        lines = text.strip().splitlines()
        thrown = [l[2:] for l in lines if l.startswith(": ")]
        line = thrown[0] if thrown else lines[0]
    head, sep, rest = line.partition(": ")
    if sep and " " not in head:
        line = head.rsplit(".", 1)[-1] + sep + rest
    return " ".join(line.split())[:300]


class Flink:
    def __init__(self, data_dir):
        from pyflink.table import EnvironmentSettings, TableEnvironment
        self._settings = EnvironmentSettings.in_streaming_mode()
        self._create = TableEnvironment.create
        self.data_dir = data_dir

    def session(self):
        env = self._create(self._settings)
        conf = env.get_config()
        conf.set("parallelism.default", "1")
        conf.set("table.local-time-zone", "UTC")
        return env

    def sql(self, record):
        return record.sql.replace("${SLT_DATA}", self.data_dir)

    @staticmethod
    def query(env, sql):
        """(type letters, final rows as lists of strings)."""
        result = env.execute_sql(sql)
        j = result._j_table_result
        types = []
        for dt in j.getResolvedSchema().getColumnDataTypes():
            root = dt.getLogicalType().getTypeRoot().name()
            types.append(FLINK_TYPE.get(root, "?"))
        conv = j.getRowDataToStringConverter()
        bag = collections.Counter()
        order = []
        it = j.collectInternal()
        try:
            while it.hasNext():
                row = it.next()
                texts = list(conv.convert(row))
                cells = []
                for c, text in enumerate(texts):
                    cells.append("NULL" if row.isNullAt(c) else cell(text))
                key = tuple(cells)
                kind = row.getRowKind().shortString()
                if kind in ("+I", "+U"):
                    bag[key] += 1
                    order.append(key)
                elif bag[key] > 0:
                    bag[key] -= 1
                else:
                    raise RuntimeError("retraction of absent row %s" % (key,))
        finally:
            it.close()
        rows = []
        for key in order:
            if bag[key] > 0:
                bag[key] -= 1
                rows.append(list(key))
        return "".join(types), rows


def regenerate(flink, path):
    """The new text of the file at `path`, and the problems met."""
    with open(path) as f:
        lines = f.read().split("\n")
    records = parse(lines)
    env = flink.session()
    problems = []
    out = []
    pos = 0
    for rec in records:
        before = lines[pos:rec.start]
        if rec.is_error:
            while before and before[-1].startswith("# flink: "):
                before.pop()
        out.extend(before)
        pos = rec.end
        where = "%s:%d" % (os.path.basename(path), rec.start + 1)
        sql = flink.sql(rec)
        kind = rec.words[0]
        if rec.is_error:
            try:
                if kind == "query":
                    flink.query(env, sql)
                else:
                    env.execute_sql(sql).wait()
                out.append("# flink: (no error)")
                problems.append("%s: Flink does not fail" % where)
            except Exception as e:  # noqa: BLE001 (any Flink failure is the answer)
                out.append("# flink: " + flink_message(e))
            out.extend(lines[rec.start:rec.end])
            continue
        if kind == "statement":
            try:
                env.execute_sql(sql).wait()
            except Exception as e:  # noqa: BLE001
                problems.append("%s: %s" % (where, flink_message(e)))
            out.extend(lines[rec.start:rec.end])
            continue
        words = rec.words
        try:
            types, rows = flink.query(env, sql)
        except Exception as e:  # noqa: BLE001
            problems.append("%s: %s" % (where, flink_message(e)))
            out.extend(lines[rec.start:rec.end])
            continue
        mode = [w for w in words[2:] if w in ("rowsort", "nosort", "valuesort")]
        if "rowsort" in mode:
            rows.sort()
        elif "valuesort" in mode:
            values = sorted(v for r in rows for v in r)
            rows = [[v] for v in values]
        header = " ".join(["query", types] + words[2:])
        out.append(header)
        out.extend(rec.sql_lines)
        out.append("----")
        out.extend(" ".join(r) for r in rows)
    out.extend(lines[pos:])
    return "\n".join(out), problems


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the folder ${SLT_DATA} stands for")
    ap.add_argument("--check", action="store_true", help="write nothing; fail if out of date")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    flink = Flink(os.path.abspath(args.data))
    failed = False
    for path in args.files:
        text, problems = regenerate(flink, path)
        with open(path) as f:
            old = f.read()
        changed = text != old
        if args.check:
            status = "out of date" if changed else "up to date"
        else:
            if changed:
                with open(path, "w") as f:
                    f.write(text)
            status = "rewritten" if changed else "unchanged"
        print("%s: %s" % (path, status))
        for p in problems:
            print("  " + p)
        failed |= bool(problems) or (args.check and changed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
