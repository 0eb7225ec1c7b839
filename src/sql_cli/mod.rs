//! `millstream sql`: Flink SQL scripts (`-f job.sql`) or an interactive prompt, on the
//! connectors of `millstream-connectors` (`filesystem`, `nexmark`, `datagen`, `print`,
//! `blackhole`).
//!
//! ```text
//!  -D k=v ... ─▶ SET 'k' = 'v';  ┐
//!  -f job.sql ─▶ split_statements ┼─▶ TableEnvironment::execute_sql, one statement at a time
//!  prompt: one statement a time ─┘        │ its results printed before the next one runs
//!      Done(msg)    ─▶ [INFO] msg         │  Rows(result) ─▶ table | csv (format.rs)
//!      Explain(txt) ─▶ txt                │  Job(job)     ─▶ [INFO] Job '...' finished: ...
//! ```
//!
//! A script runs statement by statement (as Flink's `sql-client.sh -f`), so what a statement
//! prints (a result table, a job summary) appears before the next one starts, and the
//! results of the statements before a failing one are not lost. Each statement is passed at
//! its place in the script (preceded by blank lines and spaces), so an error still names the
//! script's line and column.

mod format;
mod live;
mod repl;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use millstream::connectors::sql::default_registry;
use millstream::core::runtime::{JobConfig, JobResult};
use millstream::core::sql::{StatementResult, TableEnvironment};

use self::format::{render, OutputFormat, RenderOptions, DEFAULT_MAX_COLUMN_WIDTH};
use self::live::Live;
use crate::FaultToleranceArgs;

/// The session option of the widest table cell (Flink's SQL client option).
const MAX_COLUMN_WIDTH_KEY: &str = "sql-client.display.max-column-width";

/// Flags of `millstream sql`.
#[derive(clap::Args)]
pub(crate) struct SqlArgs {
    /// Run the statements of this script instead of opening the interactive prompt.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// How query results are printed: a table (Flink's SQL client style) or CSV rows.
    #[arg(long, value_enum, default_value = "table")]
    output_format: OutputFormat,
    /// Print every change of a query result with its kind (+I, -U, +U, -D) instead of the
    /// final rows.
    #[arg(long)]
    changelog: bool,
    /// Parallelism of every operator (default: number of cores).
    #[arg(long)]
    parallelism: Option<usize>,
    /// A session option, run as `SET 'key' = 'value';` before the script (repeatable).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    define: Vec<String>,
    /// After each job, print its summary as one JSON object on a line of its own.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fault_tolerance: FaultToleranceArgs,
}

/// `millstream sql`.
pub(crate) fn run(args: SqlArgs) -> Result<()> {
    let mut config = JobConfig::default();
    if let Some(p) = args.parallelism {
        config.parallelism = p.max(1);
    }
    args.fault_tolerance.apply(&mut config)?;
    let (preamble, sets) = set_statements(&args.define)?;
    let render = RenderOptions {
        format: args.output_format,
        changelog: args.changelog,
        max_column_width: max_column_width(&args.define)?,
    };
    let mut env = TableEnvironment::new(config, default_registry());
    let live = Live::install(&mut env, render)?;
    let mut session = Session {
        env,
        render,
        json: args.json,
        live,
    };
    match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read SQL script '{}'", path.display()))?;
            if sets > 0 {
                session
                    .execute(&preamble)
                    .context("applying the -D options")?;
            }
            let running = || format!("running '{}'", path.display());
            for statement in statements(&text).with_context(running)? {
                let results = session.execute(&statement).with_context(running)?;
                let mut out = std::io::stdout().lock();
                for r in &results {
                    session.print(r, &mut out)?;
                }
            }
            Ok(())
        }
        None => {
            if sets > 0 {
                session
                    .execute(&preamble)
                    .context("applying the -D options")?;
            }
            repl::interactive(|statement| {
                let mut out = std::io::stdout().lock();
                let printed = match session.execute(statement) {
                    Ok(results) => results.iter().try_for_each(|r| session.print(r, &mut out)),
                    Err(e) => writeln!(out, "[ERROR] {e:#}\n").map_err(Into::into),
                };
                if let Err(e) = printed {
                    eprintln!("[ERROR] cannot print the result: {e:#}");
                }
            })
        }
    }
}

/// The statements of `script`, each at its place: preceded by as many line breaks and
/// spaces as the script has before it, so that positions in errors are the script's; each
/// ends with its `;`. A `BEGIN STATEMENT SET; ... END;` block is one statement.
fn statements(script: &str) -> Result<Vec<String>> {
    // Byte offset of each line's start.
    let mut line_starts = vec![0];
    line_starts.extend(script.match_indices('\n').map(|(i, _)| i + 1));
    // Byte offset of a 1-based (line, column in characters) place, clamped to its line.
    let offset = |line: u64, column: u64| -> usize {
        let l = (line.max(1) - 1) as usize;
        let Some(&start) = line_starts.get(l) else {
            return script.len();
        };
        let end = line_starts.get(l + 1).map_or(script.len(), |&e| e - 1);
        script[start..end]
            .char_indices()
            .nth((column.max(1) - 1) as usize)
            .map_or(end, |(i, _)| start + i)
    };
    let mut out = Vec::new();
    for st in millstream::core::sql::dialect::split_statements(script)? {
        let (Some(first), Some(last)) = (st.tokens.first(), st.tokens.last()) else {
            continue;
        };
        let (from, to) = (
            offset(first.span.start.line, first.span.start.column),
            offset(last.span.end.line, last.span.end.column),
        );
        let mut text = "\n".repeat((first.span.start.line.max(1) - 1) as usize);
        text.push_str(&" ".repeat((first.span.start.column.max(1) - 1) as usize));
        text.push_str(script.get(from..to.max(from)).unwrap_or_default());
        if !text.ends_with(';') {
            text.push(';');
        }
        out.push(text);
    }
    Ok(out)
}

/// `SET 'key' = 'value';` for each `-D key=value`, and how many there are.
fn set_statements(defines: &[String]) -> Result<(String, usize)> {
    let mut script = String::new();
    for d in defines {
        let Some((k, v)) = d.split_once('=') else {
            anyhow::bail!("-D '{d}': expected key=value");
        };
        let quote = |s: &str| s.trim().replace('\'', "''");
        script.push_str(&format!("SET '{}' = '{}';\n", quote(k), quote(v)));
    }
    Ok((script, defines.len()))
}

/// `-D sql-client.display.max-column-width=N`, or Flink's default.
fn max_column_width(defines: &[String]) -> Result<usize> {
    let mut width = DEFAULT_MAX_COLUMN_WIDTH;
    for d in defines {
        if let Some((k, v)) = d.split_once('=') {
            if k.trim() == MAX_COLUMN_WIDTH_KEY {
                width = v
                    .trim()
                    .parse()
                    .with_context(|| format!("-D {MAX_COLUMN_WIDTH_KEY}: '{v}' is not a number"))?;
            }
        }
    }
    Ok(width)
}

/// A SQL session of the command line and how it prints.
struct Session {
    env: TableEnvironment,
    render: RenderOptions,
    json: bool,
    /// The display of queries over unbounded tables (a result shown live is not printed
    /// again).
    live: Live,
}

impl Session {
    /// Runs `script`, showing progress on stderr while a job runs for long.
    fn execute(&mut self, script: &str) -> Result<Vec<StatementResult>> {
        let done = Arc::new(AtomicBool::new(false));
        let progress = self.env.config_mut().progress.clone();
        let reporter = crate::spawn_progress(progress, done.clone(), false);
        self.live.set_progress(done.clone());
        let results = self.env.execute_sql(script);
        done.store(true, Ordering::Relaxed);
        let _ = reporter.join();
        self.live.finish();
        Ok(results?)
    }

    /// Prints one statement's result.
    fn print(&self, result: &StatementResult, out: &mut impl Write) -> Result<()> {
        match result {
            StatementResult::Done(msg) => writeln!(out, "[INFO] {msg}\n")?,
            StatementResult::Explain(text) => writeln!(out, "{}", text.trim_end())?,
            StatementResult::Rows(rows) => {
                if !rows.live {
                    out.write_all(render(rows, &self.render)?.as_bytes())?;
                    if self.render.format == OutputFormat::Table {
                        writeln!(out)?;
                    }
                }
                if let (true, Some(job)) = (self.json, &rows.job) {
                    writeln!(out, "{}", job_json(job, &crate::checkpoint_summary(job)))?;
                }
            }
            StatementResult::Job(job) => {
                writeln!(out, "{}", job_line(job))?;
                let ck = crate::checkpoint_summary(job);
                if let Some(line) = ck.get("line").and_then(|l| l.as_str()) {
                    writeln!(out, "[INFO] {line}")?;
                }
                if self.json {
                    writeln!(out, "{}", job_json(job, &ck))?;
                }
                writeln!(out)?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// Rows the sinks of `job` received.
fn rows_out(job: &JobResult) -> u64 {
    job.operators
        .iter()
        .filter(|o| o.name.starts_with("sink: "))
        .map(|o| o.metrics.rows_in)
        .sum()
}

/// `[INFO] Job 'name' finished: N rows in, M rows out in X s (R M rows/s)`.
fn job_line(job: &JobResult) -> String {
    if job.already_finished {
        return format!(
            "[INFO] Job '{}' had already finished (checkpoint {}); its output is committed, nothing to do",
            job.name, job.final_checkpoint_id
        );
    }
    let secs = job.elapsed.as_secs_f64();
    format!(
        "[INFO] Job '{}' finished: {} rows in, {} rows out in {secs:.3} s ({:.2} M rows/s)",
        job.name,
        job.source_rows,
        rows_out(job),
        job.source_rows as f64 / secs.max(1e-9) / 1e6
    )
}

/// The JSON summary of a job: rows, time, rate, peak RSS and the checkpoint figures `ck`
/// (as `millstream nexmark --json` prints them).
fn job_json(job: &JobResult, ck: &serde_json::Value) -> serde_json::Value {
    let secs = job.elapsed.as_secs_f64();
    crate::with_checkpoint_fields(
        serde_json::json!({
            "job": job.name,
            "rows_in": job.source_rows,
            "rows_out": rows_out(job),
            "seconds": secs,
            "rows_per_sec": job.source_rows as f64 / secs.max(1e-9),
            "peak_rss_bytes": millstream::sysinfo::peak_rss_bytes().unwrap_or(0),
        }),
        ck,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_statements_at_their_places() {
        let script = "SET 'a' = 'x;y';\n-- a comment; here\n  SELECT 1\n  FROM t;;\n\
                      SELECT 'é', 2 ;\nBEGIN STATEMENT SET;\nINSERT INTO a SELECT 1;\nEND;";
        let parts = statements(script).unwrap();
        assert_eq!(
            parts,
            [
                "SET 'a' = 'x;y';",
                "\n\n  SELECT 1\n  FROM t;",
                "\n\n\n\nSELECT 'é', 2;",
                "\n\n\n\n\nBEGIN STATEMENT SET;\nINSERT INTO a SELECT 1;\nEND;",
            ]
        );
        assert!(statements("SELECT 'open").is_err());
    }

    #[test]
    fn defines_become_set_statements() {
        let (script, n) =
            set_statements(&["parallelism.default=2".into(), "a = it's".into()]).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            script,
            "SET 'parallelism.default' = '2';\nSET 'a' = 'it''s';\n"
        );
        assert!(set_statements(&["novalue".into()]).is_err());
        assert_eq!(max_column_width(&[]).unwrap(), 30);
        let w = format!("{MAX_COLUMN_WIDTH_KEY}=50");
        assert_eq!(max_column_width(&[w]).unwrap(), 50);
        assert!(max_column_width(&[format!("{MAX_COLUMN_WIDTH_KEY}=x")]).is_err());
    }
}
