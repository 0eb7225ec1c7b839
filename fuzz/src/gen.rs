//! A grammar-driven SQL generator: the fuzzer's bytes choose among fragments (clauses,
//! window TVFs, joins, functions, operators, literals) over the columns of the catalog, so
//! most inputs get past the parser and deep into the planner.
//!
//! The output is plain SQL text, printed by `Debug`, so `cargo fuzz fmt sql_plan_gen
//! <artifact>` shows the query a crash came from.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::{ROWTIME_TABLES, TABLES};

/// A generated statement (a query or an `INSERT`).
pub struct GenSql(pub String);

impl std::fmt::Debug for GenSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> Arbitrary<'a> for GenSql {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut g = Gen { u, depth: 0 };
        let sql = if g.rare(6)? {
            let sink = *g.u.choose(&["sink_append", "sink_updates"])?;
            format!("INSERT INTO {sink} {}", g.query()?)
        } else {
            g.query()?
        };
        Ok(GenSql(sql))
    }
}

/// Deepest nesting of queries and expressions (the planner's limits are tested elsewhere).
const MAX_DEPTH: u32 = 6;

const SCALAR_FUNCTIONS: &[(&str, usize)] = &[
    ("COALESCE", 2),
    ("IFNULL", 2),
    ("IF", 3),
    ("NULLIF", 2),
    ("MOD", 2),
    ("UPPER", 1),
    ("LOWER", 1),
    ("INITCAP", 1),
    ("CHAR_LENGTH", 1),
    ("CHARACTER_LENGTH", 1),
    ("LTRIM", 1),
    ("RTRIM", 1),
    ("BTRIM", 1),
    ("SUBSTR", 2),
    ("SUBSTRING", 3),
    ("CONCAT", 3),
    ("CONCAT_WS", 3),
    ("REPLACE", 3),
    ("POSITION", 2),
    ("LOCATE", 2),
    ("INSTR", 2),
    ("SPLIT_INDEX", 3),
    ("REGEXP_EXTRACT", 3),
    ("REGEXP_REPLACE", 3),
    ("REGEXP", 2),
    ("LPAD", 3),
    ("RPAD", 3),
    ("REVERSE", 1),
    ("LEFT", 2),
    ("RIGHT", 2),
    ("REPEAT", 2),
    ("YEAR", 1),
    ("QUARTER", 1),
    ("MONTH", 1),
    ("WEEK", 1),
    ("DAYOFMONTH", 1),
    ("DAYOFYEAR", 1),
    ("DAYOFWEEK", 1),
    ("HOUR", 1),
    ("MINUTE", 1),
    ("SECOND", 1),
    ("DATE_FORMAT", 2),
    ("TO_TIMESTAMP", 1),
    ("TO_TIMESTAMP", 2),
    ("TO_DATE", 1),
    ("FROM_UNIXTIME", 1),
    ("UNIX_TIMESTAMP", 1),
    ("UNIX_TIMESTAMP", 0),
    ("TO_TIMESTAMP_LTZ", 2),
    ("LOCALTIMESTAMP", 0),
    ("CURRENT_DATE", 0),
    ("SQRT", 1),
    ("EXP", 1),
    ("LN", 1),
    ("LOG10", 1),
    ("LOG2", 1),
    ("LOG", 2),
    ("SIN", 1),
    ("COS", 1),
    ("TAN", 1),
    ("COT", 1),
    ("ASIN", 1),
    ("ACOS", 1),
    ("ATAN", 1),
    ("ATAN2", 2),
    ("SINH", 1),
    ("COSH", 1),
    ("TANH", 1),
    ("DEGREES", 1),
    ("RADIANS", 1),
    ("ABS", 1),
    ("SIGN", 1),
    ("FLOOR", 1),
    ("CEIL", 1),
    ("CEILING", 1),
    ("ROUND", 2),
    ("TRUNCATE", 2),
    ("POWER", 2),
    ("POW", 2),
    ("PI", 0),
    ("E", 0),
    ("HASH_CODE", 1),
    ("MD5", 1),
    ("TIMESTAMPADD", 3),
    ("TIMESTAMPDIFF", 3),
    ("DATE_ADD", 2),
    ("DATEDIFF", 2),
    ("CURRENT_TIMESTAMP", 0),
    ("NOW", 0),
    ("PROCTIME", 0),
];

const AGGREGATES: &[&str] = &[
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "FIRST_VALUE",
    "LAST_VALUE",
    "STDDEV_POP",
    "VAR_SAMP",
    "LISTAGG",
];

const TYPES: &[&str] = &[
    "BIGINT",
    "INT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "DOUBLE",
    "FLOAT",
    "REAL",
    "DECIMAL(10, 2)",
    "DECIMAL(38, 18)",
    "DECIMAL(5, 0)",
    "VARCHAR",
    "STRING",
    "CHAR(3)",
    "VARCHAR(10)",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP(3)",
    "TIMESTAMP",
    "TIMESTAMP_LTZ(3)",
    "TIME",
    "BYTES",
];

const BINARY_OPS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "=",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "AND",
    "OR",
    "||",
    "IS DISTINCT FROM",
    "IS NOT DISTINCT FROM",
];

const TIME_UNITS: &[&str] = &["SECOND", "MINUTE", "HOUR", "DAY", "MILLISECOND"];

const LITERALS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "10",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "2147483647",
    "1.5",
    "-0.0",
    "1e308",
    "1e-320",
    "123456789012345678901234567890.123",
    "0.000000000000000000000000000000000000001",
    "NULL",
    "TRUE",
    "FALSE",
    "UNKNOWN",
    "''",
    "'a'",
    "'abc'",
    "'%'",
    "'_a%'",
    "'(a|b)+'",
    "'['",
    "'2024-01-01'",
    "'2024-01-01 00:00:00'",
    "'2024-13-45 99:99:99.999'",
    "'yyyy-MM-dd HH:mm:ss'",
    "'\u{e9}\u{1f600}'",
    "DATE '2024-02-29'",
    "TIMESTAMP '2024-01-01 12:00:00.123'",
    "TIME '12:00:00'",
    "INTERVAL '1' SECOND",
    "INTERVAL '5' MINUTE",
    "INTERVAL '-1' HOUR",
    "INTERVAL '1' DAY",
    "INTERVAL '1:30' HOUR TO MINUTE",
    "INTERVAL '1' YEAR",
    "INTERVAL '999999999999' DAY",
    "X'0AFF'",
];

struct Gen<'a, 'b> {
    u: &'b mut Unstructured<'a>,
    depth: u32,
}

/// What a FROM clause makes visible: qualifier and column names.
#[derive(Clone, Default)]
struct Scope {
    columns: Vec<(Option<String>, String)>,
    /// A rowtime column in scope, for interval joins and windows.
    rowtime: Option<String>,
    /// The relation is a window TVF (`window_start`/`window_end` in scope).
    windowed: bool,
}

impl Gen<'_, '_> {
    /// True one time in `n`; false once the input is used up, so short inputs take the
    /// common paths.
    fn rare(&mut self, n: u8) -> Result<bool> {
        Ok(self.u.int_in_range(1..=n)? == n)
    }

    fn query(&mut self) -> Result<String> {
        self.depth += 1;
        let out = self.query_inner();
        self.depth -= 1;
        out
    }

    fn query_inner(&mut self) -> Result<String> {
        let deep = self.depth >= MAX_DEPTH;
        if !deep && self.rare(12)? {
            let a = self.select()?;
            let b = self.select()?;
            let op = *self
                .u
                .choose(&["UNION ALL", "UNION", "INTERSECT", "EXCEPT ALL"])?;
            return Ok(format!("{a} {op} {b}"));
        }
        if !deep && self.rare(12)? {
            let inner = self.select()?;
            let outer = self.select_from(true)?;
            return Ok(format!("WITH w AS ({inner}) {outer}"));
        }
        let mut q = self.select()?;
        if self.rare(10)? {
            q.push_str(" ORDER BY 1");
        }
        if self.rare(12)? {
            q.push_str(&format!(" LIMIT {}", self.u.int_in_range(0..=10u8)?));
        }
        Ok(q)
    }

    fn select(&mut self) -> Result<String> {
        self.select_from(false)
    }

    /// A SELECT; with `cte`, its FROM may name the CTE `w`.
    fn select_from(&mut self, cte: bool) -> Result<String> {
        let (from, scope) = if cte {
            if self.rare(2)? {
                // The CTE's columns are unknown here: `*` and a guess.
                let scope = Scope {
                    columns: vec![(None, "a".into()), (None, "auction".into())],
                    ..Scope::default()
                };
                ("w".to_string(), scope)
            } else {
                self.from()?
            }
        } else {
            self.from()?
        };
        let kind = self.u.int_in_range(0..=5u8)?;
        let mut sql = String::from("SELECT ");
        if self.rare(10)? {
            sql.push_str("DISTINCT ");
        }
        match kind {
            // Window aggregation over a TVF.
            0 | 1 if scope.windowed => {
                let keys = self.keys(&scope)?;
                let mut items: Vec<String> = keys.clone();
                items.push("window_start".into());
                items.push("window_end".into());
                for _ in 0..self.u.int_in_range(1..=3u8)? {
                    items.push(format!("{} AS m{}", self.aggregate(&scope)?, items.len()));
                }
                sql.push_str(&items.join(", "));
                sql.push_str(&format!(" FROM {from}"));
                self.where_clause(&mut sql, &scope)?;
                let mut group = keys;
                if !self.rare(8)? {
                    group.push("window_start".into());
                    group.push("window_end".into());
                }
                if !group.is_empty() {
                    sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
                }
                self.having(&mut sql, &scope)?;
            }
            // GROUP BY, with a group window function or not.
            2 => {
                let mut keys = self.keys(&scope)?;
                let mut items = keys.clone();
                if let Some(rt) = &scope.rowtime {
                    if self.rare(2)? {
                        let w = self.group_window(rt)?;
                        let (name, args) = w.split_once('(').expect("a call");
                        items.push(format!("{name}_START({args}"));
                        items.push(format!("{name}_END({args}"));
                        if self.rare(3)? {
                            items.push(format!("{name}_ROWTIME({args}"));
                        }
                        keys.push(w);
                    }
                }
                for _ in 0..self.u.int_in_range(0..=3u8)? {
                    items.push(self.aggregate(&scope)?);
                }
                if items.is_empty() {
                    items.push("COUNT(*)".into());
                }
                sql.push_str(&items.join(", "));
                sql.push_str(&format!(" FROM {from}"));
                self.where_clause(&mut sql, &scope)?;
                if !keys.is_empty() {
                    sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
                }
                self.having(&mut sql, &scope)?;
            }
            // Top-N / deduplication with ROW_NUMBER.
            3 if self.depth < MAX_DEPTH => {
                let part = self.keys(&scope)?;
                let order = self.expr(&scope)?;
                let dir = *self.u.choose(&["", " ASC", " DESC"])?;
                let pb = if part.is_empty() {
                    String::new()
                } else {
                    format!("PARTITION BY {} ", part.join(", "))
                };
                let cols = self.select_items(&scope)?;
                let n = self.u.int_in_range(0..=3u8)?;
                let cmp = *self.u.choose(&["<=", "=", "<", ">"])?;
                return Ok(format!(
                    "SELECT * FROM (SELECT {cols}, ROW_NUMBER() OVER ({pb}ORDER BY {order}{dir}) AS rn FROM {from}) WHERE rn {cmp} {n}"
                ));
            }
            // Plain projection and filter.
            _ => {
                sql.push_str(&self.select_items(&scope)?);
                sql.push_str(&format!(" FROM {from}"));
                self.where_clause(&mut sql, &scope)?;
            }
        }
        Ok(sql)
    }

    fn select_items(&mut self, scope: &Scope) -> Result<String> {
        if self.rare(6)? {
            return Ok("*".into());
        }
        let n = self.u.int_in_range(1..=4u8)?;
        let mut items = Vec::new();
        for i in 0..n {
            let e = self.expr(scope)?;
            if self.rare(2)? {
                items.push(format!("{e} AS x{i}"));
            } else {
                items.push(e);
            }
        }
        Ok(items.join(", "))
    }

    fn keys(&mut self, scope: &Scope) -> Result<Vec<String>> {
        let n = self.u.int_in_range(0..=2u8)?;
        (0..n)
            .map(|_| {
                if self.rare(5)? {
                    self.expr(scope)
                } else {
                    self.column(scope)
                }
            })
            .collect()
    }

    fn where_clause(&mut self, sql: &mut String, scope: &Scope) -> Result<()> {
        if self.rare(2)? {
            sql.push_str(&format!(" WHERE {}", self.predicate(scope)?));
        }
        Ok(())
    }

    fn having(&mut self, sql: &mut String, scope: &Scope) -> Result<()> {
        if self.rare(4)? {
            let agg = self.aggregate(scope)?;
            let op = *self.u.choose(&[">", "<", "=", ">="])?;
            let lit = self.literal()?;
            sql.push_str(&format!(" HAVING {agg} {op} {lit}"));
        }
        Ok(())
    }

    fn group_window(&mut self, rowtime: &str) -> Result<String> {
        let i1 = self.interval()?;
        Ok(match self.u.int_in_range(0..=2u8)? {
            0 => format!("TUMBLE({rowtime}, {i1})"),
            1 => {
                let i2 = self.interval()?;
                format!("HOP({rowtime}, {i1}, {i2})")
            }
            _ => format!("SESSION({rowtime}, {i1})"),
        })
    }

    fn interval(&mut self) -> Result<String> {
        let n = *self
            .u
            .choose(&["5", "1", "2", "10", "3600", "0", "-1", "1.5"])?;
        let unit = *self.u.choose(TIME_UNITS)?;
        Ok(format!("INTERVAL '{n}' {unit}"))
    }

    fn table(&mut self) -> Result<(String, Scope)> {
        // Now and then a name that is a WITH query (`w`, maybe the one being defined) or
        // nothing at all.
        let (name, cols) = if self.rare(16)? {
            *self
                .u
                .choose(&[("w", &["a", "auction"][..]), ("nope", &["a"][..])])?
        } else {
            *self.u.choose(TABLES)?
        };
        let alias = if self.rare(3)? {
            Some(format!("{name}_{}", self.u.int_in_range(0..=3u8)?))
        } else {
            None
        };
        let q = alias.clone().unwrap_or_else(|| name.to_string());
        let rowtime = ROWTIME_TABLES
            .iter()
            .find(|(t, _)| *t == name)
            .map(|(_, c)| format!("{q}.{c}"));
        let scope = Scope {
            columns: cols
                .iter()
                .map(|c| (Some(q.clone()), (*c).to_string()))
                .collect(),
            rowtime,
            windowed: false,
        };
        let text = match alias {
            Some(a) => format!("{name} AS {a}"),
            None => name.to_string(),
        };
        Ok((text, scope))
    }

    fn from(&mut self) -> Result<(String, Scope)> {
        let deep = self.depth >= MAX_DEPTH;
        match self.u.int_in_range(0..=9u8)? {
            // Window TVF.
            0..=2 => {
                let (t, rt) = *self.u.choose(ROWTIME_TABLES)?;
                let (_, cols) = TABLES
                    .iter()
                    .find(|(n, _)| *n == t)
                    .expect("rowtime table in TABLES");
                let i1 = self.interval()?;
                let call = match self.u.int_in_range(0..=3u8)? {
                    0 => format!("TUMBLE(TABLE {t}, DESCRIPTOR({rt}), {i1})"),
                    1 => {
                        let i2 = self.interval()?;
                        format!("HOP(TABLE {t}, DESCRIPTOR({rt}), {i1}, {i2})")
                    }
                    2 => {
                        let i2 = self.interval()?;
                        format!("CUMULATE(TABLE {t}, DESCRIPTOR({rt}), {i1}, {i2})")
                    }
                    _ => format!(
                        "SESSION(TABLE {t} PARTITION BY {}, DESCRIPTOR({rt}), {i1})",
                        cols[0]
                    ),
                };
                let mut columns: Vec<_> = cols.iter().map(|c| (None, (*c).to_string())).collect();
                columns.push((None, "window_start".into()));
                columns.push((None, "window_end".into()));
                columns.push((None, "window_time".into()));
                Ok((
                    format!("TABLE({call})"),
                    Scope {
                        columns,
                        rowtime: Some("window_time".into()),
                        windowed: true,
                    },
                ))
            }
            // Subquery.
            3 if !deep => {
                let inner_from = self.table()?;
                let items = self.select_items(&inner_from.1)?;
                let mut q = format!("SELECT {items} FROM {}", inner_from.0);
                self.where_clause(&mut q, &inner_from.1)?;
                let mut scope = inner_from.1;
                for c in &mut scope.columns {
                    c.0 = Some("s".into());
                }
                scope.rowtime = scope
                    .rowtime
                    .map(|r| format!("s.{}", r.rsplit('.').next().unwrap_or(&r)));
                Ok((format!("({q}) AS s"), scope))
            }
            // Nested query as a derived table.
            4 if !deep => {
                let q = self.query()?;
                Ok((
                    format!("({q}) AS d"),
                    Scope {
                        columns: vec![(None, "a".into()), (Some("d".into()), "x0".into())],
                        ..Scope::default()
                    },
                ))
            }
            // Joins.
            5 | 6 if !deep => {
                let (l, ls) = self.table()?;
                let (r, rs) = self.table()?;
                let mut scope = ls.clone();
                scope.columns.extend(rs.columns.iter().cloned());
                let lc = self.qualified_column(&ls)?;
                let rc = self.qualified_column(&rs)?;
                let mut cond = format!("{lc} = {rc}");
                if let (Some(lt), Some(rt)) = (&ls.rowtime, &rs.rowtime) {
                    if self.rare(2)? {
                        let i = self.interval()?;
                        cond = match self.u.int_in_range(0..=2u8)? {
                            0 => format!("{cond} AND {lt} BETWEEN {rt} - {i} AND {rt} + {i}"),
                            1 => format!("{cond} AND {lt} >= {rt} AND {lt} < {rt} + {i}"),
                            _ => format!("{cond} AND {lt} = {rt}"),
                        };
                    }
                }
                if self.rare(4)? {
                    cond = format!("{cond} AND {}", self.predicate(&scope)?);
                }
                let kind = *self.u.choose(&[
                    "JOIN",
                    "INNER JOIN",
                    "LEFT JOIN",
                    "RIGHT JOIN",
                    "FULL OUTER JOIN",
                ])?;
                scope.rowtime = ls.rowtime.clone();
                if self.rare(6)? {
                    Ok((format!("{l}, {r}"), scope))
                } else if self.rare(10)? {
                    Ok((format!("{l} CROSS JOIN {r}"), scope))
                } else {
                    Ok((format!("{l} {kind} {r} ON {cond}"), scope))
                }
            }
            _ => self.table(),
        }
    }

    /// A chain or a nest around the nesting limit (`dialect::MAX_NESTING`).
    fn deep_expr(&mut self, scope: &Scope) -> Result<String> {
        let n = self.u.int_in_range(20..=120usize)?;
        let a = self.column(scope)?;
        Ok(match self.u.int_in_range(0..=4u8)? {
            0 => {
                let op = *self.u.choose(BINARY_OPS)?;
                format!("{a}{}", format!(" {op} {a}").repeat(n))
            }
            1 => {
                let terms: Vec<String> = (0..n).map(|i| format!("{a} = {i}")).collect();
                terms.join(" OR ")
            }
            2 => {
                let ty = *self.u.choose(TYPES)?;
                format!("{}{a}{}", "CAST(".repeat(n), format!(" AS {ty})").repeat(n))
            }
            3 => {
                let f = *self
                    .u
                    .choose(&["UPPER(", "ABS(", "COALESCE(", "(", "-(", "NOT ("])?;
                format!("{}{a}{}", f.repeat(n), ")".repeat(n))
            }
            _ => format!("{a}{}", " IS NULL = TRUE".repeat(n)),
        })
    }

    fn column(&mut self, scope: &Scope) -> Result<String> {
        if scope.columns.is_empty() || self.rare(40)? {
            return Ok((*self.u.choose(&["nope", "a", "t.a", "window_start", "rn"])?).into());
        }
        let (q, c) = self.u.choose(&scope.columns)?.clone();
        Ok(match q {
            Some(q) if self.rare(2)? => format!("{q}.{c}"),
            _ => c,
        })
    }

    fn qualified_column(&mut self, scope: &Scope) -> Result<String> {
        Ok(match self.u.choose(&scope.columns)? {
            (Some(q), c) => format!("{q}.{c}"),
            (None, c) => c.clone(),
        })
    }

    fn literal(&mut self) -> Result<String> {
        if self.rare(8)? {
            let n: i64 = self.u.arbitrary()?;
            return Ok(n.to_string());
        }
        Ok((*self.u.choose(LITERALS)?).into())
    }

    fn aggregate(&mut self, scope: &Scope) -> Result<String> {
        let f = *self.u.choose(AGGREGATES)?;
        if f == "COUNT" && self.rare(2)? {
            return Ok("COUNT(*)".into());
        }
        let distinct = if self.rare(8)? { "DISTINCT " } else { "" };
        let arg = self.expr(scope)?;
        let filter = if self.rare(10)? {
            format!(" FILTER (WHERE {})", self.predicate(scope)?)
        } else {
            String::new()
        };
        Ok(format!("{f}({distinct}{arg}){filter}"))
    }

    fn predicate(&mut self, scope: &Scope) -> Result<String> {
        let a = self.expr(scope)?;
        Ok(match self.u.int_in_range(0..=9u8)? {
            0 => format!("{a} IS NULL"),
            1 => format!("{a} IS NOT NULL"),
            2 => {
                let lo = self.expr(scope)?;
                let hi = self.expr(scope)?;
                format!("{a} BETWEEN {lo} AND {hi}")
            }
            3 => {
                let n = self.u.int_in_range(1..=3u8)?;
                let items = (0..n).map(|_| self.literal()).collect::<Result<Vec<_>>>()?;
                let not = if self.rare(3)? { "NOT " } else { "" };
                format!("{a} {not}IN ({})", items.join(", "))
            }
            4 => {
                let p = *self.u.choose(&["'%a%'", "'a_'", "'%'", "'\\%'", "''"])?;
                let not = if self.rare(3)? { "NOT " } else { "" };
                format!("{a} {not}LIKE {p}")
            }
            5 => format!("NOT ({a})"),
            6 if self.depth < MAX_DEPTH => {
                self.depth += 1;
                let q = self.select();
                self.depth -= 1;
                format!("{a} IN ({})", q?)
            }
            _ => {
                let b = self.expr(scope)?;
                let op = *self.u.choose(&["=", "<>", "<", ">", "<=", ">="])?;
                format!("{a} {op} {b}")
            }
        })
    }

    fn expr(&mut self, scope: &Scope) -> Result<String> {
        if self.depth >= MAX_DEPTH + 3 {
            return if self.rare(2)? {
                self.column(scope)
            } else {
                self.literal()
            };
        }
        self.depth += 1;
        let out = self.expr_inner(scope);
        self.depth -= 1;
        out
    }

    fn expr_inner(&mut self, scope: &Scope) -> Result<String> {
        if self.rare(40)? {
            return self.deep_expr(scope);
        }
        Ok(match self.u.int_in_range(0..=15u8)? {
            0..=3 => self.column(scope)?,
            4 | 5 => self.literal()?,
            6 | 7 => {
                let a = self.expr(scope)?;
                let b = self.expr(scope)?;
                let op = *self.u.choose(BINARY_OPS)?;
                format!("({a} {op} {b})")
            }
            8 | 9 => {
                let (f, n) = *self.u.choose(SCALAR_FUNCTIONS)?;
                let n = if self.rare(8)? {
                    self.u.int_in_range(0..=4usize)?
                } else {
                    n
                };
                let args = (0..n)
                    .map(|_| self.expr(scope))
                    .collect::<Result<Vec<_>>>()?;
                if n == 0 && matches!(f, "LOCALTIMESTAMP" | "CURRENT_DATE" | "CURRENT_TIMESTAMP") {
                    f.to_string()
                } else {
                    format!("{f}({})", args.join(", "))
                }
            }
            10 => {
                let a = self.expr(scope)?;
                let ty = *self.u.choose(TYPES)?;
                let cast = *self.u.choose(&["CAST", "TRY_CAST"])?;
                format!("{cast}({a} AS {ty})")
            }
            11 => {
                let c = self.predicate(scope)?;
                let a = self.expr(scope)?;
                let b = self.expr(scope)?;
                if self.rare(3)? {
                    format!("CASE WHEN {c} THEN {a} END")
                } else {
                    format!("CASE WHEN {c} THEN {a} ELSE {b} END")
                }
            }
            12 => {
                let a = self.expr(scope)?;
                let unit = *self
                    .u
                    .choose(&["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "EPOCH"])?;
                format!("EXTRACT({unit} FROM {a})")
            }
            13 => {
                let a = self.expr(scope)?;
                match self.u.int_in_range(0..=4u8)? {
                    0 => format!("-{a}"),
                    1 => format!("TRIM({a})"),
                    2 => format!("TRIM(BOTH 'x' FROM {a})"),
                    3 => format!("SUBSTRING({a} FROM 2 FOR 3)"),
                    _ => format!("POSITION('a' IN {a})"),
                }
            }
            14 => {
                let a = self.expr(scope)?;
                let unit = *self.u.choose(TIME_UNITS)?;
                let to = *self.u.choose(&["FLOOR", "CEIL"])?;
                format!("{to}({a} TO {unit})")
            }
            _ => self.predicate(scope)?,
        })
    }
}
