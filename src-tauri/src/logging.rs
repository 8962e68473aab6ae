//! The app's one logging setup: daily-rotated files in the log folder (a
//! week kept), and stderr as well when `RUST_LOG` is set. The first line
//! names the version, the OS and the log folder. Secrets never reach a log:
//! they are held in `SecretString`, whose Debug output is redacted, and the
//! filter and scrubber of `pcs_core::logging` keep the HTTP stack at `info`
//! (unless `PCS_WIRE_LOG=1`) and scrub every line.

use std::path::Path;

use pcs_core::logging::{filter_directives, wire_opt_in, Scrubbing, WIRE_LOG_VAR};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Log files kept.
const KEEP_FILES: usize = 7;

/// Starts logging; keep the guard alive until exit so the last lines are
/// written. `None` when the log folder cannot be used (then only stderr,
/// when asked for).
pub fn init(log_dir: &Path) -> Option<WorkerGuard> {
    let requested = std::env::var("RUST_LOG").ok();
    let wire = wire_opt_in(std::env::var(WIRE_LOG_VAR).ok().as_deref());
    let filter = EnvFilter::try_new(filter_directives(requested.as_deref(), wire))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(None, wire)));
    let stderr = requested
        .is_some()
        .then(|| fmt::layer().with_writer(Scrubbing(std::io::stderr)));
    let file = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("app")
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(log_dir);
    let (file_layer, guard) = match file {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(fmt::layer().with_ansi(false).with_writer(Scrubbing(writer))),
                Some(guard),
            )
        }
        Err(_) => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr)
        .try_init();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        os = std::env::consts::OS,
        log_dir = %log_dir.display(),
        "Peloton Coda Sync app starting"
    );
    guard
}
