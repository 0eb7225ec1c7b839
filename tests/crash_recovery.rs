//! The crash test: `millstream nexmark` and `millstream sql -f` with checkpoints are killed
//! with SIGKILL at random moments (including while checkpoints are written: checkpoints run
//! every 50 ms) and restarted each time with the same command and `--restore latest`. The
//! committed output must equal Flink's rows exactly: nothing lost, nothing duplicated.
//!
//! CI runs a few kills per query; `MILLSTREAM_CRASH_KILLS=25 cargo test --release --test
//! crash_recovery -- --nocapture` runs the full test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

fn kills() -> usize {
    std::env::var("MILLSTREAM_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

fn committed_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        rows.extend(
            std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    rows.sort();
    rows
}

/// `rate`: rows per second per source table, chosen so one uninterrupted run takes a few
/// seconds.
fn crash_loop(query: &str, rate: u32, kills: usize, seed: u64) {
    let root = env!("CARGO_MANIFEST_DIR");
    crash_loop_with(query, kills, seed, committed_rows, |ck, out| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_millstream"));
        c.args(["nexmark", "--query", query, "--parallelism", "2"])
            .args(["--batch-size", "100", "--max-rate", &rate.to_string()])
            .args(["--checkpoint-interval", "50ms", "--restore", "latest"])
            .arg("--data")
            .arg(format!("{root}/tests/data/nexmark"))
            .arg("--output")
            .arg(out)
            .arg("--checkpoint-dir")
            .arg(ck);
        c
    });
}

/// The crash loop of [`crash_loop`] for the query's Flink SQL text run by `millstream sql -f`
/// (the script Flink ran, with a filesystem CSV sink into the output directory).
fn sql_crash_loop(query: &str, rate: u32, kills: usize, seed: u64) {
    sql_crash_loop_as(query, "csv", rate, kills, seed, committed_rows);
}

/// [`sql_crash_loop`] with the sink in `format`, its committed rows read by `read`.
fn sql_crash_loop_as(
    query: &str,
    format: &str,
    rate: u32,
    kills: usize,
    seed: u64,
    read: fn(&Path) -> Vec<String>,
) {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = format!("{root}/tests/golden/nexmark/sql");
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join(format!("{query}.sql"));
    crash_loop_with(query, kills, seed, read, |ck, out| {
        let sources = std::fs::read_to_string(format!("{dir}/sources.sql")).unwrap();
        let q = std::fs::read_to_string(format!("{dir}/{query}.sql")).unwrap();
        let sink = format!(
            "'connector' = 'filesystem', 'path' = '{}', 'format' = '{format}'",
            out.display()
        );
        let text = format!(
            "{}\n{}",
            sources.replace("${DATA_DIR}", &format!("{root}/tests/data/nexmark")),
            q.replace("${SINK}", &sink)
        );
        std::fs::write(&script, text).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_millstream"));
        c.args([
            "sql",
            "--parallelism",
            "2",
            "-D",
            "execution.batch.size=100",
        ])
        .arg("-D")
        .arg(format!("millstream.source.max-rate={rate}"))
        .args(["--checkpoint-interval", "50ms", "--restore", "latest"])
        .arg("--checkpoint-dir")
        .arg(ck)
        .arg("-f")
        .arg(&script);
        c
    });
}

/// Run `command(checkpoint dir, output dir)`, SIGKILL it `kills` times at random moments,
/// rerun it until it finishes, and compare the committed rows with Flink's.
fn crash_loop_with(
    query: &str,
    kills: usize,
    seed: u64,
    read: fn(&Path) -> Vec<String>,
    command: impl Fn(&Path, &Path) -> Command,
) {
    let root = env!("CARGO_MANIFEST_DIR");
    let ck = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed = 0;
    let mut runs = 0;
    let started = Instant::now();
    loop {
        runs += 1;
        assert!(runs < kills * 4 + 20, "{query}: no end after {runs} runs");
        let mut child = command(ck.path(), out.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if killed < kills {
            std::thread::sleep(Duration::from_millis(rng.random_range(80..1500)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                continue;
            }
        }
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{query}: run {runs} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        break;
    }
    let mut want: Vec<String> =
        std::fs::read_to_string(format!("{root}/tests/golden/nexmark/{query}.csv"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
    want.sort();
    let got = read(out.path());
    assert_eq!(got.len(), want.len(), "{query}: {killed} kills, row count");
    assert_eq!(got, want, "{query}: {killed} kills");
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "{query}: uncommitted files left: {leftovers:?}"
    );
    eprintln!(
        "{query}: {killed} kills, {runs} runs, {:.1} s, rows equal Flink's ({})",
        started.elapsed().as_secs_f64(),
        want.len()
    );
}

#[test]
fn tumble_count_survives_sigkill() {
    crash_loop("tumble_count", 8_000, kills(), 1);
}

#[test]
fn q8_join_survives_sigkill() {
    crash_loop("q8", 600, kills(), 2);
}

#[test]
fn q3_unbounded_state_survives_sigkill() {
    crash_loop("q3", 600, kills(), 3);
}

#[test]
fn sql_tumble_count_survives_sigkill() {
    sql_crash_loop("tumble_count_tvf", 8_000, kills(), 4);
}

#[test]
fn sql_q8_window_join_survives_sigkill() {
    sql_crash_loop("q8", 600, kills(), 5);
}

#[test]
fn sql_q3_regular_join_survives_sigkill() {
    sql_crash_loop("q3", 600, kills(), 6);
}

#[test]
fn sql_q11_session_windows_survive_sigkill() {
    sql_crash_loop("q11", 600, kills(), 7);
}

/// The final table of committed debezium-json files: each `"after"` row is added, each
/// `"before"` row removes one equal row; the `columns` (numbers) of each row, as CSV.
fn debezium_final_rows(dir: &Path, columns: &[&str]) -> Vec<String> {
    let mut live: Vec<String> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    // Part files are named by checkpoint, then subtask: their order is the commit order,
    // and each key's changes come from one subtask.
    files.sort();
    let row = |v: &serde_json::Value| -> String {
        columns
            .iter()
            .map(|c| v[*c].to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if !v["after"].is_null() {
                live.push(row(&v["after"]));
            } else if let Some(i) = live.iter().position(|r| *r == row(&v["before"])) {
                live.swap_remove(i);
            }
        }
    }
    live.sort();
    live
}

/// q4 (a join under two levels of non-windowed aggregation: retractions through both)
/// into a debezium-json sink, the changelog format Flink's filesystem sink accepts.
#[test]
fn sql_q4_updating_aggregations_survive_sigkill() {
    sql_crash_loop_as("q4", "debezium-json", 600, kills(), 8, |dir| {
        debezium_final_rows(dir, &["id", "final"])
    });
}
