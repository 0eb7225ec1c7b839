//! Any text through the script splitter and the statement parser (`parse_script`): an
//! error is fine, a panic or a stack overflow is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|script: &str| {
    let _ = millstream_core::sql::statement::parse_script(script);
});
