//! Structured planner fuzzing: the input bytes drive a SQL generator
//! (`millstream_fuzz::gen`) over the catalog's tables and columns, so most inputs parse
//! and reach deep planner paths (window TVFs, group windows, joins, Top-N, casts). The
//! statement is explained, never run. `cargo fuzz fmt sql_plan_gen <artifact>` prints it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millstream_fuzz::gen::GenSql;

fuzz_target!(|sql: GenSql| {
    let _ = millstream_fuzz::explain(&sql.0);
});
