//! What the X display really shows: a window's pixels read off the X server
//! (Xvfb), for windows WebDriver cannot photograph. WebKitWebDriver's
//! screenshot waits for the page's next frame; the demo's app runs without
//! WebDriver, and a main window first shown under Settings never gives that
//! frame to WebDriver. Reading the screen needs neither.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};

/// The X id of the shown window titled exactly `title` (through xdotool).
pub async fn window_id(title: &str) -> Result<u32> {
    let exact = format!("^{}$", regex_escape(title));
    let out = tokio::process::Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", &exact])
        .output()
        .await
        .context("running xdotool")?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow!("no window {title:?} on screen"))
}

/// Raises the shown window titled exactly `title` above the others: Xvfb
/// has no window manager, so a window stays below whatever was shown after
/// it (Settings, the larger, covers the main window; both are centred).
pub async fn raise(title: &str) -> Result<()> {
    let id = window_id(title).await?;
    let out = tokio::process::Command::new("xdotool")
        .args(["windowraise", &id.to_string()])
        .output()
        .await
        .context("running xdotool")?;
    if !out.status.success() {
        bail!(
            "raising {title:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Width, height and RGB pixels of the window `id`, as the screen shows it.
pub fn capture(id: u32) -> Result<(u32, u32, Vec<u8>)> {
    let (conn, _) = x11rb::connect(None).context("connecting to the X display")?;
    let geometry = conn.get_geometry(id)?.reply()?;
    let (width, height) = (u32::from(geometry.width), u32::from(geometry.height));
    let image = conn
        .get_image(
            ImageFormat::Z_PIXMAP,
            id,
            0,
            0,
            geometry.width,
            geometry.height,
            !0,
        )?
        .reply()
        .context("reading the window's pixels")?;
    let setup = conn.setup();
    let format = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == image.depth)
        .ok_or_else(|| anyhow!("no pixel format for depth {}", image.depth))?;
    if image.depth != 24 || format.bits_per_pixel != 32 {
        bail!(
            "a {}-bit display ({} bits a pixel): only 24-bit colour is read",
            image.depth,
            format.bits_per_pixel
        );
    }
    let pixels = width as usize * height as usize;
    if image.data.len() < pixels * 4 {
        bail!(
            "the X server sent {} bytes for {pixels} pixels",
            image.data.len()
        );
    }
    let lsb_first = setup.image_byte_order == ImageOrder::LSB_FIRST;
    let mut rgb = Vec::with_capacity(pixels * 3);
    for px in image.data.chunks_exact(4).take(pixels) {
        // A 32-bit pixel of 0x00RRGGBB, in the server's byte order.
        let [r, g, b] = if lsb_first {
            [px[2], px[1], px[0]]
        } else {
            [px[1], px[2], px[3]]
        };
        rgb.extend_from_slice(&[r, g, b]);
    }
    Ok((width, height, rgb))
}

/// Writes RGB pixels as a PNG file.
pub fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(())
}

/// How many different colours the pixels hold: a window that drew nothing
/// is one flat colour.
pub fn colours(rgb: &[u8]) -> usize {
    let mut seen: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// Raises the window titled `title` and waits until the screen shows it
/// drawn, still (the same pixels twice, a moment apart, of more than a few
/// colours) and `wanted`; answers its width, height and RGB pixels.
pub async fn settled(title: &str, wanted: impl Fn(&[u8]) -> bool) -> Result<(u32, u32, Vec<u8>)> {
    raise(title).await?;
    let id = window_id(title).await?;
    let wanted = &wanted;
    testkit::wait::until(
        &format!("the window {title:?} drawn and still"),
        || async move {
            let now = tokio::task::spawn_blocking(move || capture(id)).await??;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let again = tokio::task::spawn_blocking(move || capture(id)).await??;
            Ok((now == again && colours(&now.2) > 16 && wanted(&now.2)).then_some(now))
        },
    )
    .await
}

/// [`settled`], saved as `dir/<name>.png`.
pub async fn screenshot(
    title: &str,
    dir: &Path,
    name: &str,
    wanted: impl Fn(&[u8]) -> bool,
) -> Result<PathBuf> {
    let (width, height, rgb) = settled(title, wanted).await?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.png"));
    write_png(&path, width, height, &rgb)?;
    Ok(path)
}

/// `s` with the characters a POSIX extended regular expression reads as
/// operators escaped (xdotool matches names with one).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
