//! WordCount, as in Flink's example: lines from a collection, split into words, mapped to
//! (word, 1), keyed by word, reduced by summing, printed. Each word occurrence prints the
//! rolling count, as Flink's streaming WordCount does.
//!
//! Run with `cargo run --example wordcount`.

use millstream::prelude::*;

const TEXT: &[&str] = &[
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
];

fn main() -> Result<()> {
    let env = StreamExecutionEnvironment::new();
    env.from_collection(TEXT.iter().map(|s| s.to_string()).collect())?
        .flat_map(|line: String, out: &mut Vec<(String, i64)>| {
            out.extend(
                line.to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| (w.to_string(), 1)),
            )
        })
        .key_by_fn(|wc: &(String, i64)| wc.0.clone())
        .reduce(|a: (String, i64), b: (String, i64)| (a.0, a.1 + b.1))
        .map(|(word, count): (String, i64)| (word, count))
        .print();
    env.execute("wordcount")?;
    Ok(())
}
