//! Flink's `CREATE TABLE`, parsed from tokens with `sqlparser`'s building blocks:
//!
//! ```sql
//! CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name (
//!     col type [NOT NULL] [COMMENT '...'],          -- physical column
//!     col AS expr [COMMENT '...'],                   -- computed column
//!     WATERMARK FOR col AS col - INTERVAL '4' SECOND,
//!     [CONSTRAINT n] PRIMARY KEY (a, b) NOT ENFORCED
//! ) [COMMENT '...'] [PARTITIONED BY (a, b)] WITH ('connector' = '...', ...)
//! ```
//!
//! The result is a [`CreateTable`]: the connector-facing [`TableDef`] plus the computed
//! columns the planner evaluates after the source.

use std::collections::BTreeMap;

use sqlparser::ast::{self, Expr, Spanned};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token};

use crate::error::Result;
use crate::sql::connector::{TableDef, WatermarkDef};
use crate::sql::dialect::{check_nesting, parse_error, sql_error, StatementTokens};
use crate::sql::expr::interval_millis;
use crate::sql::types::{Column, SqlType};

/// A column of a table in declared order: physical (read by the connector) or computed.
#[derive(Debug, Clone)]
pub enum TableColumn {
    /// The physical column at this index of [`TableDef::columns`].
    Physical(usize),
    /// `name AS expr`.
    Computed {
        /// Column name.
        name: String,
        /// Its expression over the physical columns.
        expr: Box<Expr>,
    },
}

/// A parsed `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// What the connector sees.
    pub def: TableDef,
    /// All columns in declared order.
    pub layout: Vec<TableColumn>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Where the statement starts (for later errors about the table).
    pub location: Location,
}

/// Whether the statement is a `CREATE [TEMPORARY] TABLE`.
pub fn is_create_table(st: &StatementTokens) -> bool {
    st.is_word(0, "CREATE")
        && (st.is_word(1, "TABLE") || (st.is_word(1, "TEMPORARY") && st.is_word(2, "TABLE")))
}

/// Parse a `CREATE TABLE` statement.
///
/// # Errors
/// [`crate::Error::Sql`] with the place of the offending token.
pub fn parse_create_table(st: &StatementTokens) -> Result<CreateTable> {
    let mut p = st.parser();
    let fallback = st.start;
    let e = |err| parse_error(err, fallback);
    p.expect_keyword(Keyword::CREATE).map_err(e)?;
    let _ = p.parse_keyword(Keyword::TEMPORARY);
    p.expect_keyword(Keyword::TABLE).map_err(e)?;
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = object_name(&mut p).map_err(e)?;
    p.expect_token(&Token::LParen).map_err(e)?;

    let mut columns: Vec<Column> = Vec::new();
    let mut layout = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    loop {
        let here = p.peek_token().span.start;
        if is_word(&p.peek_token().token, "WATERMARK") {
            p.next_token();
            p.expect_keyword(Keyword::FOR).map_err(e)?;
            let col = p.parse_identifier().map_err(e)?;
            p.expect_keyword(Keyword::AS).map_err(e)?;
            let expr = p.parse_expr().map_err(e)?;
            check_nesting(&expr, here)?;
            watermark = Some((col, expr, here));
        } else if p.parse_keyword(Keyword::CONSTRAINT) || p.peek_keyword(Keyword::PRIMARY) {
            if !p.peek_keyword(Keyword::PRIMARY) {
                p.parse_identifier().map_err(e)?;
            }
            p.expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])
                .map_err(e)?;
            p.expect_token(&Token::LParen).map_err(e)?;
            primary_key = p
                .parse_comma_separated(|p| p.parse_identifier())
                .map_err(e)?
                .into_iter()
                .map(|i| i.value)
                .collect();
            p.expect_token(&Token::RParen).map_err(e)?;
            if !p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]) {
                return Err(sql_error(
                    here,
                    "Flink supports only PRIMARY KEY ... NOT ENFORCED",
                ));
            }
        } else {
            let col = p.parse_identifier().map_err(e)?;
            if p.parse_keyword(Keyword::AS) {
                let expr = p.parse_expr().map_err(e)?;
                check_nesting(&expr, here)?;
                layout.push(TableColumn::Computed {
                    name: col.value,
                    expr: Box::new(expr),
                });
            } else {
                let dt = p.parse_data_type().map_err(e)?;
                let ty = SqlType::from_ast(&dt).map_err(|err| sql_error(here, err.to_string()))?;
                let mut column = Column::new(col.value, ty);
                if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
                    column.nullable = false;
                } else {
                    let _ = p.parse_keyword(Keyword::NULL);
                }
                if p.parse_keyword(Keyword::METADATA) {
                    return Err(sql_error(here, "METADATA columns are not supported yet"));
                }
                if columns.iter().any(|c| c.name == column.name) {
                    return Err(sql_error(
                        here,
                        format!("duplicate column '{}'", column.name),
                    ));
                }
                layout.push(TableColumn::Physical(columns.len()));
                columns.push(column);
            }
            if p.parse_keyword(Keyword::COMMENT) {
                p.parse_literal_string().map_err(e)?;
            }
        }
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen).map_err(e)?;
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string().map_err(e)?;
    }
    let mut partitioned_by = Vec::new();
    if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        p.expect_token(&Token::LParen).map_err(e)?;
        partitioned_by = p
            .parse_comma_separated(|p| p.parse_identifier())
            .map_err(e)?
            .into_iter()
            .map(|i| i.value)
            .collect();
        p.expect_token(&Token::RParen).map_err(e)?;
    }
    let mut options = BTreeMap::new();
    if p.parse_keyword(Keyword::WITH) {
        p.expect_token(&Token::LParen).map_err(e)?;
        if !p.consume_token(&Token::RParen) {
            loop {
                let k = p.parse_literal_string().map_err(e)?;
                p.expect_token(&Token::Eq).map_err(e)?;
                let v = p.parse_literal_string().map_err(e)?;
                options.insert(k, v);
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.expect_token(&Token::RParen).map_err(e)?;
        }
    }
    let next = p.peek_token();
    if next.token != Token::EOF {
        return Err(sql_error(
            next.span.start,
            format!("unexpected '{}' after CREATE TABLE", next.token),
        ));
    }

    let all_names: Vec<&str> = layout
        .iter()
        .map(|c| match c {
            TableColumn::Physical(i) => columns[*i].name.as_str(),
            TableColumn::Computed { name, .. } => name.as_str(),
        })
        .collect();
    for key in primary_key.iter().chain(&partitioned_by) {
        if !all_names.contains(&key.as_str()) {
            return Err(sql_error(
                st.start,
                format!("column '{key}' of a PRIMARY KEY or PARTITIONED BY is not a column of the table"),
            ));
        }
    }
    for key in &primary_key {
        if let Some(c) = columns.iter_mut().find(|c| &c.name == key) {
            c.nullable = false;
        }
    }
    let watermark = match watermark {
        Some((col, expr, here)) => {
            let Some(c) = columns.iter_mut().find(|c| c.name == col.value) else {
                return Err(sql_error(
                    col.span.start,
                    format!(
                        "the rowtime attribute '{}' of the WATERMARK is not a physical column of the table",
                        col.value
                    ),
                ));
            };
            if !c.ty.is_timestamp() {
                return Err(sql_error(
                    col.span.start,
                    format!(
                        "the rowtime attribute '{}' must be TIMESTAMP or TIMESTAMP_LTZ, not {}",
                        col.value, c.ty
                    ),
                ));
            }
            c.rowtime = true;
            Some(WatermarkDef {
                column: col.value.clone(),
                delay_ms: watermark_delay(&col.value, &expr, here)?,
            })
        }
        None => None,
    };
    Ok(CreateTable {
        def: TableDef {
            name,
            columns,
            watermark,
            primary_key,
            partitioned_by,
            options,
        },
        layout,
        if_not_exists,
        location: st.start,
    })
}

/// The delay of a watermark expression: `col` (0) or `col - INTERVAL '...' unit`.
fn watermark_delay(col: &str, expr: &Expr, here: Location) -> Result<i64> {
    let is_col = |e: &Expr| matches!(e, Expr::Identifier(i) if i.value == col);
    match expr {
        e if is_col(e) => Ok(0),
        Expr::Nested(inner) => watermark_delay(col, inner, here),
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Minus,
            right,
        } if is_col(left) => interval_millis(right),
        other => Err(sql_error(
            other.span().start.max(here),
            format!(
                "unsupported watermark expression '{other}': use '{col}' or '{col} - INTERVAL ...'"
            ),
        )),
    }
}

/// Whether a token is the bare word `w`.
fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

/// A possibly qualified table name; only the last part is kept (one catalog, one database).
fn object_name(p: &mut Parser<'_>) -> std::result::Result<String, sqlparser::parser::ParserError> {
    let name = p.parse_object_name(false)?;
    Ok(name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::split_statements;

    fn parse(sql: &str) -> Result<CreateTable> {
        parse_create_table(&split_statements(sql)?[0])
    }

    #[test]
    fn nexmark_ddl_gives_columns_watermark_and_options() {
        let t = parse(
            "CREATE TABLE bid (\n auction BIGINT, price BIGINT NOT NULL, date_time TIMESTAMP(3),\n\
             p2 AS price * 2,\n WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND,\n\
             PRIMARY KEY (auction) NOT ENFORCED\n) WITH ('connector' = 'filesystem', 'path' = '/x')",
        )
        .unwrap();
        let d = &t.def;
        assert_eq!(d.name, "bid");
        assert_eq!(d.columns.len(), 3);
        assert_eq!(t.layout.len(), 4);
        assert!(!d.columns[1].nullable && !d.columns[0].nullable);
        assert!(d.columns[2].rowtime);
        assert_eq!(
            d.watermark,
            Some(WatermarkDef {
                column: "date_time".into(),
                delay_ms: 4000
            })
        );
        assert_eq!(d.option("path"), Some("/x"));
    }

    #[test]
    fn bad_ddl_names_the_place() {
        let err = parse("CREATE TABLE t (\n  a BIGINT,\n  WATERMARK FOR b AS b\n) WITH ()")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("'b'"), "{err}");
        let err = parse("CREATE TABLE t (a BIGINT, a INT)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate column 'a'"), "{err}");
        let err = parse("CREATE TABLE t (a FOO)").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
