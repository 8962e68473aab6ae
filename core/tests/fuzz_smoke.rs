//! The `peloton_parse` fuzz target's function (`fuzz/src/lib.rs`) run on
//! stable over every Peloton fixture, each also cut short at many points
//! and with bytes flipped: the code path the fuzzer explores stays tested
//! in `make test`, which has no nightly toolchain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/src/lib.rs"]
mod pcs_fuzz;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/peloton/");

#[test]
fn the_fuzz_target_survives_the_fixtures_cut_and_flipped() {
    let mut files = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The OpenAPI description is not an answer.
        if !name.ends_with(".json") || name.starts_with("pelo-tech") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        pcs_fuzz::peloton_parse(&bytes);
        // Fewer cuts of the big graphs: a debug build decodes them slowly.
        let cuts = if bytes.len() > 100_000 { 4 } else { 16 };
        let step = (bytes.len() / cuts).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            pcs_fuzz::peloton_parse(&bytes[..cut]);
            let mut flipped = bytes.clone();
            flipped[cut] ^= 0x20;
            pcs_fuzz::peloton_parse(&flipped);
        }
    }
    assert!(files >= 15, "only {files} fixtures found in {FIXTURES}");
}
