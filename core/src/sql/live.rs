//! Queries followed while they run, for displays of unbounded results.
//!
//! A [`TableEnvironment`](super::TableEnvironment) with a query observer (see
//! [`TableEnvironment::set_query_observer`](super::TableEnvironment::set_query_observer))
//! hands the observer a [`LiveQuery`] when a query over an unbounded table starts, on the
//! thread that runs the statement and just before the job runs there. The query's sink makes
//! each batch visible as soon as it is written; the observer (typically on a thread of its
//! own) reads the changes with [`LiveQuery::changes_from`], which leaves them in place, so the
//! statement's [`QueryResult`](super::QueryResult) still holds the whole changelog when the
//! job ends. [`LiveQuery::cancel`] stops the job; the statement then returns the changes so
//! far, with no job summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::Result;
use crate::operator::sink::CollectHandle;
use crate::runtime::JobControl;
use crate::sql::result::ChangeBatch;
use crate::sql::types::Column;

/// A running query over an unbounded input.
#[derive(Debug, Clone)]
pub struct LiveQuery {
    pub(crate) columns: Vec<Column>,
    pub(crate) updating: bool,
    pub(crate) rows: CollectHandle,
    pub(crate) control: Arc<JobControl>,
    pub(crate) finished: Arc<AtomicBool>,
}

impl LiveQuery {
    /// The result columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The change batches from the `start`-th on (0 for all so far), left in place.
    ///
    /// # Errors
    /// A batch without the changelog column of an updating result.
    pub fn changes_from(&self, start: usize) -> Result<Vec<ChangeBatch>> {
        self.rows
            .visible_from(start)
            .into_iter()
            .map(|b| ChangeBatch::from_stream_batch(b, self.updating))
            .collect()
    }

    /// Stop the query's job.
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// Whether the job has ended (finished, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// What [`TableEnvironment::set_query_observer`](super::TableEnvironment::set_query_observer)
/// takes: called with each unbounded query as it starts.
pub type QueryObserver = Box<dyn FnMut(LiveQuery) + Send>;
