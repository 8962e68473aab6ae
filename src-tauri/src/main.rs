//! The tray app's entry point: everything lives in the library so tests can
//! reach it.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // First, while the process has one thread (see the function).
    pcs_app::memory::no_gl_in_tray();
    std::process::exit(pcs_app::run());
}
