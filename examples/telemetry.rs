//! Monitoring data: per host and metric, the average and maximum value per 10 s tumbling
//! window, with a few very late rows routed to a side output instead of being lost.
//!
//! Run with `cargo run --release --example telemetry`.

use std::sync::Arc;
use std::time::Duration;

use millstream::connectors::{TelemetryConfig, TelemetrySource};
use millstream::prelude::*;

fn main() -> Result<()> {
    let env = StreamExecutionEnvironment::new();
    let source = TelemetrySource::new(TelemetryConfig::bounded(2_000_000), None)?;
    let readings = env.from_source(
        Arc::new(source),
        Some(WatermarkStrategy::bounded_out_of_orderness(
            "ts",
            Duration::from_secs(1),
        )),
    );
    let stats = readings
        .key_by(["host", "metric"])
        .window(WindowAssigner::tumble(Duration::from_secs(10)))
        .side_output_late_data()
        .aggregate(vec![
            AggSpec::avg("value", "avg"),
            AggSpec::max("value", "max"),
            AggSpec::count("n"),
        ])
        .name("stats");
    let late = stats.late_data().collect();
    let windows = stats.collect();
    let job = env.execute("telemetry")?;
    println!(
        "{} window results, {} late rows kept aside, in {:.2} s",
        windows.num_rows(),
        late.num_rows(),
        job.elapsed.as_secs_f64()
    );
    if let Some(first) = windows.concat()? {
        println!(
            "{}",
            arrow::util::pretty::pretty_format_batches(&[first.slice(0, 5.min(first.num_rows()))])?
        );
    }
    Ok(())
}
