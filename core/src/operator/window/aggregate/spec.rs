//! [`AggSpec`]: what one aggregate of a window aggregation computes.

use millstream_kernels::agg::AggKind;

/// One aggregate of a window aggregation: `kind(column) AS output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggSpec {
    /// The aggregate function.
    pub kind: AggKind,
    /// The input column; `None` for [`AggKind::Count`] (`COUNT(*)`, which counts rows and
    /// ignores any column given).
    pub column: Option<String>,
    /// The name of the result column.
    pub output: String,
    /// Aggregate each group's distinct non-null values only (`COUNT(DISTINCT x)`,
    /// `SUM(DISTINCT x)`, ...); see [`AggSpec::distinct`].
    pub distinct: bool,
}

impl AggSpec {
    /// `kind(column) AS output`.
    pub fn new(kind: AggKind, column: Option<&str>, output: impl Into<String>) -> Self {
        AggSpec {
            kind,
            column: column.map(str::to_string),
            output: output.into(),
            distinct: false,
        }
    }

    /// The same aggregate over each group's distinct values (`COUNT(DISTINCT x)`): a value
    /// seen before in the group and window is skipped. Only `COUNT(x)`, `SUM` and `AVG`
    /// change; the others give the same result over distinct values and are left as they
    /// are (without the cost of remembering values).
    ///
    /// # Example
    /// ```
    /// use millstream_core::operator::window::AggSpec;
    /// // COUNT(DISTINCT page) AS pages
    /// let spec = AggSpec::count_non_null("page", "pages").distinct();
    /// assert!(spec.distinct);
    /// ```
    pub fn distinct(mut self) -> Self {
        self.distinct = matches!(
            self.kind,
            AggKind::CountNonNull | AggKind::Sum | AggKind::Avg
        );
        self
    }

    /// `COUNT(*) AS output`: rows per group.
    pub fn count(output: impl Into<String>) -> Self {
        Self::new(AggKind::Count, None, output)
    }

    /// `COUNT(column) AS output`: non-null values per group.
    pub fn count_non_null(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::CountNonNull, Some(column), output)
    }

    /// `SUM(column) AS output`.
    pub fn sum(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::Sum, Some(column), output)
    }

    /// `MIN(column) AS output`.
    pub fn min(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::Min, Some(column), output)
    }

    /// `MAX(column) AS output`.
    pub fn max(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::Max, Some(column), output)
    }

    /// `AVG(column) AS output` (integer inputs give a truncated integer, as in Flink SQL).
    pub fn avg(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::Avg, Some(column), output)
    }

    /// `FIRST_VALUE(column) AS output`: the first non-null value in arrival order.
    pub fn first(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::First, Some(column), output)
    }

    /// `LAST_VALUE(column) AS output`: the last non-null value in arrival order.
    pub fn last(column: &str, output: impl Into<String>) -> Self {
        Self::new(AggKind::Last, Some(column), output)
    }
}
