//! The live display of `millstream sql`: the result of a query over an unbounded table, shown
//! as it updates, until the input ends or Ctrl-C stops the query.
//!
//! ```text
//!  TableEnvironment ──LiveQuery──▶ display thread (one per query, polls every 100 ms)
//!   (runs the job on the          │ terminal, table format: the changelog applied, redrawn
//!    statement's thread)          │   once a second ("tableau" of the current rows)
//!                                 │ --changelog, or stdout not a terminal: each change as a
//!                                 ▼   row with its op (+I/-U/+U/-D) as it arrives
//!  SIGINT ─▶ flag ─▶ LiveQuery::cancel ─▶ the job stops; the statement returns its rows
//! ```
//!
//! Ctrl-C stops a live query only (a second one, should the job not stop, ends the
//! process); outside one it ends the process as usual (the handler runs the default action
//! then). `--output-format csv` prints the final rows when the
//! query ends, as for a bounded input.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use millstream::core::sql::{LiveQuery, QueryResult, SqlType, TableEnvironment};

use super::format::RenderOptions;
use super::format::{border, changelog_lines, line, render, type_widths, OutputFormat};

/// How often the display looks for new rows, and how often a table is redrawn.
const POLL: Duration = Duration::from_millis(100);
const REDRAW: Duration = Duration::from_secs(1);

/// The live display, installed as the session's query observer.
pub(crate) struct Live {
    /// The display threads of the statements running, until [`Live::finish`] joins them.
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// SIGINT's default action (ending the process) applies unless a live query runs.
    sigint_default: Arc<AtomicBool>,
    /// The "done" flag of the statement's progress reporter, raised when a live display
    /// starts so that the two do not draw over each other.
    progress_done: Arc<Mutex<Option<Arc<AtomicBool>>>>,
}

impl Live {
    /// Shows the queries `env` runs over unbounded tables live, printed per `opts` (CSV
    /// output is not live).
    ///
    /// # Errors
    /// The SIGINT handler cannot be installed.
    pub(crate) fn install(env: &mut TableEnvironment, opts: RenderOptions) -> Result<Live> {
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let sigint_default = Arc::new(AtomicBool::new(true));
        let interrupted = Arc::new(AtomicBool::new(false));
        let progress_done: Arc<Mutex<Option<Arc<AtomicBool>>>> = Arc::new(Mutex::new(None));
        if opts.format == OutputFormat::Csv {
            return Ok(Live {
                threads,
                sigint_default,
                progress_done,
            });
        }
        signal_hook::flag::register_conditional_default(
            signal_hook::consts::SIGINT,
            sigint_default.clone(),
        )?;
        signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())?;
        let (slot, default) = (threads.clone(), sigint_default.clone());
        let progress = progress_done.clone();
        env.set_query_observer(Some(Box::new(move |q: LiveQuery| {
            interrupted.store(false, Ordering::SeqCst);
            default.store(false, Ordering::SeqCst);
            if let Some(done) = lock(&progress).as_ref() {
                done.store(true, Ordering::Relaxed);
            }
            let (stop, default) = (interrupted.clone(), default.clone());
            let handle = std::thread::spawn(move || {
                if let Err(e) = follow(&q, opts, &stop, &default) {
                    q.cancel();
                    eprintln!("[ERROR] live display: {e:#}");
                }
            });
            lock(&slot).push(handle);
        })));
        Ok(Live {
            threads,
            sigint_default,
            progress_done,
        })
    }

    /// The progress reporter of the statement about to run: a live display stops it.
    pub(crate) fn set_progress(&self, done: Arc<AtomicBool>) {
        *lock(&self.progress_done) = Some(done);
    }

    /// Waits for the displays of the statements just run.
    pub(crate) fn finish(&self) {
        let handles = std::mem::take(&mut *lock(&self.threads));
        for h in handles {
            let _ = h.join();
        }
        self.sigint_default.store(true, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Follows `q` until its job ends, printing as the module docs say; cancels it when `stop`
/// is raised, after which a second Ctrl-C ends the process (`sigint_default`), should the
/// job not stop.
fn follow(
    q: &LiveQuery,
    opts: RenderOptions,
    stop: &AtomicBool,
    sigint_default: &AtomicBool,
) -> Result<()> {
    let streaming = opts.changelog || !std::io::stdout().is_terminal();
    let types: Vec<SqlType> = q.columns().iter().map(|c| c.ty).collect();
    let mut header = vec!["op".to_string()];
    header.extend(q.columns().iter().map(|c| c.name.clone()));
    let mut kinds: Vec<Option<SqlType>> = vec![None];
    kinds.extend(types.iter().map(|&t| Some(t)));
    let widths = type_widths(&header, &kinds, opts.max_column_width);
    let mut out = std::io::stdout();
    if streaming {
        write!(
            out,
            "{}{}{}",
            border(&widths),
            line(&widths, &header),
            border(&widths)
        )?;
        out.flush()?;
    }
    let (mut seen, mut rows) = (0, 0usize);
    let mut all = Vec::new();
    let mut drawn: Option<Instant> = None;
    loop {
        let done = q.is_finished();
        if stop.swap(false, Ordering::SeqCst) {
            q.cancel();
            sigint_default.store(true, Ordering::SeqCst);
        }
        let new = q.changes_from(seen)?;
        seen += new.len();
        if streaming {
            if !new.is_empty() {
                rows += new.iter().map(|c| c.rows.num_rows()).sum::<usize>();
                out.write_all(changelog_lines(&new, &types, &widths).as_bytes())?;
                out.flush()?;
            }
        } else {
            let changed = !new.is_empty();
            all.extend(new);
            let due = drawn.is_none_or(|t| t.elapsed() >= REDRAW);
            if done || (changed && due) {
                let result = QueryResult {
                    columns: q.columns().to_vec(),
                    changes: all.clone(),
                    job: None,
                    live: false,
                };
                let table = render(
                    &result,
                    &RenderOptions {
                        changelog: false,
                        ..opts
                    },
                )?;
                let status = if done {
                    ""
                } else {
                    "(updating; Ctrl-C stops the query)\n"
                };
                // Home and clear the screen, then draw the current rows.
                write!(out, "\x1b[H\x1b[2J{table}{status}")?;
                out.flush()?;
                drawn = Some(Instant::now());
            }
        }
        if done {
            break;
        }
        std::thread::sleep(POLL);
    }
    if streaming {
        let s = if rows == 1 { "" } else { "s" };
        write!(
            out,
            "{}Received a total of {rows} row{s}\n\n",
            border(&widths)
        )?;
        out.flush()?;
    }
    Ok(())
}
