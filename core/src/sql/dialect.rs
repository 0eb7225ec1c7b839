//! Flink's SQL dialect on top of `sqlparser`, and the splitting of a script into statements.
//!
//! `sqlparser`'s generic dialect reads almost all of Flink's query syntax. What it lacks is
//! added here: the `TABLE t` argument of window table functions
//! (`TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)`) parses as a call
//! `__TABLE(t)`, and `FILTER (WHERE ...)` after an aggregate is enabled. Statements that are
//! Flink's own (`CREATE TABLE` with `WATERMARK`, `SET 'k' = 'v'`, `EXECUTE STATEMENT SET`,
//! `DESCRIBE`) are recognized from their first tokens and parsed in [`super::ddl`] and
//! [`super::statement`].
//!
//! Every error carries the 1-based line and column of the offending token in the whole
//! script.

use sqlparser::ast::{self, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments};
use sqlparser::dialect::{Dialect, GenericDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Result};

/// The name the parser gives the `TABLE t` argument of a table function.
pub const TABLE_ARG: &str = "__TABLE";

/// Flink's SQL dialect.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlinkDialect;

impl Dialect for FlinkDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect {}.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect {}.is_identifier_part(ch)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser<'_>) -> Option<Result<Expr, ParserError>> {
        // `TABLE name` as an argument of a table-valued function.
        if parser.peek_keyword(Keyword::TABLE) {
            if let Token::Word(_) = parser.peek_nth_token(1).token {
                parser.next_token();
                return Some(parser.parse_object_name(false).map(|name| {
                    let arg = Expr::CompoundIdentifier(
                        name.0
                            .iter()
                            .filter_map(|p| p.as_ident().cloned())
                            .collect(),
                    );
                    call(TABLE_ARG, vec![arg])
                }));
            }
        }
        None
    }
}

/// A function call expression `name(args)`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// One statement of a script: its tokens (without the final `;`) and where it starts.
#[derive(Debug, Clone)]
pub struct StatementTokens {
    /// The tokens, whitespace and comments removed, each with its place in the script.
    pub tokens: Vec<TokenWithSpan>,
    /// Where the statement starts.
    pub start: Location,
}

impl StatementTokens {
    /// The i-th token (or `EOF`).
    pub fn token(&self, i: usize) -> &Token {
        self.tokens.get(i).map_or(&Token::EOF, |t| &t.token)
    }

    /// Whether the i-th token is the keyword `kw` (as a bare word, case-insensitive).
    pub fn is_word(&self, i: usize, kw: &str) -> bool {
        matches!(self.token(i), Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }

    /// A parser over this statement's tokens.
    pub fn parser(&self) -> Parser<'static> {
        let mut tokens = self.tokens.clone();
        tokens.push(TokenWithSpan::wrap(Token::EOF));
        Parser::new(&FlinkDialect).with_tokens_with_locations(tokens)
    }

    /// A parser over the tokens from index `from` on.
    pub fn parser_from(&self, from: usize) -> Parser<'static> {
        let mut tokens = self.tokens[from.min(self.tokens.len())..].to_vec();
        tokens.push(TokenWithSpan::wrap(Token::EOF));
        Parser::new(&FlinkDialect).with_tokens_with_locations(tokens)
    }
}

/// Split a script into statements at top-level `;` (as Flink's SQL client does). A
/// `BEGIN STATEMENT SET; ... END;` or `EXECUTE STATEMENT SET BEGIN ... END;` block stays one
/// statement.
///
/// # Errors
/// The script cannot be tokenized (an unterminated string or comment), with its place.
pub fn split_statements(script: &str) -> Result<Vec<StatementTokens>> {
    let tokens = Tokenizer::new(&FlinkDialect, script)
        .tokenize_with_location()
        .map_err(|e| Error::Sql {
            line: e.location.line,
            column: e.location.column,
            message: e.message,
        })?;
    let mut out = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut in_set = false;
    for t in tokens {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::SemiColon => {
                let cur = StatementTokens {
                    start: current.first().map_or(t.span.start, |f| f.span.start),
                    tokens: std::mem::take(&mut current),
                };
                if cur.tokens.is_empty() {
                    continue;
                }
                // `BEGIN STATEMENT SET;` opens a block that `END;` closes.
                let opens = !in_set
                    && ((cur.is_word(0, "BEGIN") && cur.is_word(1, "STATEMENT"))
                        || (cur.is_word(0, "EXECUTE")
                            && cur.is_word(1, "STATEMENT")
                            && cur.is_word(3, "BEGIN")));
                if opens
                    && !cur.tokens.last().is_some_and(
                        |l| matches!(&l.token, Token::Word(w) if w.keyword == Keyword::END),
                    )
                {
                    in_set = true;
                    current = cur.tokens;
                    current.push(t);
                    continue;
                }
                if in_set {
                    let ends = matches!(cur.tokens.last(), Some(last) if matches!(&last.token, Token::Word(w) if w.keyword == Keyword::END));
                    current = cur.tokens;
                    if !ends {
                        current.push(t);
                        continue;
                    }
                    in_set = false;
                    out.push(StatementTokens {
                        start: current.first().map_or(t.span.start, |f| f.span.start),
                        tokens: std::mem::take(&mut current),
                    });
                    continue;
                }
                out.push(cur);
            }
            _ => current.push(t),
        }
    }
    if !current.is_empty() {
        out.push(StatementTokens {
            start: current[0].span.start,
            tokens: current,
        });
    }
    Ok(out)
}

/// A parser error as [`Error::Sql`], with the place `sqlparser` reports (`... at Line: 3,
/// Column: 7`) or, failing that, `fallback`.
pub fn parse_error(e: ParserError, fallback: Location) -> Error {
    let text = match e {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s,
        ParserError::RecursionLimitExceeded => "the statement nests too deeply".to_string(),
    };
    let (message, line, column) = match text.rfind(" at Line: ") {
        Some(i) => {
            let place = &text[i + " at Line: ".len()..];
            let mut parts = place.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            match (line, column) {
                (Some(l), Some(c)) => (text[..i].to_string(), l, c),
                _ => (text.clone(), fallback.line, fallback.column),
            }
        }
        None => (text, fallback.line, fallback.column),
    };
    Error::Sql {
        line,
        column,
        message: message.replace("sql parser error: ", ""),
    }
}

/// An [`Error::Sql`] at `loc`.
pub fn sql_error(loc: Location, message: impl Into<String>) -> Error {
    Error::Sql {
        line: loc.line,
        column: loc.column,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_at_top_level_semicolons_and_keep_statement_sets_whole() {
        let script = "CREATE TABLE a (x INT) WITH ('connector' = 'x;y');\n\
             -- a comment; with a semicolon\n\
             SELECT 1;\n\
             EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO a SELECT 2; END;\n\
             SELECT 2";
        let parts = split_statements(script).unwrap();
        assert_eq!(parts.len(), 4);
        assert!(parts[0].is_word(0, "create"));
        assert_eq!(parts[1].start.line, 3);
        assert!(parts[2].is_word(0, "EXECUTE"));
        assert_eq!(
            parts[2]
                .tokens
                .iter()
                .filter(|t| t.token == Token::SemiColon)
                .count(),
            2
        );
        assert_eq!(parts[3].start.line, 5);
    }

    #[test]
    fn window_table_functions_parse_with_a_table_argument() {
        let sql =
            "SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))";
        let stmts = Parser::parse_sql(&FlinkDialect, sql).unwrap();
        assert!(stmts[0].to_string().contains("__TABLE(bid)"));
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let parts = split_statements("\n  SELECT FROM WHERE;").unwrap();
        let err = parts[0].parser().parse_statement().unwrap_err();
        let Error::Sql { line, column, .. } = parse_error(err, parts[0].start) else {
            panic!("not a SQL error")
        };
        assert_eq!(line, 2);
        assert!(column > 3, "column {column}");
    }
}
