//! Behaviour of [`RetractableRank`]: exact changelogs of small runs (rows leaving and
//! coming back, which copy of equal rows a retraction removes, unmatched retractions), a
//! seeded oracle test (the table the output changelog builds equals a from-scratch Top-N of
//! the table the input changelog builds, after every batch), checkpoints (restore at every
//! cut continues exactly; snapshots restored into another number of subtasks give the same
//! final tables), and bad input.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use arrow::array::{AsArray, Int64Array, Int8Array, StringArray};
use arrow::datatypes::{Int64Type, Int8Type};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::snapshot_tests::route;
use super::tests::{batch_lines, pvi};
use super::*;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::operator::process::tests::recovery::merge;
use crate::operator::OutItem;

const MAX_P: usize = 128;

/// One input change: row kind code, `p`, `v`, `id`.
type Change = (i8, i64, Option<i64>, String);
/// A live input row: `p`, `v`, `id`, arrival number.
type Live = (i64, Option<i64>, String, u64);
/// A result table: (`p`, `v`, `id`, rank when emitted) → count.
type Table = BTreeMap<(i64, Option<i64>, String, Option<i64>), usize>;

/// A changelog batch `p: Int64, v: Int64 (nullable), id: Utf8, $op: Int8`.
fn changes(rows: &[Change]) -> RecordBatch {
    let data: Vec<(i64, Option<i64>, &str)> =
        rows.iter().map(|r| (r.1, r.2, r.3.as_str())).collect();
    let ops = Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef;
    crate::api::append_column(&pvi(&data), OP_COLUMN, ops).unwrap()
}

/// `changes` from text rows "op p v id" (`v` may be `_` for NULL).
fn text(rows: &[&str]) -> RecordBatch {
    let parsed: Vec<Change> = rows
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            let op = ["+I", "-U", "+U", "-D"]
                .iter()
                .position(|k| *k == f[0])
                .unwrap() as i8;
            let v = (f[2] != "_").then(|| f[2].parse().unwrap());
            (op, f[1].parse().unwrap(), v, f[3].to_string())
        })
        .collect();
    changes(&parsed)
}

fn desc(column: usize) -> SortKey {
    SortKey {
        column,
        descending: true,
        nulls_first: false,
    }
}

/// Feed one batch; its output rows as text (at most one output batch per input batch).
fn feed(op: &mut RetractableRank, b: RecordBatch) -> Vec<String> {
    let mut out = Output::new();
    op.on_batch(0, b, &mut OpContext::new(0, 1, MAX_P), &mut out)
        .unwrap();
    let batches: Vec<RecordBatch> = out
        .items()
        .iter()
        .map(|i| match i {
            OutItem::Batch(0, b) => b.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(batches.len() <= 1, "one output batch per input batch");
    batches.iter().flat_map(batch_lines).collect()
}

#[test]
fn top2_with_rank_follows_updates_and_refills_from_below() {
    let mut op = RetractableRank::new(vec![0], vec![desc(1)], 2, true).unwrap();
    let schema = op.output_schema(&text(&["+I 1 1 a"]).schema()).unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["p", "v", "id", "rank", "$op"]);
    assert_eq!(
        feed(
            &mut op,
            text(&["+I 1 10 a", "+I 1 20 b", "+I 1 5 c", "+I 2 7 x"])
        ),
        ["+I 1 20 b 1", "+I 1 10 a 2", "+I 2 7 x 1"]
    );
    // b drops below c: a and c move up; c (kept although it was outside the top) is back.
    assert_eq!(
        feed(&mut op, text(&["-U 1 20 b", "+U 1 3 b"])),
        ["-U 1 20 b 1", "-U 1 10 a 2", "+U 1 10 a 1", "+U 1 5 c 2"]
    );
    // a leaves: c and b (from below the top) move up.
    assert_eq!(
        feed(&mut op, text(&["-D 1 10 a"])),
        ["-U 1 10 a 1", "-U 1 5 c 2", "+U 1 5 c 1", "+U 1 3 b 2"]
    );
    // A change below the top, and one undone in the same batch, emit nothing.
    assert!(feed(&mut op, text(&["+I 1 1 d", "-U 1 5 c", "+U 1 5 c"])).is_empty());
    // A retraction of a row that is not there is ignored.
    assert!(feed(&mut op, text(&["-D 1 99 zz", "-D 3 1 a"])).is_empty());
    assert_eq!(op.unmatched_retractions(), 2);
    // The partition empties: one -D per rank.
    assert_eq!(
        feed(&mut op, text(&["-D 1 5 c", "-D 1 3 b", "-D 1 1 d"])),
        ["-D 1 5 c 1", "-D 1 3 b 2"]
    );
    assert_eq!(feed(&mut op, text(&["+I 1 4 e"])), ["+I 1 4 e 1"]);
}

#[test]
fn without_rank_only_membership_changes() {
    let mut op = RetractableRank::new(vec![], vec![desc(1)], 2, false).unwrap();
    assert_eq!(
        feed(&mut op, text(&["+I 1 10 a", "+I 2 20 b", "+I 3 5 c"])),
        ["+I 2 20 b", "+I 1 10 a"]
    );
    // b goes out and back (still in: nothing to say about it); d pushes a out.
    assert_eq!(
        feed(&mut op, text(&["-U 2 20 b", "+U 2 20 b", "+I 4 30 d"])),
        ["-D 1 10 a", "+I 4 30 d"]
    );
    // Retracting d brings a back.
    assert_eq!(
        feed(&mut op, text(&["-D 4 30 d"])),
        ["-D 4 30 d", "+I 1 10 a"]
    );
    // An update in place: -D old, +I new.
    assert_eq!(
        feed(&mut op, text(&["-U 1 10 a", "+U 1 11 a"])),
        ["-D 1 10 a", "+I 1 11 a"]
    );
}

#[test]
fn a_retraction_removes_the_first_equal_copy_like_flink() {
    // Equal sort keys rank by arrival; x arrives twice. Retracting x removes the first
    // copy, so y moves up to rank 1 (Flink walks its list of rows for the key in order).
    let mut op = RetractableRank::new(vec![0], vec![desc(1)], 3, true).unwrap();
    assert_eq!(
        feed(&mut op, text(&["+I 1 5 x", "+I 1 5 y", "+I 1 5 x"])),
        ["+I 1 5 x 1", "+I 1 5 y 2", "+I 1 5 x 3"]
    );
    assert_eq!(
        feed(&mut op, text(&["-D 1 5 x"])),
        [
            "-U 1 5 x 1",
            "-U 1 5 y 2",
            "-D 1 5 x 3",
            "+U 1 5 y 1",
            "+U 1 5 x 2"
        ]
    );
}

/// How the oracle and the operator order rows: by `v` as `SortKey` says, then (when
/// `by_id`) by `id` ascending, then by arrival.
#[derive(Debug, Clone, Copy)]
struct Order {
    descending: bool,
    nulls_first: bool,
    by_id: bool,
}

impl Order {
    fn keys(&self) -> Vec<SortKey> {
        let mut keys = vec![SortKey {
            column: 1,
            descending: self.descending,
            nulls_first: self.nulls_first,
        }];
        if self.by_id {
            keys.push(SortKey {
                column: 2,
                descending: false,
                nulls_first: false,
            });
        }
        keys
    }

    fn cmp(&self, a: &(Option<i64>, &str), b: &(Option<i64>, &str)) -> Ordering {
        let v = match (a.0, b.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) if self.nulls_first => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) if self.nulls_first => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) if self.descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
        };
        if self.by_id {
            v.then_with(|| a.1.cmp(b.1))
        } else {
            v
        }
    }
}

/// The input table a changelog builds, with each row's arrival number.
#[derive(Default)]
struct Oracle {
    rows: Vec<Live>,
    next: u64,
}

impl Oracle {
    fn apply(&mut self, c: &Change) {
        let (op, p, v, id) = c;
        if *op == INSERT || *op == UPDATE_AFTER {
            self.rows.push((*p, *v, id.clone(), self.next));
        } else if let Some(i) = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| (r.0, r.1, &r.2) == (*p, *v, id))
            .min_by_key(|(_, r)| r.3)
            .map(|(i, _)| i)
        {
            // Equal rows have equal keys: the first in rank order is the earliest.
            self.rows.remove(i);
        }
        self.next += 1;
    }

    /// The expected result: (p, v, id, rank if emit_rank) → count.
    fn top(&self, partitioned: bool, order: Order, limit: usize, emit_rank: bool) -> Table {
        let mut parts: BTreeMap<i64, Vec<&Live>> = BTreeMap::new();
        for r in &self.rows {
            parts
                .entry(if partitioned { r.0 } else { 0 })
                .or_default()
                .push(r);
        }
        let mut out = BTreeMap::new();
        for rows in parts.values_mut() {
            rows.sort_by(|a, b| {
                order
                    .cmp(&(a.1, &a.2), &(b.1, &b.2))
                    .then_with(|| a.3.cmp(&b.3))
            });
            for (rank, r) in rows.iter().take(limit).enumerate() {
                let rank = emit_rank.then_some(rank as i64 + 1);
                *out.entry((r.0, r.1, r.2.clone(), rank)).or_insert(0) += 1;
            }
        }
        out
    }
}

/// Apply an output batch to the table it builds; every retraction must find its row.
fn materialize(table: &mut Table, b: &RecordBatch, emit_rank: bool) {
    let p = b.column(0).as_primitive::<Int64Type>();
    let v = b.column(1).as_primitive::<Int64Type>();
    let id = b.column(2).as_string::<i32>();
    let ops = b.column(b.num_columns() - 1).as_primitive::<Int8Type>();
    for r in 0..b.num_rows() {
        let rank = emit_rank.then(|| b.column(3).as_primitive::<Int64Type>().value(r));
        let v = (!v.is_null(r)).then(|| v.value(r));
        let key = (p.value(r), v, id.value(r).to_string(), rank);
        let op = ops.value(r);
        if op == INSERT || op == UPDATE_AFTER {
            *table.entry(key).or_insert(0) += 1;
        } else {
            let n = table
                .get_mut(&key)
                .unwrap_or_else(|| panic!("retraction of absent output row {key:?}"));
            *n -= 1;
            if *n == 0 {
                table.remove(&key);
            }
        }
    }
}

/// A random changelog: inserts (ids from a small set, so equal rows and ties happen),
/// `-U`/`+U` pairs and deletes of live rows, and a few retractions of rows never added;
/// cut into random batches (an update's two rows may land in different batches).
fn random_changelog(rng: &mut StdRng, rows: usize) -> Vec<Vec<Change>> {
    let mut live: Vec<(i64, Option<i64>, String)> = Vec::new();
    let mut all = Vec::new();
    let value = |rng: &mut StdRng| (!rng.random_bool(0.1)).then(|| rng.random_range(0..6));
    while all.len() < rows {
        let roll = rng.random_range(0..100);
        if live.is_empty() || roll < 45 {
            let row = (
                rng.random_range(0..3),
                value(rng),
                ["a", "b", "c"][rng.random_range(0..3)].to_string(),
            );
            all.push((INSERT, row.0, row.1, row.2.clone()));
            live.push(row);
        } else if roll < 70 {
            let i = rng.random_range(0..live.len());
            let old = live[i].clone();
            all.push((UPDATE_BEFORE, old.0, old.1, old.2.clone()));
            live[i].1 = value(rng);
            all.push((UPDATE_AFTER, old.0, live[i].1, old.2));
        } else if roll < 95 {
            let old = live.swap_remove(rng.random_range(0..live.len()));
            all.push((DELETE, old.0, old.1, old.2));
        } else {
            all.push((DELETE, rng.random_range(0..3), value(rng), "ghost".into()));
        }
    }
    let mut batches = Vec::new();
    let mut rest = &all[..];
    while !rest.is_empty() {
        let n = rng.random_range(1..=12).min(rest.len());
        batches.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    batches
}

/// One random configuration.
#[derive(Debug, Clone, Copy)]
struct Config {
    partitioned: bool,
    order: Order,
    limit: usize,
    emit_rank: bool,
}

impl Config {
    fn random(rng: &mut StdRng) -> Config {
        Config {
            partitioned: rng.random_bool(0.7),
            order: Order {
                descending: rng.random_bool(0.5),
                nulls_first: rng.random_bool(0.5),
                by_id: rng.random_bool(0.3),
            },
            limit: [1, 2, 3, 5][rng.random_range(0..4)],
            emit_rank: rng.random_bool(0.5),
        }
    }

    fn partition(&self) -> Vec<usize> {
        if self.partitioned {
            vec![0]
        } else {
            vec![]
        }
    }

    fn make(&self) -> Result<RetractableRank> {
        RetractableRank::new(
            self.partition(),
            self.order.keys(),
            self.limit,
            self.emit_rank,
        )
    }
}

#[test]
fn oracle_random_changelogs() {
    let (mut rows_out, mut limits, mut ranked) = (0, [0usize; 6], 0);
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let c = Config::random(&mut rng);
        let mut op = c.make().unwrap();
        let mut oracle = Oracle::default();
        let mut table = BTreeMap::new();
        for (i, batch) in random_changelog(&mut rng, 120).iter().enumerate() {
            batch.iter().for_each(|ch| oracle.apply(ch));
            let mut out = Output::new();
            op.on_batch(
                0,
                changes(batch),
                &mut OpContext::new(0, 1, MAX_P),
                &mut out,
            )
            .unwrap();
            for item in out.items() {
                if let OutItem::Batch(_, b) = item {
                    rows_out += b.num_rows();
                    materialize(&mut table, b, c.emit_rank);
                }
            }
            let expected = oracle.top(c.partitioned, c.order, c.limit, c.emit_rank);
            assert_eq!(table, expected, "seed {seed} {c:?} after batch {i}");
        }
        limits[c.limit] += 1;
        ranked += usize::from(c.emit_rank);
    }
    assert!(
        limits.iter().filter(|&&n| n > 30).count() == 4,
        "{limits:?}"
    );
    assert!(ranked > 100 && ranked < 200, "{ranked}");
    assert!(rows_out > 10_000, "{rows_out} rows");
}

/// Random changelog batches as steps, with watermarks in between, then the end.
fn random_steps(rng: &mut StdRng) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, b) in random_changelog(rng, 80).iter().enumerate() {
        steps.push(Step::Batch(0, changes(b)));
        if rng.random_bool(0.3) {
            steps.push(Step::Watermark(i as i64));
        }
    }
    steps.push(Step::End);
    steps
}

#[test]
fn restore_at_every_cut_continues_exactly() {
    let mut compared = 0;
    for seed in 0..30u64 {
        let mut rng = StdRng::seed_from_u64(seed + 3000);
        let c = Config::random(&mut rng);
        let steps = random_steps(&mut rng);
        let make = || Ok(Box::new(c.make()?) as Box<dyn Operator>);
        for cut in 0..=steps.len() {
            restore_equivalence(&make, &steps, cut, 1, MAX_P)
                .unwrap_or_else(|e| panic!("seed {seed} {c:?} cut {cut}: {e}"));
            compared += 1;
        }
    }
    assert!(compared > 30 * 10, "{compared}");
}

/// The final table of a run cut after `cut` steps on `p_from` subtasks, snapshotted, and
/// restored into `p_to` subtasks that run the rest.
fn rescaled_table(c: &Config, steps: &[Step], cut: usize, p_from: usize, p_to: usize) -> Table {
    let mut items = Vec::new();
    let mut states = Vec::new();
    for (sub, part) in route(&steps[..cut], &c.partition(), p_from)
        .iter()
        .enumerate()
    {
        let mut op = c.make().unwrap();
        let mut ctx = OpContext::new(sub, p_from, MAX_P);
        items.extend(run_steps(&mut op, &mut ctx, part).unwrap());
        states.push(ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap());
    }
    let state = merge(states);
    for (sub, part) in route(&steps[cut..], &c.partition(), p_to)
        .iter()
        .enumerate()
    {
        let mut op = c.make().unwrap();
        let mut ctx = OpContext::new(sub, p_to, MAX_P);
        op.restore(state.clone(), &mut ctx).unwrap();
        items.extend(run_steps(&mut op, &mut ctx, part).unwrap());
    }
    let mut table = BTreeMap::new();
    for i in &items {
        if let OutItem::Batch(_, b) = i {
            materialize(&mut table, b, c.emit_rank);
        }
    }
    table
}

#[test]
fn rescale_keeps_every_partitions_result() {
    let mut compared = 0;
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed + 4000);
        let c = Config::random(&mut rng);
        let steps = random_steps(&mut rng);
        let mut oracle = Oracle::default();
        for s in &steps {
            if let Step::Batch(_, b) = s {
                let p = b.column(0).as_primitive::<Int64Type>();
                let v = b.column(1).as_primitive::<Int64Type>();
                let id = b.column(2).as_string::<i32>();
                let ops = b.column(3).as_primitive::<Int8Type>();
                for r in 0..b.num_rows() {
                    let v = (!v.is_null(r)).then(|| v.value(r));
                    oracle.apply(&(ops.value(r), p.value(r), v, id.value(r).to_string()));
                }
            }
        }
        let expected = oracle.top(c.partitioned, c.order, c.limit, c.emit_rank);
        for cut in [1, steps.len() / 2, rng.random_range(0..steps.len())] {
            for (p_from, p_to) in [(2, 1), (1, 3), (3, 2)] {
                let got = rescaled_table(&c, &steps, cut, p_from, p_to);
                assert_eq!(
                    got, expected,
                    "seed {seed} {c:?} cut {cut}: {p_from} -> {p_to}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 20 * 9);
}

#[test]
fn snapshot_holds_every_live_row_in_rank_order() {
    let mut op = RetractableRank::new(vec![0], vec![desc(1)], 1, false).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    let mut out = Output::new();
    let b = text(&[
        "+I 1 10 a",
        "+I 1 30 b",
        "+I 2 5 c",
        "+I 1 20 d",
        "-D 1 30 b",
    ]);
    op.on_batch(0, b, &mut ctx, &mut out).unwrap();
    let state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
    let table = state.table(ROWS_TABLE).unwrap();
    assert!(table.keyed);
    let lines: Vec<String> = table.batches.iter().flat_map(batch_lines).collect();
    // Key group, p, v, id, __seq: rows below the top N are kept too.
    let rows: Vec<String> = lines
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    assert_eq!(rows, ["1 20 d 3", "1 10 a 0", "2 5 c 2"]);
    // A restored operator snapshots the same rows and ranks on from them.
    let mut again = RetractableRank::new(vec![0], vec![desc(1)], 1, false).unwrap();
    again.restore(state.clone(), &mut ctx).unwrap();
    let second = again.snapshot(2, &mut ctx).unwrap();
    let second: Vec<String> = second
        .table(ROWS_TABLE)
        .unwrap()
        .batches
        .iter()
        .flat_map(batch_lines)
        .collect();
    assert_eq!(second, lines);
    assert_eq!(
        feed(&mut again, text(&["-D 1 20 d"])),
        ["-D 1 20 d", "+I 1 10 a"]
    );
}

#[test]
fn bad_configurations_and_inputs_are_errors() {
    assert!(matches!(
        RetractableRank::new(vec![0], vec![desc(1)], 0, true),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        RetractableRank::new(vec![0], vec![], 1, true),
        Err(Error::Plan(_))
    ));
    let schema_err = |mut op: RetractableRank, b: RecordBatch| {
        let e = op.on_batch(0, b, &mut OpContext::new(0, 1, MAX_P), &mut Output::new());
        assert!(matches!(e, Err(Error::Schema(_))), "{e:?}");
    };
    let make = |p: Vec<usize>, k: usize| RetractableRank::new(p, vec![desc(k)], 2, true).unwrap();
    // An insert-only input (no `$op`).
    schema_err(make(vec![0], 1), super::tests::pvi(&[(1, Some(1), "a")]));
    // Indices past the data columns (3 is `$op`).
    schema_err(make(vec![3], 1), text(&["+I 1 1 a"]));
    schema_err(make(vec![0], 3), text(&["+I 1 1 a"]));
    // A schema change between batches.
    let mut op = make(vec![0], 1);
    feed(&mut op, text(&["+I 1 1 a"]));
    let other = RecordBatch::try_from_iter([
        ("p", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        (OP_COLUMN, Arc::new(Int8Array::from(vec![0])) as ArrayRef),
    ])
    .unwrap();
    schema_err(op, other);
    // An unknown row kind is a data error, and nothing is applied.
    let mut op = make(vec![0], 1);
    let bad = changes(&[
        (INSERT, 1, Some(1), "a".into()),
        (7, 1, Some(2), "b".into()),
    ]);
    let e = op.on_batch(0, bad, &mut OpContext::new(0, 1, MAX_P), &mut Output::new());
    assert!(matches!(e, Err(Error::Data { .. })), "{e:?}");
    assert_eq!(feed(&mut op, text(&["+I 1 2 b"])), ["+I 1 2 b 1"]);
}
