//! The `filesystem` connector from SQL: an updating query written as debezium-json, refused
//! by the insert-only formats as in Flink, and Parquet / partitioned tables written by one
//! `INSERT` and read by the next.

use std::collections::BTreeMap;
use std::path::Path;

use millstream_connectors::sql::default_registry;
use millstream_core::runtime::JobConfig;
use millstream_core::sql::TableEnvironment;

fn env(parallelism: usize) -> TableEnvironment {
    let mut config = JobConfig {
        parallelism,
        ..JobConfig::default()
    };
    config.batch.batch_size = 2;
    TableEnvironment::new(config, default_registry())
}

/// The text of every visible file below `dir`, by relative path.
fn visible(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "in-progress file left: {}",
                p.display()
            );
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn source_ddl(dir: &Path) -> String {
    let input = dir.join("in.csv");
    std::fs::write(&input, "a,1\na,2\nb\"q,5\na,4\nc,\n").unwrap();
    format!(
        "CREATE TABLE src (k STRING, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
        input.display()
    )
}

#[test]
fn an_updating_query_is_written_as_debezium_json() {
    for p in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "{}
            CREATE TABLE counts (k STRING, cnt BIGINT, total BIGINT)
              WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');
            INSERT INTO counts SELECT k, COUNT(*), SUM(v) FROM src GROUP BY k;",
            source_ddl(dir.path()),
            out.display()
        );
        env(p).execute_sql(&script).unwrap();
        // Apply the changes: "c" adds its `after`, "d" takes back its `before`.
        let mut rows: Vec<String> = Vec::new();
        let mut kinds = [0, 0];
        for text in visible(&out).values() {
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                match v["op"].as_str().unwrap() {
                    "c" => {
                        assert!(v["before"].is_null(), "{line}");
                        rows.push(v["after"].to_string());
                        kinds[0] += 1;
                    }
                    "d" => {
                        assert!(v["after"].is_null(), "{line}");
                        let before = v["before"].to_string();
                        let i = rows.iter().position(|r| *r == before).unwrap_or_else(|| {
                            panic!("p={p}: {line} retracts a row never added: {rows:?}")
                        });
                        rows.remove(i);
                        kinds[1] += 1;
                    }
                    other => panic!("op {other}"),
                }
            }
        }
        rows.sort();
        assert_eq!(
            rows,
            [
                r#"{"cnt":1,"k":"b\"q","total":5}"#,
                r#"{"cnt":1,"k":"c","total":null}"#,
                r#"{"cnt":3,"k":"a","total":7}"#,
            ],
            "p={p}"
        );
        assert!(
            kinds[1] >= 1,
            "p={p}: 'a' was updated at least once: {kinds:?}"
        );
    }
}

#[test]
fn insert_only_formats_refuse_an_updating_query_as_flink() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "json", "parquet"] {
        let script = format!(
            "{}
            CREATE TABLE counts (k STRING, cnt BIGINT)
              WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = '{format}');
            INSERT INTO counts SELECT k, COUNT(*) FROM src GROUP BY k;",
            source_ddl(dir.path()),
            dir.path().join(format).display()
        );
        let e = env(1).execute_sql(&script).unwrap_err().to_string();
        assert!(
            e.contains("Table sink 'counts' doesn't support consuming update changes"),
            "{format}: {e}"
        );
        // An insert-only query is fine.
        let script = format!(
            "CREATE TABLE rows (k STRING, v BIGINT)
              WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = '{format}');
            INSERT INTO rows SELECT k, v FROM src WHERE v > 1;",
            dir.path().join(format).display()
        );
        let mut e = env(1);
        e.execute_sql(&source_ddl(dir.path())).unwrap();
        e.execute_sql(&script).unwrap();
        assert_eq!(visible(&dir.path().join(format)).len(), 1, "{format}");
    }
}

#[test]
fn parquet_and_partitioned_tables_round_trip_through_sql() {
    for format in ["parquet", "csv", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut e = env(2);
        let script = format!(
            "{}
            CREATE TABLE parts (v BIGINT, k STRING, big BOOLEAN) PARTITIONED BY (k, big)
              WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = '{format}');
            INSERT INTO parts SELECT v, k, v > 2 FROM src;
            CREATE TABLE back (k STRING, big BOOLEAN, v BIGINT)
              WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
            INSERT INTO back SELECT k, big, v FROM parts WHERE k <> 'c';",
            source_ddl(dir.path()),
            out.display(),
            dir.path().join("back").display()
        );
        e.execute_sql(&script).unwrap();
        let mut dirs: Vec<String> = visible(&out)
            .keys()
            .map(|f| f.rsplit_once('/').unwrap().0.to_string())
            .collect();
        dirs.dedup();
        assert_eq!(
            dirs,
            [
                "k=a/big=false",
                "k=a/big=true",
                "k=b%22q/big=true",
                "k=c/big=__DEFAULT_PARTITION__"
            ],
            "{format}"
        );
        let mut got: Vec<String> = visible(&dir.path().join("back"))
            .values()
            .flat_map(|t| t.lines().map(String::from).collect::<Vec<_>>())
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["\"b\"\"q\",true,5", "a,false,1", "a,false,2", "a,true,4"],
            "{format}"
        );
    }
}
