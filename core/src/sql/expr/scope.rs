//! The columns an expression can name, and Flink's rules for resolving `x` and `q.x`.

use sqlparser::ast::Ident;

use super::sql_error;
use crate::error::{Error, Result};
use crate::sql::types::Column;

/// Columns an expression can reference: column `i` of the scope is column `i` of the batches
/// the expression is evaluated on.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The columns, in batch order.
    pub columns: Vec<Column>,
}

impl Scope {
    /// A scope over these columns.
    pub fn new(columns: Vec<Column>) -> Self {
        Scope { columns }
    }

    /// Resolve `x` or `q.x` (case-sensitive, like Flink) to a column index.
    ///
    /// Longer names (`catalog.db.t.x`) resolve by their last two parts.
    ///
    /// # Errors
    /// [`Error::Sql`] at the identifier's position, with Flink's wording:
    /// * `Column 'x' not found in any table`;
    /// * `Table 'q' not found` when no column has qualifier `q`;
    /// * `Column 'x' not found in table 'q'`;
    /// * `Column 'x' is ambiguous` when several columns match.
    ///
    /// # Example
    /// ```
    /// use millstream_core::sql::expr::Scope;
    /// use millstream_core::sql::{Column, SqlType};
    /// use sqlparser::ast::Ident;
    /// let scope = Scope::new(vec![Column::new("price", SqlType::BigInt)]);
    /// assert_eq!(scope.resolve(&[Ident::new("price")]).unwrap(), 0);
    /// assert!(scope.resolve(&[Ident::new("PRICE")]).is_err());
    /// ```
    pub fn resolve(&self, idents: &[Ident]) -> Result<usize> {
        let Some(name) = idents.last() else {
            return Err(Error::Internal("empty column name".into()));
        };
        let pick = |matches: &mut dyn Iterator<Item = usize>| {
            let first = matches.next();
            (first, matches.next().is_some())
        };
        if idents.len() == 1 {
            let mut it = self
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.name == name.value)
                .map(|(i, _)| i);
            return match pick(&mut it) {
                (Some(i), false) => Ok(i),
                (Some(_), true) => Err(sql_error(
                    name.span.start,
                    format!("Column '{}' is ambiguous", name.value),
                )),
                (None, _) => Err(sql_error(
                    name.span.start,
                    format!("Column '{}' not found in any table", name.value),
                )),
            };
        }
        let table = &idents[idents.len() - 2];
        let in_table = |c: &Column| c.qualifier.as_deref() == Some(table.value.as_str());
        if !self.columns.iter().any(in_table) {
            return Err(sql_error(
                table.span.start,
                format!("Table '{}' not found", table.value),
            ));
        }
        let mut it = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| in_table(c) && c.name == name.value)
            .map(|(i, _)| i);
        match pick(&mut it) {
            (Some(i), false) => Ok(i),
            (Some(_), true) => Err(sql_error(
                name.span.start,
                format!("Column '{}' is ambiguous", name.value),
            )),
            (None, _) => Err(sql_error(
                name.span.start,
                format!(
                    "Column '{}' not found in table '{}'",
                    name.value, table.value
                ),
            )),
        }
    }
}
