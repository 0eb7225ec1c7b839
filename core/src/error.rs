//! Error type of the core crate.
//!
//! Variants follow who is at fault: the user ([`Error::Plan`], [`Error::Schema`]), the data
//! ([`Error::Data`], which always names the place), the environment ([`Error::Io`]), or us
//! ([`Error::Internal`], whose message says it is a bug). [`Error::WithOperator`] wraps an
//! error with the operator and subtask it came from, so a failed job says where it failed.

use std::fmt;

use arrow::error::ArrowError;
use millstream_kernels::KernelError;

/// Result alias used throughout the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in an input a malformed value sits: a file (or source) name, and line / column when
/// known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// File path or source name.
    pub source: String,
    /// 1-based line number, when the input is line-oriented.
    pub line: Option<u64>,
    /// Column name or 1-based column number.
    pub column: Option<String>,
}

impl Location {
    /// A whole file.
    pub fn file(path: &std::path::Path) -> Self {
        Location {
            source: path.display().to_string(),
            ..Location::default()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, " column {column}")?;
        }
        Ok(())
    }
}

/// Errors raised while building or running a job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The job as written cannot be planned (unknown column, bad window, wrong arity...).
    #[error("plan error: {0}")]
    Plan(String),
    /// A batch does not have the schema an operator expects.
    #[error("schema error: {0}")]
    Schema(String),
    /// Malformed input data, with its place.
    #[error("{location}: {detail}")]
    Data {
        /// Where the bad value is.
        location: Location,
        /// What is wrong with it.
        detail: String,
    },
    /// An I/O error, with the path or resource it concerns.
    #[error("{context}: {error}")]
    Io {
        /// Path or resource.
        context: String,
        /// Underlying error (its message is part of this error's message, so it is not
        /// also reported as a `source`).
        error: std::io::Error,
    },
    /// An arrow kernel failed.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A millstream kernel failed.
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
    /// Converting typed records to or from arrow failed.
    #[error("record conversion: {0}")]
    Serde(String),
    /// A connector failed.
    #[error("connector '{connector}': {detail}")]
    Connector {
        /// Connector name.
        connector: String,
        /// What failed.
        detail: String,
    },
    /// A SQL statement that cannot be parsed or planned, with the place of the offending
    /// text (1-based line and column within the script; 0 when unknown).
    #[error("SQL error at line {line}, column {column}: {message}")]
    Sql {
        /// 1-based line of the offending text.
        line: u64,
        /// 1-based column of the offending text.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// A feature that is not supported (yet).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A user function returned an error.
    #[error("user function: {0}")]
    User(String),
    /// A task was cancelled because another task of the job failed.
    #[error("job cancelled")]
    Cancelled,
    /// An invariant was broken: this is a bug in millstream.
    #[error("internal error (this is a bug): {0}")]
    Internal(String),
    /// An error with the operator and subtask it was raised in.
    #[error("operator '{operator}' (subtask {subtask}): {inner}")]
    WithOperator {
        /// Operator name.
        operator: String,
        /// Subtask index.
        subtask: usize,
        /// The error (part of this error's message; see [`Error::root`]).
        inner: Box<Error>,
    },
}

impl Error {
    /// Wrap an I/O error with the path or resource it concerns.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            error: source,
        }
    }

    /// The innermost error, with operator breadcrumbs removed.
    pub fn root(&self) -> &Error {
        match self {
            Error::WithOperator { inner, .. } => inner.root(),
            other => other,
        }
    }
}

impl From<serde_arrow::Error> for Error {
    fn from(e: serde_arrow::Error) -> Self {
        Error::Serde(e.to_string())
    }
}
