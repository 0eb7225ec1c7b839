//! The `millstream` binary: the main-job command prints a JSON summary with the documented
//! keys, `--data`/`--output` write Flink-equal rows, and bad input gives a one-line error.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_millstream"))
}

#[test]
fn nexmark_json_summary_has_the_documented_keys() {
    let out = bin()
        .args([
            "nexmark",
            "--query",
            "tumble_count",
            "--events",
            "200000",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["events"], 200000);
    for key in ["seconds", "events_per_sec", "peak_rss_bytes"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key} in {last}");
    }
}

#[test]
fn data_and_output_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = bin()
        .args(["nexmark", "--query", "q2", "--parallelism", "2", "--data"])
        .arg(format!("{root}/tests/data/nexmark"))
        .arg("--output")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let golden = std::fs::read_to_string(format!("{root}/tests/golden/nexmark/q2.csv")).unwrap();
    let mut want: Vec<String> = golden.lines().map(String::from).collect();
    want.sort();
    assert_eq!(rows, want);
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bid.csv"),
        "1,2,100,c,u,2015-07-15 00:00:00.527,e\n1,2,oops,c,u,2015-07-15 00:00:00.527,e\n",
    )
    .unwrap();
    let out = bin()
        .args(["nexmark", "--query", "q1", "--data"])
        .arg(dir.path())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("line 2 column price"), "{stderr}");
    assert!(stderr.contains("oops"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
