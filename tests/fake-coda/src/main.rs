//! `fake-coda --port N`: runs the fake server.
fn main() {}
