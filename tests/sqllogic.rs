//! SQL golden tests: the `.slt` files of `tests/slt/`, run by the `sqllogictest` crate.
//!
//! Each file's expected rows were produced by Apache Flink 2.3 in streaming mode over the
//! same CSV and JSON-lines files of `tests/slt/data` (`tests/slt/regenerate.sh` rewrites
//! them), so every record checks that Millstream answers as Flink does. One test per file listed in `slt_files!` (other `.slt` files run
//! together in `other_slt_files`); a file runs twice, at parallelism 1 and 4, and every
//! failing record is reported with its `file:line`, not only the first.
//!
//! Rows are spelled as Flink's SQL client spells values ([`ValueStyle::Sql`]: `TRUE`,
//! `1.0E7`, `12.50`, `2020-01-01 00:00:00.000`), with `NULL` for NULL, `(empty)` for the
//! empty string and `␣` for a space at either end of a string, and compared exactly, line by
//! line. Column types are checked too, one letter per column (see [`FlinkType`]).
//! `${SLT_DATA}` in a statement is replaced with the absolute path of `tests/slt/data`.

use std::path::{Path, PathBuf};

use millstream::connectors::sql::{default_registry, ValueFormatter, ValueStyle};
use millstream::core::runtime::JobConfig;
use millstream::core::sql::{SqlType, StatementResult, TableEnvironment};
use sqllogictest::{ColumnType, DBOutput, Record, Runner, DB};

/// The column type of a result, coarser than a SQL type but finer than sqllogictest's
/// default, so that `INT` vs `BIGINT` and `DOUBLE` vs `DECIMAL` differences show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FlinkType {
    /// `I`: `TINYINT`, `SMALLINT`, `INT`.
    Int,
    /// `L`: `BIGINT`.
    BigInt,
    /// `R`: `FLOAT`, `DOUBLE`.
    Float,
    /// `D`: `DECIMAL`.
    Decimal,
    /// `T`: `CHAR`, `VARCHAR`, `STRING`.
    Text,
    /// `B`: `BOOLEAN`.
    Bool,
    /// `P`: `TIMESTAMP`, `TIMESTAMP_LTZ`.
    Timestamp,
    /// `?`: anything else (`DATE`, intervals, the type of `NULL`).
    Other,
}

impl ColumnType for FlinkType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'I' => FlinkType::Int,
            'L' => FlinkType::BigInt,
            'R' => FlinkType::Float,
            'D' => FlinkType::Decimal,
            'T' => FlinkType::Text,
            'B' => FlinkType::Bool,
            'P' => FlinkType::Timestamp,
            _ => FlinkType::Other,
        })
    }

    fn to_char(&self) -> char {
        match self {
            FlinkType::Int => 'I',
            FlinkType::BigInt => 'L',
            FlinkType::Float => 'R',
            FlinkType::Decimal => 'D',
            FlinkType::Text => 'T',
            FlinkType::Bool => 'B',
            FlinkType::Timestamp => 'P',
            FlinkType::Other => '?',
        }
    }
}

impl From<SqlType> for FlinkType {
    fn from(t: SqlType) -> Self {
        match t {
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int => FlinkType::Int,
            SqlType::BigInt => FlinkType::BigInt,
            SqlType::Float | SqlType::Double => FlinkType::Float,
            SqlType::Decimal { .. } => FlinkType::Decimal,
            SqlType::Char(_) | SqlType::Varchar(_) => FlinkType::Text,
            SqlType::Boolean => FlinkType::Bool,
            SqlType::Timestamp(_) | SqlType::TimestampLtz(_) => FlinkType::Timestamp,
            _ => FlinkType::Other,
        }
    }
}

/// A Millstream SQL session as a sqllogictest database.
struct MillstreamDb {
    env: TableEnvironment,
    data_dir: String,
}

impl MillstreamDb {
    fn new(parallelism: usize) -> Self {
        let config = JobConfig {
            parallelism,
            ..JobConfig::default()
        };
        MillstreamDb {
            env: TableEnvironment::new(config, default_registry()),
            data_dir: slt_dir().join("data").display().to_string(),
        }
    }
}

impl DB for MillstreamDb {
    type Error = millstream::core::Error;
    type ColumnType = FlinkType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<FlinkType>, Self::Error> {
        let sql = sql.replace("${SLT_DATA}", &self.data_dir);
        let Some(StatementResult::Rows(result)) = self.env.execute_sql(&sql)?.pop() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let batch = result.final_rows()?;
        let types: Vec<SqlType> = result.columns.iter().map(|c| c.ty).collect();
        let formatters: Vec<ValueFormatter<'_>> = batch
            .columns()
            .iter()
            .zip(&types)
            .map(|(a, t)| ValueFormatter::new(a.as_ref(), ValueStyle::Sql).with_sql_type(t))
            .collect();
        let rows = (0..batch.num_rows())
            .map(|r| formatters.iter().map(|f| cell(f.value(r))).collect())
            .collect();
        Ok(DBOutput::Rows {
            types: types.into_iter().map(FlinkType::from).collect(),
            rows,
        })
    }

    fn engine_name(&self) -> &str {
        "millstream"
    }
}

/// A value as the `.slt` files spell it: `NULL`, `(empty)` for the empty string, and spaces
/// at either end of a string shown as `␣` (the files are compared line by line, exactly, and
/// trailing spaces would not survive editors).
fn cell(value: Option<String>) -> String {
    let Some(s) = value else {
        return "NULL".into();
    };
    if s.is_empty() {
        return "(empty)".into();
    }
    let body = s.trim_matches(' ');
    if body.len() == s.len() {
        return s;
    }
    let lead = s.len() - s.trim_start_matches(' ').len();
    let trail = s.len() - s.trim_end_matches(' ').len();
    if body.is_empty() {
        return "␣".repeat(s.len());
    }
    format!("{}{body}{}", "␣".repeat(lead), "␣".repeat(trail))
}

/// Rows match when each is, cells joined by one space, exactly its expected line.
fn exact_rows(_: sqllogictest::Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(row, line)| row.join(" ") == *line)
}

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("slt")
}

/// The failures of every record of `tests/slt/<name>` at each parallelism.
fn failures_of(name: &str) -> Vec<String> {
    let path = slt_dir().join(name);
    let mut failures = Vec::new();
    for parallelism in [1, 4] {
        let records = sqllogictest::parse_file::<FlinkType>(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut runner = Runner::new(move || async move { Ok(MillstreamDb::new(parallelism)) });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        runner.with_validator(exact_rows);
        for record in records {
            if matches!(record, Record::Halt { .. }) {
                break;
            }
            if let Err(e) = runner.run(record) {
                failures.push(format!("[parallelism {parallelism}] {}", e.display(false)));
            }
        }
    }
    failures
}

/// Runs the files; panics listing every failing record.
fn run_files(names: &[String]) {
    let mut report = Vec::new();
    let mut count = 0;
    for name in names {
        let failures = failures_of(name);
        if !failures.is_empty() {
            count += failures.len();
            report.push(format!(
                "{} failing record(s) in tests/slt/{name}:\n\n{}",
                failures.len(),
                failures.join("\n")
            ));
        }
    }
    assert!(count == 0, "{}", report.join("\n"));
}

macro_rules! slt_files {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run_files(&[$file.to_string()]);
            }
        )*

        /// The `.slt` files not listed (added since) run here, so that none is skipped.
        #[test]
        fn other_slt_files() {
            let listed = [$($file),*];
            let mut others: Vec<String> = std::fs::read_dir(slt_dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".slt") && !listed.contains(&n.as_str()))
                .collect();
            others.sort();
            run_files(&others);
        }
    };
}

slt_files! {
    errors => "errors.slt",
    changelog => "changelog.slt",
    relational => "relational.slt",
    scalar => "scalar.slt",
    strings => "strings.slt",
    time => "time.slt",
    windows => "windows.slt",
    session => "session.slt",
    subquery => "subquery.slt",
    join_updating => "join_updating.slt",
    topn_updating => "topn_updating.slt",
}
