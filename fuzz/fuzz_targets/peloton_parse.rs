//! libFuzzer entry point: arbitrary bytes as a Peloton answer. The work is
//! in [`pcs_fuzz::peloton_parse`], which a stable test also runs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcs_fuzz::peloton_parse(data));
