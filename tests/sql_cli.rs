//! `millstream sql`: scripts, the prompt on piped input, flags, how results print, and the
//! live display of a query over an unbounded table.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_millstream"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `millstream sql <args> -f <script in a temp file>`.
fn run_script(script: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.sql");
    std::fs::write(&path, script).unwrap();
    bin()
        .arg("sql")
        .args(args)
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap()
}

/// Like [`run_script`], and the run must succeed; its stdout.
fn stdout_of(script: &str, args: &[&str]) -> String {
    let out = run_script(script, args);
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `id` 1..=n from a datagen sequence, and a 20-character random `name`.
fn datagen_table(n: u32) -> String {
    format!(
        "CREATE TABLE t (id BIGINT, name STRING) WITH (\n\
         'connector' = 'datagen', 'fields.id.kind' = 'sequence',\n\
         'fields.id.start' = '1', 'fields.id.end' = '{n}', 'fields.name.length' = '20');\n"
    )
}

#[test]
fn a_missing_script_is_an_error_naming_it() {
    let out = bin()
        .args(["sql", "-f", "no/such/dir/missing.sql"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("missing.sql"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn help_lists_the_flags() {
    let out = bin().args(["sql", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--file",
        "-f",
        "--output-format",
        "--changelog",
        "--parallelism",
        "-D <KEY=VALUE>",
        "--json",
        "--checkpoint-dir",
        "--checkpoint-interval",
        "--restore",
        "--state-backend",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let top = text(&bin().arg("--help").output().unwrap().stdout);
    assert!(top.contains("sql"), "{top}");
}

#[test]
fn bad_flags_are_one_line_errors() {
    let out = bin()
        .args(["sql", "-D", "novalue", "-f", "x.sql"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("-D 'novalue': expected key=value"));
    let out = bin()
        .args(["sql", "--output-format", "xml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("table"), "lists the formats");
}

#[test]
fn the_prompt_reads_piped_statements_and_goes_on_after_errors() {
    let mut child = bin()
        .arg("sql")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELEC 1;\n\nSELEC\n  2;\nQUIT;\nSELEC 3;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("[ERROR]").count(), 2, "{stdout}");
    assert!(
        stdout.ends_with("Shutting down the session...\ndone.\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Flink SQL>"),
        "no prompt when stdin is not a terminal"
    );
}

#[test]
fn a_query_prints_a_flink_table() {
    let out = stdout_of(
        &format!("{}SELECT id FROM t;", datagen_table(3)),
        &["--parallelism", "1"],
    );
    assert!(out.contains("[INFO] "), "CREATE TABLE reports: {out}");
    assert!(
        out.contains("+----+\n| id |\n+----+\n|  1 |\n|  2 |\n|  3 |\n+----+\n3 rows in set\n"),
        "{out}"
    );
}

#[test]
fn csv_output_and_an_insert_only_changelog() {
    let script = format!("{}SELECT id FROM t;", datagen_table(3));
    let csv = stdout_of(&script, &["--parallelism", "1", "--output-format", "csv"]);
    assert!(csv.ends_with("\n1\n2\n3\n"), "{csv}");
    let changes = stdout_of(
        &script,
        &[
            "--parallelism",
            "1",
            "--output-format",
            "csv",
            "--changelog",
        ],
    );
    assert!(changes.ends_with("\n+I,1\n+I,2\n+I,3\n"), "{changes}");
    let table = stdout_of(&script, &["--parallelism", "1", "--changelog"]);
    assert!(
        table.contains("| op | id |\n+----+----+\n| +I |  1 |\n"),
        "{table}"
    );
    assert!(table.contains("Received a total of 3 rows\n"), "{table}");
}

#[test]
fn updating_results_apply_the_changelog() {
    let script = format!(
        "{}SELECT MOD(id, 2) AS k, COUNT(*) AS c FROM t GROUP BY MOD(id, 2);",
        datagen_table(5)
    );
    let csv = stdout_of(&script, &["--parallelism", "1", "--output-format", "csv"]);
    let mut rows: Vec<&str> = csv
        .lines()
        .filter(|l| !l.starts_with("[INFO]") && !l.is_empty())
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, ["0,2", "1,3"], "{csv}");

    let changes = stdout_of(
        &script,
        &[
            "--parallelism",
            "1",
            "--output-format",
            "csv",
            "--changelog",
        ],
    );
    let kinds: Vec<&str> = changes
        .lines()
        .filter(|l| !l.starts_with("[INFO]") && !l.is_empty())
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert!(kinds.contains(&"+I"), "{changes}");
    assert!(
        kinds.iter().all(|k| ["+I", "-U", "+U", "-D"].contains(k)),
        "{changes}"
    );

    let table = stdout_of(&script, &["--parallelism", "1", "--changelog"]);
    assert!(table.contains("| op |"), "{table}");
    assert!(table.contains("Received a total of"), "{table}");
}

#[test]
fn defines_set_session_options_before_the_script() {
    let out = stdout_of(
        &format!("{}SELECT name FROM t;", datagen_table(1)),
        &[
            "--parallelism",
            "1",
            "-D",
            "sql-client.display.max-column-width=10",
        ],
    );
    // The 20-character name is cut to 7 characters and '...'.
    let row = out
        .lines()
        .find(|l| l.contains("..."))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(row.len(), "| 1234567... |".len(), "{out}");
}

#[test]
fn an_insert_reports_its_job_and_writes_files() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{}CREATE TABLE out (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO out SELECT id FROM t WHERE id > 2;",
        datagen_table(4),
        dir.path().display()
    );
    let out = stdout_of(&script, &["--parallelism", "2", "--json"]);
    let job = out
        .lines()
        .find(|l| l.starts_with("[INFO] Job '"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(job.contains("finished: 4 rows in, 2 rows out in"), "{job}");
    let json: serde_json::Value = out
        .lines()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(json["rows_in"], 4);
    assert_eq!(json["rows_out"], 2);
    assert!(json["seconds"].as_f64().unwrap() > 0.0);
    let mut rows = Vec::new();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        rows.extend(
            std::fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    rows.sort();
    assert_eq!(rows, ["3", "4"]);
}

#[test]
fn the_print_connector_writes_flink_lines() {
    let script = format!(
        "{}CREATE TABLE p (id BIGINT, ts TIMESTAMP(3)) WITH ('connector' = 'print', 'print-identifier' = 'out');\n\
         INSERT INTO p SELECT id, TIMESTAMP '2020-01-01 00:00:00' FROM t;",
        datagen_table(2)
    );
    let out = stdout_of(&script, &["--parallelism", "1"]);
    assert!(
        out.contains("out> +I[1, 2020-01-01T00:00]\nout> +I[2, 2020-01-01T00:00]\n"),
        "{out}"
    );
}

#[test]
fn a_failing_statement_names_its_place() {
    let out = run_script(
        "CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen');\nSELECT nope FROM t;",
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("job.sql") && err.contains("line 2"), "{err}");
}

/// A query over the unbounded generator prints its changes while it runs (stdout is a pipe:
/// rows with their op as they arrive); SIGINT stops the query, not the process, which ends
/// the table and exits cleanly.
#[test]
fn an_unbounded_query_prints_as_it_updates_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.sql");
    std::fs::write(
        &path,
        "CREATE TABLE bid (auction BIGINT, price BIGINT) WITH (\n\
         'connector' = 'nexmark', 'table' = 'bid', 'max-rate' = '2000');\n\
         SELECT auction, COUNT(*) AS c FROM bid WHERE auction < 1003 GROUP BY auction;\n\
         SELECT 'after' AS s;\n",
    )
    .unwrap();
    let mut child = bin()
        .args(["sql", "--parallelism", "1", "-f"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Read until a changed count shows (an update row), then interrupt.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("| +U |") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "the query ended by itself:\n{seen}");
        seen.push_str(&text(&buf[..n]));
    }
    let pid = child.id().to_string();
    // The binary re-executed itself (same pid) with mimalloc's purge delay set.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(
            environ
                .split(|&b| b == 0)
                .any(|kv| kv == b"MIMALLOC_PURGE_DELAY=-1"),
            "{}",
            text(&environ)
        );
    }
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let all = seen + &rest;
    assert!(status.success(), "{status:?}\n{all}");
    assert!(all.contains("| op |") && all.contains("| +I |"), "{all}");
    assert!(all.contains("Received a total of"), "{all}");
    // The script goes on after the stopped query.
    assert!(all.contains("after"), "{all}");
}
