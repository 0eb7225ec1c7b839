//! Fault tolerance through the public API: checkpoints, in-job restarts, restore after a
//! failed run, corrupted checkpoints, rescaling from a savepoint, and the three barrier
//! modes. Every case compares the committed output with an uninterrupted run's, row for
//! row as a multiset: nothing lost, nothing twice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use millstream::connectors::file::CsvSinkFactory;
use millstream::connectors::NexmarkConfig;
use millstream::core::api::StreamExecutionEnvironment;
use millstream::core::checkpoint::{
    CheckpointConfig, CheckpointMode, RestartStrategy, RestoreFrom,
};
use millstream::core::{Error, Result};
use millstream::nexmark::{build_query, NexmarkInput};

/// How a test run is set up.
#[derive(Clone)]
struct Run {
    query: &'static str,
    events: u64,
    parallelism: usize,
    checkpoint: Option<(PathBuf, Duration, CheckpointMode)>,
    restore: RestoreFrom,
    restart: RestartStrategy,
    /// Fail once after this many result rows passed the failing map.
    fail_after: Option<u64>,
    /// Fail (every time) after this many result rows.
    always_fail_after: Option<u64>,
    savepoint: bool,
    max_rate: Option<u64>,
}

impl Run {
    fn new(query: &'static str, events: u64, parallelism: usize) -> Self {
        Run {
            query,
            events,
            parallelism,
            checkpoint: None,
            restore: RestoreFrom::Nothing,
            restart: RestartStrategy::None,
            fail_after: None,
            always_fail_after: None,
            savepoint: false,
            max_rate: Some(events * 2),
        }
    }

    fn checkpoints(mut self, dir: &Path, every_ms: u64, mode: CheckpointMode) -> Self {
        self.checkpoint = Some((dir.to_path_buf(), Duration::from_millis(every_ms), mode));
        self
    }

    fn execute(&self, out: &Path) -> Result<millstream::core::runtime::JobResult> {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(self.parallelism);
        env.set_batch_size(256);
        let cfg = NexmarkConfig {
            events: self.events,
            max_rate: self.max_rate,
            ..NexmarkConfig::default()
        };
        let result = build_query(&env, &NexmarkInput::Generator(cfg), self.query)?;
        let seen = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let (once, always) = (self.fail_after, self.always_fail_after);
        let result = result.map_batches(move |b| {
            let n = seen.fetch_add(b.num_rows() as u64, Ordering::SeqCst);
            if always.is_some_and(|a| n >= a) {
                return Err(Error::User("injected failure".into()));
            }
            if once.is_some_and(|a| n >= a) && !failed.swap(true, Ordering::SeqCst) {
                return Err(Error::User("injected failure (first attempt)".into()));
            }
            Ok(b)
        });
        result.sink_to(Arc::new(CsvSinkFactory::new(out.to_path_buf())));
        if let Some((dir, every, mode)) = &self.checkpoint {
            let mut c = CheckpointConfig::new(dir.clone(), *every);
            c.mode = *mode;
            env.enable_checkpointing(c);
        }
        env.set_restore(self.restore.clone());
        env.set_restart_strategy(self.restart);
        if self.savepoint {
            env.control().request_savepoint();
        }
        env.execute(self.query)
    }
}

/// The committed rows of a sink directory, sorted; panics on a visible temporary file.
fn committed_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
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

fn in_progress_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

fn expected(query: &'static str, events: u64) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    Run::new(query, events, 2).execute(out.path()).unwrap();
    committed_rows(out.path())
}

#[test]
fn a_task_failing_once_is_restarted_from_its_checkpoint_with_exactly_once_output() {
    // q8 fires one 10 s window per 100k events: enough of them that the failure lands
    // between two.
    for (query, events) in [("tumble_count", 60_000), ("q3", 60_000), ("q8", 300_000)] {
        let want = expected(query, events);
        assert!(!want.is_empty());
        let ck = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut run =
            Run::new(query, events, 2).checkpoints(ck.path(), 30, CheckpointMode::ExactlyOnce);
        run.max_rate = Some(events);
        run.fail_after = Some((want.len() as u64 / 2).min(1));
        run.restart = RestartStrategy::FixedDelay {
            attempts: 3,
            delay: Duration::from_millis(10),
        };
        let job = run.execute(out.path()).unwrap();
        assert_eq!(job.restarts, 1, "{query}");
        assert!(
            !job.checkpoints.is_empty(),
            "{query}: no checkpoint completed"
        );
        assert_eq!(committed_rows(out.path()), want, "{query}");
        assert_eq!(in_progress_files(out.path()), 0);
    }
}

#[test]
fn without_a_restart_strategy_the_failure_is_reported() {
    let out = tempfile::tempdir().unwrap();
    let mut run = Run::new("tumble_count", 20_000, 2);
    run.always_fail_after = Some(0);
    let err = run.execute(out.path()).unwrap_err().to_string();
    assert!(err.contains("injected failure"), "{err}");
    assert!(
        committed_rows(out.path()).is_empty(),
        "nothing committed by a failed job"
    );
}

#[test]
fn a_failed_run_resumes_from_the_latest_checkpoint_in_a_new_execution() {
    for mode in [CheckpointMode::ExactlyOnce, CheckpointMode::Unaligned] {
        let want = expected("tumble_count", 80_000);
        let ck = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut first = Run::new("tumble_count", 80_000, 2).checkpoints(ck.path(), 20, mode);
        first.max_rate = Some(80_000);
        first.always_fail_after = Some(want.len() as u64 / 2);
        assert!(first.execute(out.path()).is_err());
        let before = committed_rows(out.path());
        assert!(
            !before.is_empty(),
            "{mode:?}: checkpoints committed part of the output"
        );
        let mut second = Run::new("tumble_count", 80_000, 2).checkpoints(ck.path(), 20, mode);
        second.restore = RestoreFrom::Latest;
        let job = second.execute(out.path()).unwrap();
        assert!(job.restored_from.is_some());
        assert_eq!(committed_rows(out.path()), want, "{mode:?}");
        // Once finished, restoring again does nothing and changes nothing.
        let again = second.execute(out.path()).unwrap();
        assert!(again.already_finished);
        assert_eq!(committed_rows(out.path()), want);
    }
}

#[test]
fn a_corrupted_checkpoint_falls_back_to_the_previous_one() {
    let want = expected("q3", 60_000);
    let ck = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut first =
        Run::new("q3", 60_000, 2).checkpoints(ck.path(), 20, CheckpointMode::ExactlyOnce);
    first.max_rate = Some(40_000);
    first.always_fail_after = Some(want.len() as u64 * 3 / 4);
    assert!(first.execute(out.path()).is_err());
    // Corrupt every file only the newest checkpoint references.
    let mut chks: Vec<PathBuf> = std::fs::read_dir(ck.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("chk-"))
        .collect();
    chks.sort();
    assert!(
        chks.len() >= 2,
        "need two retained checkpoints, have {chks:?}"
    );
    let meta = std::fs::read_to_string(chks.last().unwrap().join("_metadata")).unwrap();
    let mut corrupted = 0;
    for line in meta.lines() {
        if let Some(rest) = line.trim().strip_prefix("\"path\": \"../shared/") {
            let name = rest.trim_end_matches(['"', ',']);
            let p = ck.path().join("shared").join(name);
            let mut bytes = std::fs::read(&p).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&p, &bytes).unwrap();
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);
    let mut second =
        Run::new("q3", 60_000, 2).checkpoints(ck.path(), 20, CheckpointMode::ExactlyOnce);
    second.restore = RestoreFrom::Latest;
    // Some shared files are referenced by both checkpoints; then the older one is bad too
    // and the job falls back further (to the beginning at worst): still exactly once.
    let job = second.execute(out.path()).unwrap();
    assert_ne!(
        job.restored_from.as_deref(),
        Some(chks.last().unwrap().as_path())
    );
    assert_eq!(committed_rows(out.path()), want);
}

#[test]
fn a_truncated_manifest_is_detected_and_skipped() {
    let ck = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let want = expected("tumble_count", 80_000);
    let mut first =
        Run::new("tumble_count", 80_000, 2).checkpoints(ck.path(), 20, CheckpointMode::ExactlyOnce);
    first.max_rate = Some(80_000);
    first.always_fail_after = Some(want.len() as u64 / 2);
    assert!(first.execute(out.path()).is_err());
    let mut chks: Vec<PathBuf> = std::fs::read_dir(ck.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("chk-"))
        .collect();
    chks.sort();
    let newest = chks.last().unwrap().join("_metadata");
    let len = std::fs::metadata(&newest).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    f.set_len(len / 2).unwrap();
    // Restoring that exact path is an error naming the file...
    let mut direct = Run::new("tumble_count", 80_000, 2);
    direct.restore = RestoreFrom::Path(chks.last().unwrap().clone());
    let err = direct.execute(out.path()).unwrap_err().to_string();
    assert!(
        err.contains("_metadata") && err.contains("checksum"),
        "{err}"
    );
    // ...and `latest` falls back.
    let mut second =
        Run::new("tumble_count", 80_000, 2).checkpoints(ck.path(), 20, CheckpointMode::ExactlyOnce);
    second.restore = RestoreFrom::Latest;
    second.execute(out.path()).unwrap();
    assert_eq!(committed_rows(out.path()), want);
}

#[test]
fn a_savepoint_restores_at_another_parallelism() {
    for query in ["tumble_count", "q3"] {
        let want = expected(query, 60_000);
        for p_new in [1, 4] {
            let ck = tempfile::tempdir().unwrap();
            let out = tempfile::tempdir().unwrap();
            let mut first = Run::new(query, 60_000, 2).checkpoints(
                ck.path(),
                3_600_000,
                CheckpointMode::ExactlyOnce,
            );
            first.max_rate = Some(30_000);
            first.savepoint = true;
            first.always_fail_after = Some(want.len() as u64 / 2);
            assert!(first.execute(out.path()).is_err());
            let sp = std::fs::read_to_string(ck.path().join("savepoints").join("latest")).unwrap();
            let mut second = Run::new(query, 60_000, p_new);
            second.restore = RestoreFrom::Path(PathBuf::from(sp.trim()));
            second.execute(out.path()).unwrap();
            assert_eq!(committed_rows(out.path()), want, "{query} 2 -> {p_new}");
        }
    }
}

#[test]
fn at_least_once_loses_nothing() {
    let want = expected("q2", 60_000);
    let ck = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut run = Run::new("q2", 60_000, 2).checkpoints(ck.path(), 20, CheckpointMode::AtLeastOnce);
    run.max_rate = Some(60_000);
    run.fail_after = Some(want.len() as u64 / 2);
    run.restart = RestartStrategy::FixedDelay {
        attempts: 1,
        delay: Duration::from_millis(1),
    };
    run.execute(out.path()).unwrap();
    let got = committed_rows(out.path());
    // Every expected row is there; some may be there twice.
    assert!(got.len() >= want.len());
    let set: std::collections::HashSet<&String> = got.iter().collect();
    assert!(want.iter().all(|r| set.contains(r)));
    // Every part file a sink prepared was committed: none is left in progress.
    assert_eq!(in_progress_files(out.path()), 0);
}
