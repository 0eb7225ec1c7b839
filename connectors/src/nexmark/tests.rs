use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMillisecondType;
use arrow::util::display::array_value_to_string;
use millstream_core::batch::BatchConfig;
use millstream_core::connector::{SourceContext, SourceFactory, SourcePoll};

use super::*;

fn ctx(subtask: usize, parallelism: usize, batch_size: usize) -> SourceContext {
    SourceContext {
        subtask,
        parallelism,
        batch: BatchConfig {
            batch_size,
            max_delay: Duration::from_millis(50),
        },
    }
}

/// Every batch of every subtask, in subtask order.
fn drain(f: &dyn SourceFactory, parallelism: usize, batch_size: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for i in 0..parallelism {
        let mut s = f.create(&ctx(i, parallelism, batch_size)).unwrap();
        loop {
            match s.poll().unwrap() {
                SourcePoll::Batch(b) => {
                    assert_eq!(b.schema(), f.schema());
                    assert!(b.num_rows() > 0);
                    out.push(b);
                }
                SourcePoll::Pending(_) => panic!("unthrottled source is never pending"),
                SourcePoll::End => break,
            }
        }
    }
    out
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, r).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

fn all_tables(events: u64) -> Vec<NexmarkSource> {
    let cfg = NexmarkConfig::bounded(events);
    vec![
        NexmarkSource::person(cfg.clone(), None).unwrap(),
        NexmarkSource::auction(cfg.clone(), None).unwrap(),
        NexmarkSource::bid(cfg, None).unwrap(),
    ]
}

#[test]
fn same_seed_gives_same_batches() {
    for f in all_tables(5_000) {
        let a = drain(&f, 1, 1000);
        let b = drain(&f, 1, 1000);
        assert_eq!(a, b, "{}", f.name());
    }
    let other = NexmarkSource::bid(
        NexmarkConfig {
            seed: 7,
            ..NexmarkConfig::bounded(5_000)
        },
        None,
    )
    .unwrap();
    assert_ne!(
        rows(&drain(&other, 1, 1000)),
        rows(&drain(&all_tables(5_000)[2], 1, 1000))
    );
}

#[test]
fn parallel_split_gives_the_same_events() {
    for f in all_tables(7_777) {
        let mut base = rows(&drain(&f, 1, 256));
        base.sort();
        for p in [2, 3] {
            let mut got = rows(&drain(&f, p, 256));
            got.sort();
            assert_eq!(got, base, "{} at p = {p}", f.name());
        }
        // The values of an event do not depend on how events are batched either.
        let mut other = rows(&drain(&f, 2, 1000));
        other.sort();
        assert_eq!(other, base, "{} with another batch size", f.name());
    }
}

#[test]
fn proportions_are_1_3_46() {
    let counts: Vec<usize> = all_tables(50_000)
        .iter()
        .map(|f| drain(f, 2, 4096).iter().map(|b| b.num_rows()).sum())
        .collect();
    assert_eq!(counts, vec![1_000, 3_000, 46_000]);
}

#[test]
fn projection_returns_only_requested_columns() {
    let cols = vec!["price".to_string(), "auction".to_string()];
    let f = NexmarkSource::bid(NexmarkConfig::bounded(2_000), Some(cols)).unwrap();
    let batches = drain(&f, 1, 1024);
    let schema = f.schema();
    let names: Vec<&str> = schema.fields().iter().map(|x| x.name().as_str()).collect();
    assert_eq!(names, ["price", "auction"]);
    assert!(batches.iter().all(|b| b.num_columns() == 2));

    // The projected values equal the same columns of the full table.
    let full = NexmarkSource::bid(NexmarkConfig::bounded(2_000), None).unwrap();
    let full_rows = drain(&full, 1, 1024);
    let proj: Vec<RecordBatch> = full_rows
        .iter()
        .map(|b| b.project(&[2, 0]).unwrap())
        .collect();
    assert_eq!(rows(&batches), rows(&proj));

    // An empty projection still counts rows (for count(*)).
    let none = NexmarkSource::bid(NexmarkConfig::bounded(2_000), Some(vec![])).unwrap();
    let n: usize = drain(&none, 1, 1024).iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 1_840);

    let err = NexmarkSource::person(NexmarkConfig::default(), Some(vec!["nope".into()]));
    assert!(matches!(err, Err(Error::Plan(m)) if m.contains("'nope'")));
}

#[test]
fn event_time_is_monotone_up_to_the_delay() {
    let cfg = NexmarkConfig {
        max_delay_ms: 500,
        ..NexmarkConfig::bounded(100_000)
    };
    for f in [
        NexmarkSource::bid(cfg.clone(), Some(vec!["date_time".into()])).unwrap(),
        NexmarkSource::person(cfg.clone(), Some(vec!["date_time".into()])).unwrap(),
    ] {
        let mut max = i64::MIN;
        let mut delayed = 0usize;
        let mut total = 0usize;
        for b in drain(&f, 1, 4096) {
            let ts = b.column(0).as_primitive::<TimestampMillisecondType>();
            for &t in ts.values() {
                assert!(
                    t >= max.saturating_sub(500),
                    "{t} is more than 500 ms behind {max}"
                );
                assert!(t >= cfg.base_time_ms - 500);
                delayed += usize::from(t < max);
                max = max.max(t);
                total += 1;
            }
        }
        // 10 % of the events are delayed; at 10 events per ms most of them fall behind.
        assert!(
            delayed > total / 20 && delayed < total / 5,
            "{delayed} of {total}"
        );
        assert!(max <= cfg.base_time_ms + 10_000);
    }
}

#[test]
fn field_values_are_plausible() {
    let cfg = NexmarkConfig::bounded(200_000);
    let bids = drain(&NexmarkSource::bid(cfg.clone(), None).unwrap(), 1, 8192);
    let mut channels: HashMap<String, usize> = HashMap::new();
    let mut hot = 0usize;
    let mut n = 0usize;
    for b in &bids {
        let auction = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        let price = b.column(2).as_primitive::<arrow::datatypes::Int64Type>();
        let channel = b.column(3).as_string::<i32>();
        let url = b.column(4).as_string::<i32>();
        let extra = b.column(6).as_string::<i32>();
        for i in 0..b.num_rows() {
            assert!(auction.value(i) >= 1000);
            assert!((100..=100_000_000).contains(&price.value(i)));
            assert!(url.value(i).starts_with("https://www.nexmark.com/"));
            assert!((54..=81).contains(&extra.value(i).len()));
            hot += usize::from(auction.value(i) % 100 == 0);
            *channels.entry(channel.value(i).to_string()).or_default() += 1;
            n += 1;
        }
    }
    // Half the bids go to the hot auction (an id that is a multiple of 100).
    assert!(hot > n * 45 / 100 && hot < n * 60 / 100, "{hot} of {n}");
    // Half the bids use one of the four hot channels.
    let google = channels.get("Google").copied().unwrap_or(0);
    assert!(google > n / 10 && google < n * 15 / 100, "{google} of {n}");

    let people = drain(&NexmarkSource::person(cfg.clone(), None).unwrap(), 1, 8192);
    let p = &people[0];
    assert_eq!(
        p.column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(1),
        1001
    );
    let card = p.column(3).as_string::<i32>().value(0);
    assert_eq!(card.len(), 19);
    assert!(p.column(2).as_string::<i32>().value(0).ends_with(".com"));

    let auctions = drain(&NexmarkSource::auction(cfg, None).unwrap(), 1, 8192);
    for a in &auctions {
        let dt = a.column(5).as_primitive::<TimestampMillisecondType>();
        let ex = a.column(6).as_primitive::<TimestampMillisecondType>();
        let init = a.column(3).as_primitive::<arrow::datatypes::Int64Type>();
        let reserve = a.column(4).as_primitive::<arrow::datatypes::Int64Type>();
        let cat = a.column(8).as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..a.num_rows() {
            assert!(ex.value(i) > dt.value(i));
            assert!(reserve.value(i) > init.value(i));
            assert!((10..15).contains(&cat.value(i)));
        }
        assert!(a.column(9).null_count() == 0);
    }
}

#[test]
fn throttle_limits_the_rate() {
    let cfg = NexmarkConfig {
        max_rate: Some(20_000),
        ..NexmarkConfig::bounded(1_000_000)
    };
    let f = NexmarkSource::bid(cfg, Some(vec!["price".into()])).unwrap();
    let mut s = f.create(&ctx(0, 2, 16 * 1024)).unwrap();
    let start = Instant::now();
    let mut rows = 0;
    while start.elapsed() < Duration::from_millis(300) {
        match s.poll().unwrap() {
            SourcePoll::Batch(b) => rows += b.num_rows(),
            SourcePoll::Pending(d) => {
                assert!(d <= Duration::from_millis(100));
                std::thread::sleep(d);
            }
            SourcePoll::End => panic!("not the end yet"),
        }
    }
    // 10,000 events/s for this subtask: about 3,000 events in 300 ms, in partial batches.
    let events = s.position();
    assert!(events > 1_000 && events < 4_500, "{events} events");
    assert!(rows > 0);
}

fn measure_bids(what: &str, events: u64, columns: Option<Vec<String>>) {
    let f = NexmarkSource::bid(NexmarkConfig::bounded(events), columns).unwrap();
    let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
    let mut rows = 0;
    for _ in 0..3 {
        let (start, cpu) = (Instant::now(), crate::generator::thread_cpu_secs());
        let mut s = f.create(&ctx(0, 1, 16 * 1024)).unwrap();
        rows = 0;
        while let SourcePoll::Batch(b) = s.poll().unwrap() {
            rows += b.num_rows();
        }
        best = best.min(start.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(crate::generator::thread_cpu_secs() - cpu);
    }
    println!(
        "{what}: {:.1} M events/s ({:.1} M rows/s) wall, {:.1} M events/s per CPU second; \
         best of 3, {events} events",
        events as f64 / best / 1e6,
        rows as f64 / best / 1e6,
        events as f64 / best_cpu / 1e6,
    );
}

/// Rate of the bid source with the columns of the q1/q2-style queries, release build:
/// `cargo test -p millstream-connectors --release -- --ignored --nocapture bid_throughput`.
#[test]
#[ignore]
fn bid_throughput() {
    let columns = ["auction", "bidder", "price", "date_time"];
    measure_bids(
        "bid(auction, bidder, price, date_time)",
        200_000_000,
        Some(columns.iter().map(|c| c.to_string()).collect()),
    );
}

/// Rate of the bid source with all columns (strings included), release build.
#[test]
#[ignore]
fn bid_throughput_all_columns() {
    measure_bids("bid(all columns)", 50_000_000, None);
}
