//! The statements a script may hold, recognized from their tokens: Flink's own forms (`SET`,
//! `RESET`, `DESCRIBE`, `SHOW TABLES`, `EXECUTE STATEMENT SET`, `CREATE TABLE`) by hand, the
//! standard ones (`SELECT`, `INSERT`, `CREATE VIEW`, `DROP`) by `sqlparser`.

use sqlparser::ast;
use sqlparser::tokenizer::{Location, Token};

use crate::error::Result;
use crate::sql::ddl::{is_create_table, parse_create_table, CreateTable};
use crate::sql::dialect::{
    check_nesting, check_token_nesting, parse_error, split_statements, sql_error, StatementTokens,
};

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE TABLE`.
    CreateTable(Box<CreateTable>),
    /// `CREATE [TEMPORARY] VIEW name [(cols)] AS query`.
    CreateView {
        /// View name.
        name: String,
        /// Column names given after the name.
        columns: Vec<String>,
        /// The query.
        query: Box<ast::Query>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `OR REPLACE`.
        or_replace: bool,
    },
    /// `INSERT INTO table [(cols)] query`.
    Insert {
        /// Target table.
        table: String,
        /// Target columns, if listed.
        columns: Vec<String>,
        /// The query.
        query: Box<ast::Query>,
        /// Where the statement starts.
        location: Location,
    },
    /// A query.
    Query(Box<ast::Query>),
    /// `EXECUTE STATEMENT SET BEGIN insert; ... END` (or `BEGIN STATEMENT SET; ... END`).
    StatementSet(Vec<Statement>),
    /// `SET` (list) or `SET 'key' = 'value'`.
    Set(Option<(String, String)>),
    /// `RESET` (all) or `RESET 'key'`.
    Reset(Option<String>),
    /// `SHOW TABLES` (and views).
    ShowTables,
    /// `SHOW VIEWS`.
    ShowViews,
    /// `DESCRIBE name` / `DESC name`.
    Describe(String, Location),
    /// `EXPLAIN [PLAN FOR] statement`.
    Explain(Box<Statement>),
    /// `DROP TABLE|VIEW [IF EXISTS] name`.
    Drop {
        /// Name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
        /// Whether `DROP VIEW` (else `DROP TABLE`).
        view: bool,
    },
}

/// Parse every statement of a script.
///
/// # Errors
/// [`crate::Error::Sql`] naming the line and column of the first bad statement.
pub fn parse_script(script: &str) -> Result<Vec<Statement>> {
    split_statements(script)?
        .iter()
        .map(parse_statement)
        .collect()
}

/// Parse one statement.
///
/// # Errors
/// [`crate::Error::Sql`] with the place of the offending token.
pub fn parse_statement(st: &StatementTokens) -> Result<Statement> {
    let start = st.start;
    let word = |i: usize| -> Option<String> {
        match st.token(i) {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
            _ => None,
        }
    };
    let string_at = |i: usize| -> Option<String> {
        match st.token(i) {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s.clone()),
            Token::Word(w) => Some(w.value.clone()),
            _ => None,
        }
    };
    check_token_nesting(st)?;
    let first = word(0).unwrap_or_default();
    match first.as_str() {
        "CREATE" if is_create_table(st) => {
            return Ok(Statement::CreateTable(Box::new(parse_create_table(st)?)))
        }
        "SET" => {
            if st.tokens.len() == 1 {
                return Ok(Statement::Set(None));
            }
            // `SET 'key' = 'value'`, or a dotted bare key `SET parallelism.default = 4`.
            let eq = st.tokens.iter().position(|t| t.token == Token::Eq);
            let (Some(eq), Some(key)) = (eq, string_at(1)) else {
                return Err(sql_error(start, "expected SET 'key' = 'value'"));
            };
            let key = if eq > 2 {
                st.tokens[1..eq]
                    .iter()
                    .map(|t| t.token.to_string())
                    .collect()
            } else {
                key
            };
            let value: String = st.tokens[eq + 1..]
                .iter()
                .map(|t| match &t.token {
                    Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if value.is_empty() {
                return Err(sql_error(start, "expected a value after '=' in SET"));
            }
            return Ok(Statement::Set(Some((key, value))));
        }
        "RESET" => return Ok(Statement::Reset(string_at(1))),
        "SHOW" => match word(1).as_deref() {
            Some("TABLES") => return Ok(Statement::ShowTables),
            Some("VIEWS") => return Ok(Statement::ShowViews),
            _ => {
                return Err(sql_error(
                    start,
                    "only SHOW TABLES and SHOW VIEWS are supported",
                ))
            }
        },
        "DESCRIBE" | "DESC" => {
            let Some(name) = st.tokens.last().and_then(|t| match &t.token {
                Token::Word(w) => Some(w.value.clone()),
                _ => None,
            }) else {
                return Err(sql_error(start, "expected DESCRIBE table_name"));
            };
            return Ok(Statement::Describe(name, start));
        }
        "EXPLAIN" => {
            let mut from = 1;
            while matches!(word(from).as_deref(), Some("PLAN" | "FOR")) {
                from += 1;
            }
            if word(from).as_deref() == Some("EXPLAIN") {
                return Err(sql_error(start, "EXPLAIN of an EXPLAIN is not supported"));
            }
            let rest = StatementTokens {
                tokens: st.tokens[from.min(st.tokens.len())..].to_vec(),
                start: st.tokens.get(from).map_or(start, |t| t.span.start),
            };
            return Ok(Statement::Explain(Box::new(parse_statement(&rest)?)));
        }
        "EXECUTE" | "BEGIN" if word(1).as_deref() == Some("STATEMENT") => {
            return parse_statement_set(st);
        }
        _ => {}
    }
    let mut parser = st.parser();
    let stmt = parser
        .parse_statement()
        .map_err(|e| parse_error(e, start))?;
    check_nesting(&stmt, start)?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(sql_error(
            next.span.start,
            format!("unexpected '{}' after the statement", next.token),
        ));
    }
    from_ast(stmt, start)
}

/// The inserts of a statement set.
fn parse_statement_set(st: &StatementTokens) -> Result<Statement> {
    let begin = st
        .tokens
        .iter()
        .position(|t| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("BEGIN")))
        .unwrap_or(0);
    // Skip `BEGIN` (and `STATEMENT SET ;` in the `BEGIN STATEMENT SET;` form).
    let mut from = begin + 1;
    while matches!(st.token(from), Token::Word(w) if w.value.eq_ignore_ascii_case("STATEMENT") || w.value.eq_ignore_ascii_case("SET"))
        || st.token(from) == &Token::SemiColon
    {
        from += 1;
    }
    let end = st
        .tokens
        .iter()
        .rposition(|t| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("END")))
        .unwrap_or(st.tokens.len());
    let mut inner = String::new();
    for t in &st.tokens[from..end.max(from)] {
        inner.push_str(&t.token.to_string());
        inner.push(' ');
    }
    // Re-split the body; positions inside are re-based on the first inner token.
    let base = st.tokens.get(from).map_or(st.start, |t| t.span.start);
    let mut out = Vec::new();
    for part in split_statements(&inner)? {
        let part = StatementTokens {
            tokens: part.tokens,
            start: base,
        };
        // Checked before parsing: a statement set nested in one would recurse per level.
        if !part.is_word(0, "INSERT") {
            return Err(sql_error(
                base,
                "a statement set may hold only INSERT statements",
            ));
        }
        match parse_statement(&part) {
            Ok(s @ Statement::Insert { .. }) => out.push(s),
            Ok(_) => {
                return Err(sql_error(
                    base,
                    "a statement set may hold only INSERT statements",
                ))
            }
            Err(crate::Error::Sql { message, .. }) => {
                return Err(sql_error(base, message));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Statement::StatementSet(out))
}

fn last_name(name: &ast::ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

fn from_ast(stmt: ast::Statement, start: Location) -> Result<Statement> {
    Ok(match stmt {
        ast::Statement::Query(q) => Statement::Query(q),
        ast::Statement::Insert(ins) => {
            let ast::TableObject::TableName(name) = &ins.table else {
                return Err(sql_error(
                    start,
                    "INSERT INTO a table function is not supported",
                ));
            };
            let Some(query) = ins.source else {
                return Err(sql_error(start, "INSERT needs a query"));
            };
            Statement::Insert {
                table: last_name(name),
                columns: ins.columns.iter().map(|c| c.value.clone()).collect(),
                query,
                location: start,
            }
        }
        ast::Statement::CreateView {
            name,
            columns,
            query,
            or_replace,
            if_not_exists,
            ..
        } => Statement::CreateView {
            name: last_name(&name),
            columns: columns.iter().map(|c| c.name.value.clone()).collect(),
            query,
            if_not_exists,
            or_replace,
        },
        ast::Statement::Drop {
            object_type,
            if_exists,
            names,
            ..
        } => {
            let view = match object_type {
                ast::ObjectType::Table => false,
                ast::ObjectType::View => true,
                other => return Err(sql_error(start, format!("DROP {other} is not supported"))),
            };
            let Some(name) = names.first() else {
                return Err(sql_error(start, "DROP needs a name"));
            };
            Statement::Drop {
                name: last_name(name),
                if_exists,
                view,
            }
        }
        ast::Statement::ShowTables { .. } => Statement::ShowTables,
        ast::Statement::ExplainTable { table_name, .. } => {
            Statement::Describe(last_name(&table_name), start)
        }
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(sql_error(
                start,
                format!("unsupported statement '{head} ...'"),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_statements_parse() {
        let script =
            "SET 'parallelism.default' = '4';\nSET;\nRESET;\nSHOW TABLES;\nDESCRIBE bid;\n\
             EXPLAIN SELECT 1;\nCREATE TEMPORARY VIEW v AS SELECT 1 AS x;\n\
             INSERT INTO t SELECT * FROM v;\n\
             EXECUTE STATEMENT SET BEGIN INSERT INTO t SELECT 1; INSERT INTO u SELECT 2; END;\n\
             DROP TABLE IF EXISTS t;";
        let s = parse_script(script).unwrap();
        assert!(
            matches!(&s[0], Statement::Set(Some((k, v))) if k == "parallelism.default" && v == "4")
        );
        assert!(matches!(s[1], Statement::Set(None)));
        assert!(matches!(s[2], Statement::Reset(None)));
        assert!(matches!(s[3], Statement::ShowTables));
        assert!(matches!(&s[4], Statement::Describe(n, _) if n == "bid"));
        assert!(matches!(&s[5], Statement::Explain(q) if matches!(**q, Statement::Query(_))));
        assert!(matches!(&s[6], Statement::CreateView { name, .. } if name == "v"));
        assert!(matches!(&s[7], Statement::Insert { table, .. } if table == "t"));
        assert!(matches!(&s[8], Statement::StatementSet(v) if v.len() == 2));
        assert!(matches!(
            &s[9],
            Statement::Drop {
                if_exists: true,
                view: false,
                ..
            }
        ));
    }

    #[test]
    fn unknown_statements_name_their_line() {
        let err = parse_script("SELECT 1;\n\nGRANT ALL ON t TO u;")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn nested_explain_and_statement_sets_are_errors() {
        // Each once overflowed the stack (found with the fuzz harness, fuzz/).
        let explain = format!("{}SELECT a FROM t", "EXPLAIN ".repeat(20_000));
        let err = parse_script(&explain).unwrap_err().to_string();
        assert!(err.contains("EXPLAIN of an EXPLAIN"), "{err}");
        for (open, close) in [
            ("EXECUTE STATEMENT SET BEGIN ", " END;"),
            ("BEGIN STATEMENT SET; ", " END;"),
        ] {
            let nested = format!(
                "{}INSERT INTO t SELECT 1;{}",
                open.repeat(3000),
                close.repeat(3000)
            );
            let err = parse_script(&nested).unwrap_err().to_string();
            assert!(err.contains("only INSERT"), "{err}");
        }
    }
}
