//! The error type of every fallible kernel.

use arrow::datatypes::DataType;
use arrow::error::ArrowError;

/// What went wrong in a kernel.
///
/// Core converts this into its own `Error`; messages start lower-case, have no
/// trailing period, and name the kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The kernel has no implementation for this Arrow type.
    #[error("{kernel}: unsupported data type {data_type}")]
    UnsupportedType {
        /// The kernel that refused, e.g. `"hash_columns"`.
        kernel: &'static str,
        /// The type it was given.
        data_type: DataType,
    },
    /// The arguments are inconsistent (lengths differ, an index is out of range, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An error from an Arrow kernel the kernel delegated to.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// `Result` with [`KernelError`] as the error.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

impl KernelError {
    /// Shorthand for [`KernelError::UnsupportedType`].
    pub(crate) fn unsupported(kernel: &'static str, data_type: &DataType) -> Self {
        Self::UnsupportedType {
            kernel,
            data_type: data_type.clone(),
        }
    }
}
