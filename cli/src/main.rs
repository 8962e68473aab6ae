//! `peloton-coda-sync`: the CLI, see shared/spec/cli.md.
fn main() {}
