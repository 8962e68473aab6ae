//! One outdoor workout's GPS track as a GPX 1.1 file: one track, one
//! segment per stretch of `location_data` (a pause starts a new one), each
//! fix with its time.

use std::fmt::Write;

use super::samples::Samples;
use super::tcx::time;
use super::xml_escape;
use super::Totals;

/// The whole file; `None` when the workout has no GPS track.
pub(super) fn write(t: &Totals, s: &Samples) -> Option<String> {
    if !s.has_track() {
        return None;
    }
    let mut x = String::with_capacity(300 + s.track.iter().map(Vec::len).sum::<usize>() * 90);
    x.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"Peloton Coda Sync\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
    );
    let name = xml_escape(&t.title);
    let _ = writeln!(
        x,
        "  <metadata><name>{name}</name><time>{}</time></metadata>",
        time(t.start, 0)
    );
    let _ = writeln!(
        x,
        "  <trk><name>{name}</name><type>{}</type>",
        xml_escape(&t.discipline)
    );
    for seg in s.track.iter().filter(|seg| !seg.is_empty()) {
        x.push_str("    <trkseg>\n");
        for f in seg {
            let _ = writeln!(
                x,
                "      <trkpt lat=\"{}\" lon=\"{}\"><time>{}</time></trkpt>",
                f.lat,
                f.lon,
                time(t.start, f.offset)
            );
        }
        x.push_str("    </trkseg>\n");
    }
    x.push_str("  </trk>\n</gpx>\n");
    Some(x)
}
