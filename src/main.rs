//! The `millstream` command line: `millstream nexmark --query <q> ...` runs a Nexmark query
//! on the built-in generator or on CSV files and prints a summary.

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
use millstream::core::operator::sink::BlackholeSink;
use millstream::core::runtime::JobProgress;
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
    Nexmark(NexmarkArgs),
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Nexmark(args) => run_nexmark(args),
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
    let env = StreamExecutionEnvironment::new();
    if let Some(p) = args.parallelism {
        env.set_parallelism(p);
    }
    if let Some(b) = args.batch_size {
        env.set_batch_size(b);
    }
    let (input, events) = match &args.data {
        Some(dir) => {
            let events = data_events(dir);
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
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "query": args.query,
                "events": events,
                "seconds": seconds,
                "events_per_sec": rate,
                "peak_rss_bytes": rss,
            })
        );
    }
    Ok(())
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
