//! Which of the app's tray icons a PNG shows: the tray's icon file is the
//! app's PNG decoded and written again, so pixels are compared, not bytes.

use std::path::Path;

use anyhow::{Context, Result};

/// The tray icons by the state they stand for (file `icons/tray-<name>@2x.png`).
pub const TRAY_ICONS: [&str; 5] = [
    "up-to-date",
    "syncing",
    "paused",
    "offline",
    "needs-attention",
];

fn icons_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../icons"))
}

/// Width, height and RGBA pixels of a PNG.
pub fn rgba(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok((info.width, info.height, buf))
}

/// The name of the tray icon `file` shows, or `None` for none of them.
pub fn tray_icon_name(file: &Path) -> Result<Option<&'static str>> {
    let shown = rgba(&std::fs::read(file).with_context(|| format!("reading {}", file.display()))?)?;
    for name in TRAY_ICONS {
        let path = icons_dir().join(format!("tray-{name}@2x.png"));
        let want =
            rgba(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
        if want == shown {
            return Ok(Some(name));
        }
    }
    Ok(None)
}
