//! Keeping the idle tray app light (issue 6): most of the day the app is an
//! icon with no window, and its memory should look like it.
//!
//! Two things measured with `make bench` (the per-mapping profile it
//! prints) made the idle app heavy, and are undone here:
//! - GTK 3 on X11 loads the OpenGL driver when it opens the display, only to
//!   pick visuals for GL drawing the tray never does: with Mesa that maps
//!   LLVM and the driver, about 50 MB resident. [`no_gl_in_tray`] turns that
//!   off. The windows still draw: WebKit sees GTK without GL, turns its GPU
//!   compositing off (it logs a warning saying so) and draws in software,
//!   which two small, mostly still windows do not notice.
//! - A sync or a closed window frees memory that glibc keeps in its arenas
//!   for reuse; [`give_back_freed`] returns the free pages to the system.

/// The variable GDK 3 reads once, when it starts, to decide about OpenGL.
const GDK_GL: &str = "GDK_GL";

/// Tells GDK not to set up OpenGL for this process, unless the user set
/// `GDK_GL` themselves. Must run before GTK starts and before any thread
/// (it changes the environment), so `main` calls it first. Programs the app
/// starts (WebKit's helpers, a file manager for "Open log folder") inherit
/// the variable; only GTK 3's own GL drawing (`GtkGLArea`) reads it, and
/// it is not removed later, as changing the environment once threads run
/// is not safe.
pub fn no_gl_in_tray() {
    if let Some(value) = gdk_gl_to_set(cfg!(target_os = "linux"), std::env::var_os(GDK_GL)) {
        // Only the main thread exists yet: nothing reads the environment
        // concurrently.
        std::env::set_var(GDK_GL, value);
    }
}

/// What `GDK_GL` should be set to, given the platform and its current value.
fn gdk_gl_to_set(linux: bool, current: Option<std::ffi::OsString>) -> Option<&'static str> {
    (linux && current.is_none()).then_some("disable")
}

/// Returns memory freed since the last call to the system: after a sync
/// (its JSON, rows and buffers) and after a window closed (its webview).
/// Costs a walk over the allocator's free lists, a few milliseconds.
#[allow(unsafe_code)] // The workspace's one unsafe call (see Cargo.toml).
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only releases free memory the
    // allocator owns, under the allocator's own locks; safe at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gl_is_turned_off_on_linux_unless_the_user_chose() {
        assert_eq!(gdk_gl_to_set(true, None), Some("disable"));
        assert_eq!(gdk_gl_to_set(true, Some("always".into())), None);
        assert_eq!(gdk_gl_to_set(false, None), None);
    }
}
