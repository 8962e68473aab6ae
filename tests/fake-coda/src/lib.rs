//! Fake coda server.
