//! Generates Tauri's context and the permission set of the app's own
//! commands, so that each command is callable only where a capability
//! grants it.

/// Every command in `src/commands.rs`; a command missing here is refused by
/// the IPC layer, however the capability reads.
const COMMANDS: &[&str] = &[
    "get_dashboard",
    "get_settings",
    "save_settings",
    "test_connection",
    "recheck_doc",
    "sync_now",
    "open_settings",
    "forget_credentials",
    "write_every_row_again",
    "sign_in_with_peloton",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("failed to run the Tauri build script");
}
