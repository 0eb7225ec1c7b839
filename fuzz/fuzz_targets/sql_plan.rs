//! Any text planned against a fixed catalog (`millstream_fuzz::SETUP_DDL`): one query or
//! `INSERT` is explained; a longer script runs its DDL in a fresh catalog and explains its
//! last statement. No job ever runs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|script: &str| {
    millstream_fuzz::plan_script(script);
});
