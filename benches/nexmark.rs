//! Nexmark queries end to end on the built-in generator (1 M events per iteration), with the
//! bare generator as the baseline so the results read as ratios from one run.
//!
//! `cargo bench --bench nexmark`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use millstream::connectors::NexmarkConfig;
use millstream::core::api::StreamExecutionEnvironment;
use millstream::core::operator::sink::BlackholeSink;
use millstream::nexmark::{build_query, NexmarkInput};

const EVENTS: u64 = 1_000_000;

fn run(query: &str) {
    let env = StreamExecutionEnvironment::new();
    let input = NexmarkInput::Generator(NexmarkConfig::bounded(EVENTS));
    build_query(&env, &input, query)
        .expect("query builds")
        .sink_to(Arc::new(BlackholeSink));
    env.execute(query).expect("query runs");
}

fn generator_only() {
    let env = StreamExecutionEnvironment::new();
    let input = NexmarkInput::Generator(NexmarkConfig::bounded(EVENTS));
    input
        .stream(
            &env,
            millstream::connectors::NexmarkTable::Bid,
            &["auction", "bidder", "price", "date_time"],
        )
        .expect("source builds")
        .sink_to(Arc::new(BlackholeSink));
    env.execute("generator").expect("generator runs");
}

fn nexmark(c: &mut Criterion) {
    let mut g = c.benchmark_group("nexmark");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("baseline generator bid 4 columns", |b| {
        b.iter(generator_only)
    });
    for q in ["q0", "q1", "q2", "q5", "q7", "tumble_count"] {
        g.bench_function(q, |b| b.iter(|| run(q)));
    }
    g.finish();
}

criterion_group!(benches, nexmark);
criterion_main!(benches);
