//! Query results as text: Flink's SQL client tables ("tableau" style) and CSV.
//!
//! Values are spelled by [`ValueFormatter`] (from `millstream-connectors`, shared with the
//! `print` connector): [`ValueStyle::Sql`] in tables, [`ValueStyle::Csv`] in CSV. This module
//! only lays them out.
//!
//! ```text
//!  +----+-------+-----+      --changelog: an `op` column, every change,
//!  | op |  name | cnt |      "Received a total of N rows"
//!  +----+-------+-----+
//!  | +I |   Bob |   1 |      default: the changelog applied (final rows),
//!  | -U |   Bob |   1 |      no `op` column, "N rows in set" / "Empty set"
//!  | +U |   Bob |   2 |
//!  +----+-------+-----+
//!  Received a total of 3 rows
//! ```
//!
//! Differences from Flink's client: column widths come from the values (Flink's streaming
//! mode sizes columns by type, as it prints rows while they arrive; here the job has ended
//! when the table is drawn); East Asian wide characters count as two columns, other
//! characters as one.

use std::borrow::Cow;

use anyhow::Result;
use arrow::array::RecordBatch;
use millstream::connectors::sql::{ValueFormatter, ValueStyle};
use millstream::core::sql::{ChangeBatch, QueryResult, RowKind, SqlType};

/// How `Rows` results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// Flink's SQL client table, values right-aligned.
    Table,
    /// Comma-separated values without header, minimal quoting, NULL as an empty field.
    Csv,
}

/// The knobs of result rendering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RenderOptions {
    pub(crate) format: OutputFormat,
    /// Print every change with its kind instead of the final rows.
    pub(crate) changelog: bool,
    /// Longest a table cell may be before it is cut with `...`
    /// (Flink's `sql-client.display.max-column-width`, default 30).
    pub(crate) max_column_width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            format: OutputFormat::Table,
            changelog: false,
            max_column_width: DEFAULT_MAX_COLUMN_WIDTH,
        }
    }
}

/// Flink's default `sql-client.display.max-column-width`.
pub(crate) const DEFAULT_MAX_COLUMN_WIDTH: usize = 30;

/// What the SQL client prints in tables for NULL.
const NULL_IN_TABLE: &str = "<NULL>";

/// `result` as text, per `opts` (ends with a newline unless empty).
pub(crate) fn render(result: &QueryResult, opts: &RenderOptions) -> Result<String> {
    let style = match opts.format {
        OutputFormat::Table => ValueStyle::Sql,
        OutputFormat::Csv => ValueStyle::Csv,
    };
    let types: Vec<SqlType> = result.columns.iter().map(|c| c.ty).collect();
    // Each row: its kind and its cells (None for NULL).
    let mut rows: Vec<(RowKind, Vec<Option<String>>)> = Vec::new();
    if opts.changelog {
        for change in &result.changes {
            let cells = cells(&change.rows, &types, style);
            rows.extend(
                cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| (change.kind(i), c)),
            );
        }
    } else {
        let batch = result.final_rows()?;
        rows.extend(
            cells(&batch, &types, style)
                .into_iter()
                .map(|c| (RowKind::Insert, c)),
        );
    }
    Ok(match opts.format {
        OutputFormat::Csv => {
            let mut out = String::new();
            for (kind, cells) in &rows {
                let mut fields: Vec<Cow<'_, str>> = Vec::with_capacity(cells.len() + 1);
                if opts.changelog {
                    fields.push(Cow::Borrowed(kind.short()));
                }
                fields.extend(cells.iter().map(|c| csv_field(c.as_deref().unwrap_or(""))));
                out.push_str(&fields.join(","));
                out.push('\n');
            }
            out
        }
        OutputFormat::Table => {
            let mut header: Vec<String> = Vec::new();
            if opts.changelog {
                header.push("op".into());
            }
            header.extend(result.columns.iter().map(|c| c.name.clone()));
            let body: Vec<Vec<String>> = rows
                .into_iter()
                .map(|(kind, cells)| {
                    let mut r = Vec::with_capacity(cells.len() + 1);
                    if opts.changelog {
                        r.push(kind.short().to_string());
                    }
                    r.extend(
                        cells
                            .into_iter()
                            .map(|c| c.unwrap_or_else(|| NULL_IN_TABLE.to_string())),
                    );
                    r
                })
                .collect();
            let n = body.len();
            if opts.changelog {
                let mut t = table(&header, &body, opts.max_column_width);
                t.push_str(&format!(
                    "Received a total of {n} {}\n",
                    if n > 1 { "rows" } else { "row" }
                ));
                t
            } else if n == 0 {
                "Empty set\n".to_string()
            } else {
                let mut t = table(&header, &body, opts.max_column_width);
                t.push_str(&format!("{n} row{} in set\n", if n > 1 { "s" } else { "" }));
                t
            }
        }
    })
}

/// The cells of every row of `batch`, typed by `types` (for timestamp precision).
fn cells(batch: &RecordBatch, types: &[SqlType], style: ValueStyle) -> Vec<Vec<Option<String>>> {
    let formatters: Vec<ValueFormatter<'_>> = batch
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = ValueFormatter::new(c.as_ref(), style);
            match types.get(i) {
                Some(t) => f.with_sql_type(t),
                None => f,
            }
        })
        .collect();
    (0..batch.num_rows())
        .map(|r| formatters.iter().map(|f| f.value(r)).collect())
        .collect()
}

/// A CSV field, quoted when it holds the delimiter, a quote or a line break (quotes
/// doubled), as Flink's csv format and Python's `csv` module write it.
pub(crate) fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Columns a character takes in a terminal: two for East Asian wide characters (as Flink's
/// `getStringDisplayWidth`), one otherwise.
fn char_width(c: char) -> usize {
    let wide = matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF | 0x20000..=0x2FFFD | 0x30000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// The longest prefix of `s` at most `width` columns wide.
fn truncate(s: &str, width: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += char_width(c);
        if used > width {
            return &s[..i];
        }
    }
    s
}

/// A tableau: borders, the header, the rows, values right-aligned, cells wider than
/// `max_width` cut and ended with `...` (Flink's `TableauStyle`).
pub(crate) fn table(header: &[String], rows: &[Vec<String>], max_width: usize) -> String {
    let max_width = max_width.max(4);
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(display_width(cell));
        }
    }
    for w in &mut widths {
        *w = (*w).min(max_width);
    }
    let mut out = border(&widths);
    out.push_str(&line(&widths, header));
    out.push_str(&border(&widths));
    for r in rows {
        out.push_str(&line(&widths, r));
    }
    out.push_str(&border(&widths));
    out
}

/// A tableau border for columns of `widths`.
pub(crate) fn border(widths: &[usize]) -> String {
    let mut b = String::from("+");
    for w in widths {
        b.push_str(&"-".repeat(w + 2));
        b.push('+');
    }
    b.push('\n');
    b
}

/// One tableau line: `cells` right-aligned in `widths`, cut with `...` when wider.
pub(crate) fn line(widths: &[usize], cells: &[String]) -> String {
    let mut out = String::from("|");
    for (w, cell) in widths.iter().zip(cells) {
        out.push(' ');
        let dw = display_width(cell);
        if dw <= *w {
            out.push_str(&" ".repeat(w - dw));
            out.push_str(cell);
        } else {
            let cut = truncate(cell, w.saturating_sub(3));
            out.push_str(&" ".repeat(w.saturating_sub(3 + display_width(cut))));
            out.push_str(cut);
            out.push_str("...");
        }
        out.push_str(" |");
    }
    out.push('\n');
    out
}

/// Column widths for rows printed while they arrive, before their values are known: as
/// wide as the name or the widest value of the type (Flink's streaming tableau), at most
/// `max_width`.
pub(crate) fn type_widths(header: &[String], types: &[Option<SqlType>], max: usize) -> Vec<usize> {
    let max = max.max(4);
    header
        .iter()
        .zip(types)
        .map(|(name, t)| {
            let value = match t {
                None => 2,
                Some(SqlType::Boolean) => 6,
                Some(SqlType::TinyInt) => 4,
                Some(SqlType::SmallInt) => 6,
                Some(SqlType::Int) => 11,
                Some(SqlType::BigInt) => 20,
                Some(SqlType::Date) => 10,
                Some(SqlType::Timestamp(p) | SqlType::TimestampLtz(p)) => 20 + *p as usize,
                Some(SqlType::Decimal { precision, .. }) => *precision as usize + 2,
                Some(_) => max,
            };
            display_width(name).max(value).min(max)
        })
        .collect()
}

/// The rows of `changes` as tableau lines in `widths`, each with its kind first.
pub(crate) fn changelog_lines(
    changes: &[ChangeBatch],
    types: &[SqlType],
    widths: &[usize],
) -> String {
    let mut out = String::new();
    for change in changes {
        for (i, cells) in cells(&change.rows, types, ValueStyle::Sql)
            .into_iter()
            .enumerate()
        {
            let mut r = Vec::with_capacity(cells.len() + 1);
            r.push(change.kind(i).short().to_string());
            r.extend(
                cells
                    .into_iter()
                    .map(|c| c.unwrap_or_else(|| NULL_IN_TABLE.to_string())),
            );
            out.push_str(&line(widths, &r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Decimal128Array, Float64Array, Int64Array, Int8Array, StringArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::Schema;
    use millstream::core::sql::{ChangeBatch, Column};

    use super::*;

    fn result() -> QueryResult {
        let columns = vec![
            Column::new("name", SqlType::STRING),
            Column::new("cnt", SqlType::BigInt),
            Column::new(
                "price",
                SqlType::Decimal {
                    precision: 10,
                    scale: 2,
                },
            ),
            Column::new("avg", SqlType::Double),
            Column::new("ts", SqlType::Timestamp(3)),
        ];
        let schema = Arc::new(Schema::new(
            columns.iter().map(|c| c.field(&c.name)).collect::<Vec<_>>(),
        ));
        let batch = |names: Vec<Option<&str>>, cnt: Vec<i64>| {
            let n = cnt.len();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(names)),
                Arc::new(Int64Array::from(cnt)),
                Arc::new(
                    Decimal128Array::from(vec![Some(1250); n])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                Arc::new(Float64Array::from(vec![Some(9.08e7); n])),
                Arc::new(TimestampMillisecondArray::from(vec![1_577_836_800_000; n])),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        QueryResult {
            columns,
            changes: vec![
                ChangeBatch {
                    kinds: None,
                    rows: batch(vec![Some("Bob"), Some("a, \"b\"")], vec![1, 1]),
                },
                ChangeBatch {
                    kinds: Some(Int8Array::from(vec![1, 2, 0])),
                    rows: batch(vec![Some("Bob"), Some("Bob"), None], vec![1, 2, 3]),
                },
            ],
            job: None,
            live: false,
        }
    }

    #[test]
    fn final_rows_render_as_a_flink_table() {
        let text = render(&result(), &RenderOptions::default()).unwrap();
        assert_eq!(
            text,
            "\
+--------+-----+-------+--------+-------------------------+
|   name | cnt | price |    avg |                      ts |
+--------+-----+-------+--------+-------------------------+
| a, \"b\" |   1 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |
|    Bob |   2 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |
| <NULL> |   3 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |
+--------+-----+-------+--------+-------------------------+
3 rows in set
"
        );
    }

    #[test]
    fn the_changelog_renders_with_an_op_column() {
        let opts = RenderOptions {
            changelog: true,
            ..RenderOptions::default()
        };
        let text = render(&result(), &opts).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "| op |   name | cnt | price |    avg |                      ts |"
        );
        assert_eq!(
            lines[3],
            "| +I |    Bob |   1 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |"
        );
        assert_eq!(
            lines[5],
            "| -U |    Bob |   1 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |"
        );
        assert_eq!(
            lines[6],
            "| +U |    Bob |   2 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |"
        );
        assert_eq!(
            lines[7],
            "| +I | <NULL> |   3 | 12.50 | 9.08E7 | 2020-01-01 00:00:00.000 |"
        );
        assert_eq!(lines.last(), Some(&"Received a total of 5 rows"));
    }

    #[test]
    fn csv_has_no_header_quotes_minimally_and_leaves_nulls_empty() {
        let csv = RenderOptions {
            format: OutputFormat::Csv,
            ..RenderOptions::default()
        };
        assert_eq!(
            render(&result(), &csv).unwrap(),
            "\"a, \"\"b\"\"\",1,12.50,9.08E7,2020-01-01 00:00:00.000\n\
             Bob,2,12.50,9.08E7,2020-01-01 00:00:00.000\n\
             ,3,12.50,9.08E7,2020-01-01 00:00:00.000\n"
        );
        let changelog = RenderOptions {
            changelog: true,
            ..csv
        };
        let text = render(&result(), &changelog).unwrap();
        let kinds: Vec<&str> = text.lines().map(|l| &l[..2]).collect();
        assert_eq!(kinds, ["+I", "+I", "-U", "+U", "+I"]);
    }

    #[test]
    fn empty_results_long_cells_and_wide_characters() {
        let mut r = result();
        r.changes.clear();
        assert_eq!(
            render(&r, &RenderOptions::default()).unwrap(),
            "Empty set\n"
        );
        let opts = RenderOptions {
            changelog: true,
            ..RenderOptions::default()
        };
        assert!(render(&r, &opts)
            .unwrap()
            .ends_with("Received a total of 0 row\n"));
        let t = table(
            &["s".into()],
            &[vec!["abcdefghijklmnop".into()], vec!["日本".into()]],
            10,
        );
        assert_eq!(
            t,
            "+------------+\n|          s |\n+------------+\n| abcdefg... |\n|       日本 |\n+------------+\n"
        );
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    }
}
