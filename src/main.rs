//! The `millstream` command line: `millstream nexmark --query <q> ...` runs a Nexmark query
//! on the built-in generator or on CSV files and prints a summary; `millstream sql` runs
//! Flink SQL scripts or opens a SQL prompt (module `sql_cli`).

mod sql_cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use millstream::connectors::file::CsvSinkFactory;
use millstream::connectors::NexmarkConfig;
use millstream::core::api::StreamExecutionEnvironment;
use millstream::core::checkpoint::{
    CheckpointConfig, CheckpointMode, RestartStrategy, RestoreFrom,
};
use millstream::core::operator::sink::BlackholeSink;
use millstream::core::runtime::{JobConfig, JobProgress, JobResult, SAVEPOINT_REQUEST_FILE};
use millstream::core::state::{RocksDbOptions, StateBackendKind};
use millstream::nexmark::{build_query, NexmarkInput};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "millstream",
    version,
    about = "Stream-first columnar stream processing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Nexmark query (written with the DataStream API).
    Nexmark(Box<NexmarkArgs>),
    /// Run Flink SQL: a script (`-f job.sql`) or an interactive prompt.
    Sql(Box<sql_cli::SqlArgs>),
    /// Ask the job running with this checkpoint directory for a savepoint, and wait for it.
    Savepoint(SavepointArgs),
}

#[derive(clap::Args)]
struct SavepointArgs {
    /// The running job's `--checkpoint-dir`.
    #[arg(long)]
    checkpoint_dir: PathBuf,
    /// Give up after this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Checkpointing, recovery and state flags shared by the job commands.
#[derive(clap::Args)]
struct FaultToleranceArgs {
    /// Take checkpoints into this directory.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Time between checkpoints (e.g. 200ms, 10s).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
    /// Barrier handling: exactly-once (aligned), unaligned, or at-least-once.
    #[arg(long, default_value = "exactly-once")]
    checkpoint_mode: String,
    /// Completed checkpoints to keep.
    #[arg(long, default_value_t = 3)]
    checkpoints_retained: usize,
    /// Start from `latest` (the newest valid checkpoint in --checkpoint-dir, or the
    /// beginning if there is none) or from a checkpoint / savepoint directory.
    #[arg(long)]
    restore: Option<String>,
    /// Where keyed state lives: memory or rocksdb.
    #[arg(long, default_value = "memory")]
    state_backend: String,
    /// Memory budget of each RocksDB instance, in MiB.
    #[arg(long, default_value_t = 64)]
    rocksdb_memory_mb: usize,
    /// Restart a failed job up to this many times (exponential backoff from 100 ms),
    /// from its latest checkpoint.
    #[arg(long, default_value_t = 0)]
    restart_attempts: u32,
}

impl FaultToleranceArgs {
    /// Sets checkpointing, the restore point, the state backend and the restart strategy of
    /// `config`.
    fn apply(&self, config: &mut JobConfig) -> Result<()> {
        let mode = match self.checkpoint_mode.as_str() {
            "exactly-once" => CheckpointMode::ExactlyOnce,
            "unaligned" => CheckpointMode::Unaligned,
            "at-least-once" => CheckpointMode::AtLeastOnce,
            other => anyhow::bail!(
                "unknown --checkpoint-mode '{other}' (exactly-once, unaligned, at-least-once)"
            ),
        };
        if let Some(dir) = &self.checkpoint_dir {
            let mut c = CheckpointConfig::new(dir.clone(), self.checkpoint_interval);
            c.mode = mode;
            c.retain = self.checkpoints_retained.max(1);
            config.checkpoint = Some(c);
        }
        match self.restore.as_deref() {
            None => {}
            Some("latest") => {
                if self.checkpoint_dir.is_none() {
                    anyhow::bail!("--restore latest needs --checkpoint-dir");
                }
                config.restore = RestoreFrom::Latest;
            }
            Some(path) => {
                config.restore = RestoreFrom::Path(PathBuf::from(path));
            }
        }
        match self.state_backend.as_str() {
            "memory" => {}
            "rocksdb" => {
                let base = match &self.checkpoint_dir {
                    Some(d) => d.join("rocksdb-local"),
                    None => std::env::temp_dir().join("millstream-rocksdb"),
                };
                let mut o = RocksDbOptions::new(base);
                o.memory_budget_bytes = self.rocksdb_memory_mb.max(1) << 20;
                config.state_backend = StateBackendKind::RocksDb(o);
            }
            other => anyhow::bail!("unknown --state-backend '{other}' (memory, rocksdb)"),
        }
        if self.restart_attempts > 0 {
            config.restart = RestartStrategy::ExponentialBackoff {
                attempts: self.restart_attempts,
                initial: Duration::from_millis(100),
                max: Duration::from_secs(10),
                multiplier: 2.0,
            };
        }
        Ok(())
    }
}

#[derive(clap::Args)]
struct NexmarkArgs {
    /// Query: q0, q1, q2, q3, q5, q7, q8 or tumble_count.
    #[arg(long, default_value = "tumble_count")]
    query: String,
    /// Events to generate (built-in generator).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Parallelism of every operator (default: number of cores).
    #[arg(long)]
    parallelism: Option<usize>,
    /// Read person.csv, auction.csv, bid.csv from this directory instead of generating.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Write result rows as CSV part files into this directory (default: discard).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Generator events per second of event time.
    #[arg(long, default_value_t = 10_000)]
    event_rate: u64,
    /// Throttle the source to this many events per second of wall time.
    #[arg(long)]
    max_rate: Option<u64>,
    /// Rows per source batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Print the summary as one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Print the physical plan and per-operator metrics.
    #[arg(long)]
    metrics: bool,
    #[command(flatten)]
    fault_tolerance: FaultToleranceArgs,
}

/// mimalloc's `purge_delay` this binary runs with, in ms (`-1`: never). Its default returns
/// freed memory to the OS after a second, so an operator whose tables and columns keep
/// growing (deduplication, `COUNT(DISTINCT)`) has the kernel zero the same memory again and
/// again: 38 % of q18's samples were `clear_page_erms`, 21 % with purging off (`perf record`
/// on the 10M-event CSV files, parallelism 2; 25 % fewer samples in all).
const MIMALLOC_PURGE_DELAY: &str = "-1";

/// mimalloc reads its options once, when the process starts: the binary runs itself again
/// with `MIMALLOC_PURGE_DELAY` set unless the caller set it (to any value, which is kept).
/// `exec` replaces this process (same pid, stdin, stdout, argv); when it fails the binary
/// goes on with mimalloc's defaults.
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    const KEY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(KEY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    let _failed = cmd.args(args).env(KEY, MIMALLOC_PURGE_DELAY).exec();
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Nexmark(args) => run_nexmark(*args),
        Command::Sql(args) => sql_cli::run(*args),
        Command::Savepoint(args) => run_savepoint(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace for user errors.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn data_events(dir: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("meta.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("events")?.as_u64()
}

fn run_nexmark(args: NexmarkArgs) -> Result<()> {
    let mut config = JobConfig::default();
    args.fault_tolerance.apply(&mut config)?;
    let env = StreamExecutionEnvironment::with_config(config);
    if let Some(p) = args.parallelism {
        env.set_parallelism(p);
    }
    if let Some(b) = args.batch_size {
        env.set_batch_size(b);
    }
    let (input, events) = match &args.data {
        Some(dir) => {
            let events = data_events(dir);
            env.set_source_max_rate(args.max_rate);
            (NexmarkInput::Csv(dir.clone()), events)
        }
        None => {
            let cfg = NexmarkConfig {
                events: args.events,
                seed: args.seed,
                rate: args.event_rate,
                max_rate: args.max_rate,
                ..NexmarkConfig::default()
            };
            (NexmarkInput::Generator(cfg), Some(args.events))
        }
    };
    let result = build_query(&env, &input, &args.query)
        .with_context(|| format!("building query {}", args.query))?;
    match &args.output {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating output directory {}", dir.display()))?;
            result.sink_to(Arc::new(CsvSinkFactory::new(dir.clone())));
        }
        None => {
            result.sink_to(Arc::new(BlackholeSink));
        }
    }
    if args.metrics {
        eprintln!("{}", env.explain()?);
    }
    let done = Arc::new(AtomicBool::new(false));
    let reporter = spawn_progress(env.progress(), done.clone(), args.data.is_none());
    let started = Instant::now();
    let outcome = env.execute(&format!("nexmark {}", args.query));
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    let job = outcome.with_context(|| format!("running query {}", args.query))?;
    if job.already_finished {
        println!(
            "query {}: the job already finished (checkpoint {}); its output is committed, nothing to do",
            args.query, job.final_checkpoint_id
        );
        return Ok(());
    }
    let events = events.unwrap_or(job.source_rows);
    let rate = events as f64 / seconds.max(1e-9);
    let rss = millstream::sysinfo::peak_rss_bytes().unwrap_or(0);
    if args.metrics {
        eprint!("{}", job.metrics_table());
    }
    println!(
        "query {}: {} events in {:.3} s = {:.2} M events/s, peak RSS {:.1} MB",
        args.query,
        events,
        seconds,
        rate / 1e6,
        rss as f64 / 1e6
    );
    let ck = checkpoint_summary(&job);
    if let Some(line) = ck.get("line").and_then(|l| l.as_str()) {
        println!("{line}");
    }
    if args.json {
        let v = serde_json::json!({
            "query": args.query,
            "events": events,
            "seconds": seconds,
            "events_per_sec": rate,
            "peak_rss_bytes": rss,
        });
        println!("{}", with_checkpoint_fields(v, &ck));
    }
    Ok(())
}

/// `summary` (a JSON object) with the checkpoint figures `ck` of [`checkpoint_summary`]
/// added (the `--json` summaries of `nexmark` and `sql`).
fn with_checkpoint_fields(
    mut summary: serde_json::Value,
    ck: &serde_json::Value,
) -> serde_json::Value {
    if let (Some(o), Some(c)) = (summary.as_object_mut(), ck.as_object()) {
        for (k, val) in c {
            if k != "line" {
                o.insert(k.clone(), val.clone());
            }
        }
    }
    summary
}

/// Checkpoint figures of a finished job: a summary line and JSON fields.
fn checkpoint_summary(job: &JobResult) -> serde_json::Value {
    let n = job.checkpoints.len();
    let mut v = serde_json::json!({
        "checkpoints": n,
        "checkpoints_aborted": job.checkpoints_aborted,
        "restarts": job.restarts,
        "restored_from": job.restored_from.as_ref().map(|p| p.display().to_string()),
        "restore_ms": job.restore_time.map(|d| d.as_secs_f64() * 1e3),
    });
    if let (Some(from), Some(t)) = (&job.restored_from, job.restore_time) {
        eprintln!(
            "restored from {} in {:.1} ms",
            from.display(),
            t.as_secs_f64() * 1e3
        );
    }
    if n > 0 {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let max_ms = job
            .checkpoints
            .iter()
            .map(|c| ms(c.duration))
            .fold(0.0, f64::max);
        let avg_ms = job.checkpoints.iter().map(|c| ms(c.duration)).sum::<f64>() / n as f64;
        let align_ms = job
            .checkpoints
            .iter()
            .map(|c| ms(c.alignment))
            .fold(0.0, f64::max);
        let last = &job.checkpoints[n - 1];
        let written: u64 = job
            .checkpoints
            .iter()
            .map(|c| c.written.bytes_written)
            .sum();
        let write_s: f64 = job.checkpoints.iter().map(|c| c.write.as_secs_f64()).sum();
        let bps = written as f64 / write_s.max(1e-9);
        if let Some(o) = v.as_object_mut() {
            o.insert("checkpoint_ms_avg".into(), avg_ms.into());
            o.insert("checkpoint_ms_max".into(), max_ms.into());
            o.insert("alignment_ms_max".into(), align_ms.into());
            o.insert(
                "checkpoint_bytes_last".into(),
                last.written.bytes_total.into(),
            );
            o.insert("checkpoint_bytes_written".into(), written.into());
            o.insert("checkpoint_write_bytes_per_sec".into(), bps.into());
            o.insert(
                "line".into(),
                format!(
                    "checkpoints: {n} completed ({} aborted), duration avg {avg_ms:.1} ms max {max_ms:.1} ms, alignment max {align_ms:.1} ms, last size {:.2} MB, written {:.2} MB at {:.1} MB/s",
                    job.checkpoints_aborted,
                    last.written.bytes_total as f64 / 1e6,
                    written as f64 / 1e6,
                    bps / 1e6
                )
                .into(),
            );
        }
    }
    v
}

/// `millstream savepoint`: drop a request file into the checkpoint directory and wait for
/// the job to write the savepoint.
fn run_savepoint(args: &SavepointArgs) -> Result<()> {
    let dir = &args.checkpoint_dir;
    anyhow::ensure!(
        dir.is_dir(),
        "checkpoint directory {} does not exist (is the job running with --checkpoint-dir?)",
        dir.display()
    );
    let latest = dir.join("savepoints").join("latest");
    let before = std::fs::read_to_string(&latest).ok();
    let request = dir.join(SAVEPOINT_REQUEST_FILE);
    std::fs::write(&request, b"").with_context(|| format!("writing {}", request.display()))?;
    let started = Instant::now();
    while started.elapsed() < args.timeout {
        if let Ok(now) = std::fs::read_to_string(&latest) {
            if Some(&now) != before.as_ref() && !request.exists() {
                println!("{now}");
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(&request);
    anyhow::bail!(
        "no savepoint after {:?}: is a job running with --checkpoint-dir {}?",
        args.timeout,
        dir.display()
    )
}

/// After two seconds, show events so far, rate and watermark on stderr until `done`.
fn spawn_progress(
    progress: Arc<JobProgress>,
    done: Arc<AtomicBool>,
    generator: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            if done.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let tty = std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let mut last_plain = Instant::now() - Duration::from_secs(10);
        while !done.load(Ordering::Relaxed) {
            let n = if generator {
                progress.source_position.load(Ordering::Relaxed)
            } else {
                progress.source_rows.load(Ordering::Relaxed)
            };
            let secs = started.elapsed().as_secs_f64();
            let wm = progress.sink_watermark.load(Ordering::Relaxed);
            let wm = if wm == i64::MIN {
                "-".to_string()
            } else {
                format_ts(wm)
            };
            let what = if generator { "events" } else { "rows" };
            let line = format!(
                "{n} {what}, {:.2} M/s, watermark {wm}",
                n as f64 / secs / 1e6
            );
            match &bar {
                Some(b) => b.set_message(line),
                None if last_plain.elapsed() >= Duration::from_secs(5) => {
                    eprintln!("progress: {line}");
                    last_plain = Instant::now();
                }
                None => {}
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}

fn format_ts(ms: i64) -> String {
    if ms == i64::MAX {
        return "end".into();
    }
    arrow::temporal_conversions::timestamp_ms_to_datetime(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}
