//! Flink's SQL dialect on top of `sqlparser`, and the splitting of a script into statements.
//!
//! `sqlparser`'s generic dialect reads almost all of Flink's query syntax. What it lacks is
//! added here: the `TABLE t` argument of window table functions
//! (`TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)`) parses as a call
//! `__TABLE(t)` (with `PARTITION BY k` or `PARTITION BY (k1, k2)` after it, as `SESSION`
//! takes: `__TABLE(t, __PARTITION_BY(k1, k2))`), and `FILTER (WHERE ...)` after an
//! aggregate is enabled. Statements that are
//! Flink's own (`CREATE TABLE` with `WATERMARK`, `SET 'k' = 'v'`, `EXECUTE STATEMENT SET`,
//! `DESCRIBE`) are recognized from their first tokens and parsed in [`super::ddl`] and
//! [`super::statement`].
//!
//! Every error carries the 1-based line and column of the offending token in the whole
//! script.
//!
//! Statements are parsed under limits ([`StatementTokens::parser`], [`check_nesting`]), so
//! that no input can make the parser or the planner run for minutes or overflow the stack:
//! a statement nesting more than [`MAX_NESTING`] levels is an error.

use sqlparser::ast::{self, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments};
use sqlparser::dialect::{Dialect, GenericDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};
use std::cell::Cell;
use std::ops::ControlFlow;

use crate::error::{Error, Result};

/// The name the parser gives the `TABLE t` argument of a table function.
pub const TABLE_ARG: &str = "__TABLE";

/// The name the parser gives the `PARTITION BY k` / `PARTITION BY (k1, k2)` of a `TABLE t`
/// argument: `__TABLE(t, __PARTITION_BY(k1, k2))`.
pub const PARTITION_ARG: &str = "__PARTITION_BY";

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

    /// `JOIN t FOR SYSTEM_TIME AS OF b.p_time`: Flink's lookup (temporal) join.
    fn supports_timestamp_versioning(&self) -> bool {
        true
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser<'_>) -> Option<Result<Expr, ParserError>> {
        // `TABLE name` as an argument of a table-valued function.
        if parser.peek_keyword(Keyword::TABLE) {
            if let Token::Word(_) = parser.peek_nth_token(1).token {
                parser.next_token();
                return Some(parser.parse_object_name(false).and_then(|name| {
                    let arg = Expr::CompoundIdentifier(
                        name.0
                            .iter()
                            .filter_map(|p| p.as_ident().cloned())
                            .collect(),
                    );
                    let mut args = vec![arg];
                    if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
                        // Flink takes column names only: one bare, or a list in parentheses.
                        let keys = if parser.consume_token(&Token::LParen) {
                            let keys = parser.parse_comma_separated(|p| p.parse_identifier())?;
                            parser.expect_token(&Token::RParen)?;
                            keys
                        } else {
                            vec![parser.parse_identifier()?]
                        };
                        args.push(call(
                            PARTITION_ARG,
                            keys.into_iter().map(Expr::Identifier).collect(),
                        ));
                    }
                    Ok(call(TABLE_ARG, args))
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

    /// A parser over this statement's tokens, with the limits of [`BoundedDialect`].
    pub fn parser(&self) -> Parser<'static> {
        self.parser_from(0)
    }

    /// A parser over the tokens from index `from` on.
    pub fn parser_from(&self, from: usize) -> Parser<'static> {
        let mut tokens = self.tokens[from.min(self.tokens.len())..].to_vec();
        PREFIXES_LEFT.set(tokens.len().saturating_mul(PREFIXES_PER_TOKEN) + 1024);
        tokens.push(TokenWithSpan::wrap(Token::EOF));
        Parser::new(&BoundedDialect).with_tokens_with_locations(tokens)
    }
}

/// Deepest nesting of expressions, queries and table factors in one statement (each
/// operator of a chain `a OR b OR c ...` is a level). `sqlparser`'s recursion limit, also
/// 50, counts nested parentheses and prefixes but not chains, which parse in a loop into a
/// tree as deep as they are long; the planner recurses on that tree in frames of tens of
/// kilobytes in a debug build. At this depth planning fits in a 2 MiB thread (a spawned
/// thread's and the test harness's default) in a debug build; deeper is an error, not a
/// stack overflow.
pub const MAX_NESTING: usize = 50;

/// Expression prefixes a parser may read per token of its statement; see [`BoundedDialect`].
/// The test and golden queries read under half a prefix per token.
const PREFIXES_PER_TOKEN: usize = 8;

thread_local! {
    /// Expression prefixes the statement being parsed on this thread may still read.
    static PREFIXES_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// [`FlinkDialect`] with limits, for parsing statements (keep the two in step).
///
/// - `sqlparser` 0.59 parses a word such as `CAST`, `INTERVAL` or `NOT` as its special form
///   and, if that fails, again as an identifier or a function call, so a syntax error under
///   n such words nested costs 2^n parses (`CAST(CAST(CAST(... a +`: 20 levels take over a
///   minute; fixed upstream by apache/datafusion-sqlparser-rs#2352, after 0.59). Each parser
///   may read a number of expression prefixes linear in its tokens; past that every prefix
///   fails at once and the backtracking unwinds in linear time.
/// - An operator chain deeper than [`MAX_NESTING`] is refused as it grows, so the parser
///   never builds a tree that dropping or visiting would overflow the stack on.
///
/// Both errors are [`ParserError::RecursionLimitExceeded`], which `sqlparser` never backtracks
/// over: "the statement nests too deeply".
#[derive(Debug)]
struct BoundedDialect;

impl Dialect for BoundedDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        FlinkDialect.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        FlinkDialect.is_identifier_part(ch)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        FlinkDialect.is_delimited_identifier_start(ch)
    }

    fn supports_timestamp_versioning(&self) -> bool {
        FlinkDialect.supports_timestamp_versioning()
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        FlinkDialect.supports_filter_during_aggregation()
    }

    fn parse_prefix(&self, parser: &mut Parser<'_>) -> Option<Result<Expr, ParserError>> {
        let left = PREFIXES_LEFT.get();
        if left == 0 {
            return Some(Err(ParserError::RecursionLimitExceeded));
        }
        PREFIXES_LEFT.set(left - 1);
        FlinkDialect.parse_prefix(parser)
    }

    fn parse_infix(
        &self,
        _parser: &mut Parser<'_>,
        expr: &Expr,
        _precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        // `expr` is the left operand: the chain built so far, deepest along its left side.
        let mut depth = 0;
        let mut e = Some(expr);
        while let Some(x) = e {
            depth += 1;
            if depth >= MAX_NESTING {
                return Some(Err(ParserError::RecursionLimitExceeded));
            }
            e = first_operand(x);
        }
        None
    }
}

/// The operand an infix or postfix operator (or parentheses) keeps on its left.
fn first_operand(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::BinaryOp { left: x, .. }
        | Expr::AnyOp { left: x, .. }
        | Expr::AllOp { left: x, .. }
        | Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsNotTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsNotFalse(x)
        | Expr::IsUnknown(x)
        | Expr::IsNotUnknown(x)
        | Expr::IsDistinctFrom(x, _)
        | Expr::IsNotDistinctFrom(x, _)
        | Expr::IsNormalized { expr: x, .. }
        | Expr::InList { expr: x, .. }
        | Expr::InSubquery { expr: x, .. }
        | Expr::InUnnest { expr: x, .. }
        | Expr::Between { expr: x, .. }
        | Expr::Like { expr: x, .. }
        | Expr::ILike { expr: x, .. }
        | Expr::SimilarTo { expr: x, .. }
        | Expr::RLike { expr: x, .. }
        | Expr::Cast { expr: x, .. }
        | Expr::Collate { expr: x, .. }
        | Expr::AtTimeZone { timestamp: x, .. }
        | Expr::CompoundFieldAccess { root: x, .. }
        | Expr::JsonAccess { value: x, .. }
        | Expr::UnaryOp { expr: x, .. }
        | Expr::Nested(x) => Some(x),
        _ => None,
    }
}

/// Refuse a parsed statement (or expression) nesting expressions, queries and table
/// factors more than [`MAX_NESTING`] deep: the planner recurses on each. The visit stops at
/// that depth, so it is safe on any tree the parser built.
///
/// # Errors
/// [`Error::Sql`] at `at`: "the statement nests too deeply".
pub fn check_nesting<T: ast::Visit>(node: &T, at: Location) -> Result<()> {
    struct Depth(usize);
    impl Depth {
        fn enter(&mut self) -> ControlFlow<()> {
            self.0 += 1;
            if self.0 > MAX_NESTING {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn leave(&mut self) -> ControlFlow<()> {
            self.0 -= 1;
            ControlFlow::Continue(())
        }
    }
    impl ast::Visitor for Depth {
        type Break = ();
        fn pre_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
            self.enter()
        }
        fn post_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
            self.leave()
        }
        fn pre_visit_table_factor(&mut self, _: &ast::TableFactor) -> ControlFlow<()> {
            self.enter()
        }
        fn post_visit_table_factor(&mut self, _: &ast::TableFactor) -> ControlFlow<()> {
            self.leave()
        }
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.enter()
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.leave()
        }
    }
    match node.visit(&mut Depth(0)) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(sql_error(at, too_deep())),
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
        ParserError::RecursionLimitExceeded => too_deep(),
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

/// Refuse, before it is parsed, a statement nesting deeper than [`MAX_NESTING`] where
/// `sqlparser` recurses without counting, or builds a deep tree in a loop: parentheses
/// (joins in parentheses), type parameters (`ARRAY<ARRAY<...>>`) and chains of set
/// operations (`... UNION ALL ... UNION ALL ...`).
///
/// # Errors
/// [`Error::Sql`] at the token that goes too deep.
pub fn check_token_nesting(st: &StatementTokens) -> Result<()> {
    let (mut brackets, mut types, mut set_operations) = (0usize, 0usize, 0usize);
    for (i, t) in st.tokens.iter().enumerate() {
        match &t.token {
            Token::LParen | Token::LBracket | Token::LBrace => brackets += 1,
            Token::RParen | Token::RBracket | Token::RBrace => {
                brackets = brackets.saturating_sub(1)
            }
            Token::Lt
                if ["ARRAY", "MAP", "ROW", "STRUCT", "MULTISET"]
                    .iter()
                    .any(|w| i > 0 && st.is_word(i - 1, w)) =>
            {
                types += 1
            }
            Token::Gt => types = types.saturating_sub(1),
            Token::ShiftRight => types = types.saturating_sub(2),
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT | Keyword::MINUS
                ) =>
            {
                set_operations += 1
            }
            _ => {}
        }
        if brackets.max(types).max(set_operations) > MAX_NESTING {
            return Err(sql_error(t.span.start, too_deep()));
        }
    }
    Ok(())
}

/// The message of a statement nesting more than [`MAX_NESTING`] levels.
fn too_deep() -> String {
    format!(
        "the statement nests too deeply (more than {MAX_NESTING} levels, each operator of a \
         chain such as a = 1 OR a = 2 OR ... counting as one; a long OR of equalities can be \
         an IN list)"
    )
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

    /// Parse `sql` as a script; it must fail with a nesting error.
    fn assert_nests_too_deeply(sql: &str) {
        match crate::sql::statement::parse_script(sql) {
            Err(Error::Sql { message, .. }) => {
                assert!(message.contains("nests too deeply"), "{message}")
            }
            other => panic!("expected a nesting error, got {other:?}"),
        }
    }

    #[test]
    fn a_syntax_error_under_nested_special_forms_fails_in_linear_time() {
        // sqlparser 0.59 retries each failed CAST/INTERVAL/... as a function call: 2^n
        // parses, hours at n = 30 without the prefix budget (found with the fuzz harness,
        // fuzz/).
        for head in [
            "CAST(",
            "INTERVAL (",
            "NOT (",
            "SUBSTRING(",
            "POSITION(",
            "CEIL(",
            "ARRAY[",
        ] {
            let sql = format!("SELECT {} a + FROM t", head.repeat(30));
            assert!(crate::sql::statement::parse_script(&sql).is_err(), "{sql}");
        }
        let chain = format!("SELECT {}", "x-not-b.".repeat(30));
        assert!(crate::sql::statement::parse_script(&chain).is_err());
        // Valid, but past the recursion limit: each level is retried too (a fuzz timeout).
        for n in [49, 62] {
            let casts = format!(
                "SELECT {}city{} FROM person",
                "CAST(".repeat(n),
                " AS DECIMAL(10, 2))".repeat(n)
            );
            assert_nests_too_deeply(&casts);
        }
        // The budget is per statement: a long valid script still parses.
        let ok = "SELECT CAST(CAST(a AS INT) AS BIGINT) FROM t;\n".repeat(2000);
        assert_eq!(
            crate::sql::statement::parse_script(&ok).unwrap().len(),
            2000
        );
    }

    #[test]
    fn operator_chains_deeper_than_the_limit_are_refused_while_parsing() {
        // Each of these once overflowed the stack (parser, planner or drop of the tree),
        // found with the fuzz harness (fuzz/).
        assert_nests_too_deeply(&format!("SELECT {}1 FROM t", "a+".repeat(300_000)));
        let ors: Vec<String> = (0..5000).map(|i| format!("a = {i}")).collect();
        assert_nests_too_deeply(&format!("SELECT a FROM t WHERE {}", ors.join(" OR ")));
        assert_nests_too_deeply(&format!(
            "SELECT a FROM t WHERE a{}",
            " IS NULL = TRUE".repeat(10_000)
        ));
        assert_nests_too_deeply(&format!("SELECT {} FROM t", vec!["b"; 50_000].join(" || ")));
        assert_nests_too_deeply(&format!(
            "CREATE TABLE x (p INT, q AS {}1) WITH ('connector' = 'x')",
            "p+".repeat(50_000)
        ));
        // Parentheses do not hide a chain's depth.
        let level = format!("{})", " + a".repeat(10));
        assert_nests_too_deeply(&format!(
            "SELECT {}a{} FROM t",
            "(".repeat(30),
            level.repeat(30)
        ));
        // Where sqlparser recurses without counting, or loops into a deep tree.
        assert_nests_too_deeply(&format!(
            "SELECT * FROM {}t ON a = a{}",
            "(t JOIN ".repeat(20_000),
            ")".repeat(20_000)
        ));
        let array = format!("{}INT{}", "ARRAY<".repeat(20_000), ">".repeat(20_000));
        assert_nests_too_deeply(&format!("SELECT CAST(a AS {array}) FROM t"));
        assert_nests_too_deeply(&format!(
            "CREATE TABLE x (a {array}) WITH ('connector' = 'x')"
        ));
        assert_nests_too_deeply(&vec!["SELECT a FROM t"; 100_000].join(" UNION ALL "));
        let unions = vec!["SELECT a FROM t"; MAX_NESTING + 1].join(" UNION ALL ");
        assert!(crate::sql::statement::parse_script(&unions).is_ok());
        // Type parameters close again (`>>` is one token).
        let fields = vec!["x ARRAY<ARRAY<INT>>"; 100].join(", ");
        let wide = format!("SELECT CAST(a AS ROW<{fields}>) FROM t");
        if let Err(e) = crate::sql::statement::parse_script(&wide) {
            assert!(!e.to_string().contains("nests"), "{e}");
        }
        // Wide but shallow is fine, and so is a chain just under the limit.
        let items: Vec<String> = (0..5000).map(|i| format!("a + {i}")).collect();
        assert!(crate::sql::statement::parse_script(&format!(
            "SELECT {} FROM t",
            items.join(", ")
        ))
        .is_ok());
        let under = format!("SELECT {}1 FROM t", "a+".repeat(MAX_NESTING - 10));
        assert!(crate::sql::statement::parse_script(&under).is_ok());
    }
}
