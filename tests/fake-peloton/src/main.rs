//! `fake-peloton --port N`: runs the fake server.
fn main() {}
