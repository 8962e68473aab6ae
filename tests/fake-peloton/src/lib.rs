//! Fake peloton server.
