//! The full-resolution archive: each workout's performance graph at one
//! sample a second (`every_n=1`), exactly the bytes Peloton sent, deflated.
//!
//! The rows need only the graph's aggregates (`graph_json` of `workouts`);
//! the archive keeps the samples for the exports, offline. Deflate (flate2,
//! already in the build for HTTP gzip) shrinks the JSON's long number
//! arrays several times over; the bytes come back bit for bit.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use rusqlite::{params, OptionalExtension};

use super::error::sql;
use super::{to_ms, Store, StoreError};

/// How big the archive is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveSize {
    /// Graphs archived.
    pub graphs: u64,
    /// Their size as stored (deflated), in bytes.
    pub stored_bytes: u64,
    /// Their size as Peloton sent them, in bytes.
    pub raw_bytes: u64,
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn inflate(bytes: &[u8], expected_len: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected_len);
    DeflateDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

impl Store {
    /// Keeps `body`, the full-resolution graph of workout `id` as Peloton
    /// sent it, replacing an older copy.
    pub fn save_graph_archive(
        &mut self,
        id: &str,
        body: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        upsert_archive(&self.conn, id, body, at)
    }

    /// Backfills a workout stored before the archive existed: its graph's
    /// archive and, in the same transaction, the aggregates the rows read
    /// (so the new optional columns fill for old workouts too).
    pub fn save_backfilled_graph(
        &mut self,
        id: &str,
        body: &[u8],
        graph_json: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(sql("archiving a performance graph"))?;
        tx.execute(
            "UPDATE workouts SET graph_json = ?2 WHERE id = ?1",
            params![id, graph_json],
        )
        .map_err(sql("archiving a performance graph"))?;
        upsert_archive(&tx, id, body, at)?;
        tx.commit().map_err(sql("archiving a performance graph"))
    }

    /// The archived graph of workout `id`, exactly as Peloton sent it.
    pub fn archived_graph(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let found: Option<(Vec<u8>, i64)> = self
            .conn
            .query_row(
                "SELECT body, raw_len FROM graph_archive WHERE workout_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("reading the archive"))?;
        let Some((packed, raw_len)) = found else {
            return Ok(None);
        };
        let expected = usize::try_from(raw_len).unwrap_or(0);
        let body = inflate(&packed, expected).map_err(|e| StoreError::BadValue {
            table: "graph_archive",
            column: "body",
            detail: e.to_string(),
        })?;
        if body.len() != expected {
            return Err(StoreError::BadValue {
                table: "graph_archive",
                column: "body",
                detail: format!("{} bytes where {expected} were stored", body.len()),
            });
        }
        Ok(Some(body))
    }

    /// Up to `limit` stored workouts without an archived graph, newest first,
    /// leaving out those whose graph was unavailable until after `now`.
    pub fn workouts_without_archive(
        &self,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT w.id FROM workouts w
                 WHERE NOT EXISTS (SELECT 1 FROM graph_archive a WHERE a.workout_id = w.id)
                   AND NOT EXISTS (SELECT 1 FROM graph_unavailable u
                                   WHERE u.workout_id = w.id AND u.retry_after > ?2)
                 ORDER BY w.start_time DESC, w.id DESC LIMIT ?1",
            )
            .map_err(sql("reading the archive"))?;
        let ids = stmt
            .query_map(params![limit, to_ms(now)], |r| r.get(0))
            .map_err(sql("reading the archive"))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(sql("reading the archive"));
        ids
    }

    /// Records that Peloton did not send workout `id`'s graph in a usable
    /// form: the backfill passes it by until `retry_after`.
    pub fn mark_graph_unavailable(
        &mut self,
        id: &str,
        retry_after: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO graph_unavailable(workout_id, retry_after) VALUES (?1, ?2)
                 ON CONFLICT(workout_id) DO UPDATE SET retry_after = excluded.retry_after",
                params![id, to_ms(retry_after)],
            )
            .map(drop)
            .map_err(sql("recording a missing performance graph"))
    }

    /// How many graphs are archived and how much room they take.
    pub fn archive_size(&self) -> Result<ArchiveSize, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0), COALESCE(SUM(raw_len), 0)
                 FROM graph_archive",
                [],
                |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok(ArchiveSize {
                        graphs: n(0)?,
                        stored_bytes: n(1)?,
                        raw_bytes: n(2)?,
                    })
                },
            )
            .map_err(sql("reading the archive"))
    }
}

/// Writes `body`, deflated, as the archive of workout `id`: the one upsert
/// both the fetch and the backfill use (on a connection or a transaction).
fn upsert_archive(
    conn: &rusqlite::Connection,
    id: &str,
    body: &[u8],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let packed = deflate(body);
    let raw_len = i64::try_from(body.len()).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO graph_archive(workout_id, body, raw_len, archived_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(workout_id) DO UPDATE SET
            body = excluded.body, raw_len = excluded.raw_len,
            archived_at = excluded.archived_at",
        params![id, packed, raw_len, to_ms(at)],
    )
    .map_err(sql("archiving a performance graph"))?;
    conn.execute("DELETE FROM graph_unavailable WHERE workout_id = ?1", [id])
        .map(drop)
        .map_err(sql("archiving a performance graph"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredWorkout;
    use chrono::TimeZone;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/peloton/");

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn stored(id: &str, start: i64) -> StoredWorkout {
        StoredWorkout {
            id: id.into(),
            user_id: "me".into(),
            start_time: t(start),
            fingerprint: "f".into(),
            detail_json: format!("{{\"id\":\"{id}\"}}"),
            graph_json: Some("{}".into()),
        }
    }

    #[test]
    fn every_fixture_graph_round_trips_bit_for_bit_and_shrinks() {
        let mut s = Store::open_in_memory().unwrap();
        let mut raw_total = 0u64;
        for entry in std::fs::read_dir(FIXTURES).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if !name.starts_with("performance_graph_") {
                continue;
            }
            let body = std::fs::read(format!("{FIXTURES}{name}")).unwrap();
            raw_total += body.len() as u64;
            s.save_graph_archive(&name, &body, t(1)).unwrap();
            assert_eq!(
                s.archived_graph(&name).unwrap().as_deref(),
                Some(&body[..]),
                "{name}"
            );
        }
        let size = s.archive_size().unwrap();
        assert_eq!(size.graphs, 11);
        assert_eq!(size.raw_bytes, raw_total);
        assert!(
            size.stored_bytes * 4 < size.raw_bytes,
            "{size:?}: deflate should shrink the JSON at least 4 times"
        );
        // Odd bytes (not JSON, not UTF-8) come back the same too.
        let odd: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        s.save_graph_archive("odd", &odd, t(2)).unwrap();
        assert_eq!(s.archived_graph("odd").unwrap(), Some(odd));
        assert_eq!(s.archived_graph("absent").unwrap(), None);
    }

    #[test]
    fn the_backfill_list_is_newest_first_and_shrinks_as_graphs_arrive() {
        let mut s = Store::open_in_memory().unwrap();
        for (id, start) in [("a", 100), ("b", 300), ("c", 200)] {
            s.save_workout(&stored(id, start), t(1)).unwrap();
        }
        assert_eq!(
            s.workouts_without_archive(10, t(1)).unwrap(),
            ["b", "c", "a"]
        );
        assert_eq!(s.workouts_without_archive(1, t(1)).unwrap(), ["b"]);
        s.save_backfilled_graph("b", b"{\"x\":1}", "{\"summaries\":[]}", t(2))
            .unwrap();
        assert_eq!(s.workouts_without_archive(10, t(2)).unwrap(), ["c", "a"]);
        assert_eq!(
            s.workout("b").unwrap().unwrap().graph_json.as_deref(),
            Some("{\"summaries\":[]}")
        );
        // A workout forgotten takes its archive with it.
        s.delete_workouts(&["b"]).unwrap();
        assert_eq!(s.archived_graph("b").unwrap(), None);
        assert_eq!(s.archive_size().unwrap().graphs, 0);
    }

    #[test]
    fn an_unavailable_graph_is_passed_by_until_its_retry_time() {
        let mut s = Store::open_in_memory().unwrap();
        for (id, start) in [("a", 100), ("b", 300)] {
            s.save_workout(&stored(id, start), t(1)).unwrap();
        }
        s.mark_graph_unavailable("b", t(50)).unwrap();
        assert_eq!(s.workouts_without_archive(10, t(49)).unwrap(), ["a"]);
        assert_eq!(s.workouts_without_archive(10, t(50)).unwrap(), ["b", "a"]);
        s.mark_graph_unavailable("b", t(90)).unwrap();
        assert_eq!(s.workouts_without_archive(10, t(60)).unwrap(), ["a"]);
        // Archived at last, it is no longer marked.
        s.save_backfilled_graph("b", b"{}", "{}", t(95)).unwrap();
        let marked: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM graph_unavailable", [], |r| r.get(0))
            .unwrap();
        assert_eq!(marked, 0);
    }

    #[test]
    fn a_damaged_archive_is_a_bad_value_not_wrong_bytes() {
        let mut s = Store::open_in_memory().unwrap();
        s.save_graph_archive("a", b"some graph", t(1)).unwrap();
        s.conn
            .execute("UPDATE graph_archive SET body = x'00ffee'", [])
            .unwrap();
        let err = s.archived_graph("a").unwrap_err();
        assert!(matches!(err, StoreError::BadValue { .. }), "{err:?}");
    }
}
