//! Friends' avatars, downloaded once into a local folder so the window shows
//! them instantly and offline, and without letting the webview reach the
//! network (its CSP allows no remote image).
//!
//! Invariants:
//! - Best effort: a failed download is logged and retried on a later run,
//!   never reported as a sync problem and never retried within a run.
//! - Quiet: an avatar is fetched only when it is missing or its URL changed
//!   (the URL is kept beside the image), so a quiet run makes no request here.
//! - Narrow: only images, at most [`MAX_BYTES`], and only from Peloton's image
//!   hosts, named exactly (or the configured Peloton API host, which is how
//!   tests point it at a fake); anything else is skipped. No redirect is
//!   followed, so every byte comes from a URL that passed the check.
//! - Tidy: the avatars of people no longer followed are removed.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;

use crate::fs::{write_replacing, Access};
use url::Url;

/// Peloton's S3 buckets of pictures, addressed as `s3.amazonaws.com/<bucket>/`.
const IMAGE_BUCKETS: &[&str] = &["peloton-profile-images"];
/// Exact hosts Peloton serves pictures from (no wildcard: a look-alike
/// subdomain or bucket is refused).
const IMAGE_HOSTS: &[&str] = &[
    "peloton-profile-images.s3.amazonaws.com",
    "images.onepeloton.com",
];

/// The largest avatar accepted, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Downloads in flight at once.
const CONCURRENCY: usize = 4;
/// The extension of a cached image (whatever its type; [`image_mime`] tells).
const IMAGE_EXTENSION: &str = "img";
/// The suffix of the file that records which URL an avatar came from.
const SOURCE_SUFFIX: &str = ".src";

/// The image type of `bytes`, from their first bytes; `None` when they are
/// not a PNG, JPEG, GIF or WebP image.
pub fn image_mime(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// Where the avatar of `friend_id` is cached inside `dir`. Ids are
/// Peloton's hex strings; anything else is replaced so a crafted id cannot
/// name a path outside `dir`.
pub fn avatar_file(dir: &Path, friend_id: &str) -> PathBuf {
    let safe: String = friend_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.{IMAGE_EXTENSION}"))
}

/// One friend whose avatar should be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The friend's Peloton id (names the file).
    pub friend_id: String,
    /// Where Peloton says the picture is.
    pub url: String,
}

/// What one [`AvatarCache::refresh`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Avatars downloaded now.
    pub downloaded: usize,
    /// Avatars already cached from the same URL.
    pub cached: usize,
    /// Avatars skipped: a host outside Peloton's, a failed download or not an image.
    pub skipped: usize,
    /// Cached avatars removed because their friend is no longer followed.
    pub removed: usize,
}

/// The folder of cached avatars and the HTTP client that fills it.
#[derive(Debug, Clone)]
pub struct AvatarCache {
    dir: PathBuf,
    http: reqwest::Client,
    /// A host accepted besides Peloton's image hosts (the configured API's).
    extra_host: Option<String>,
}

impl AvatarCache {
    /// A cache in `dir`. `peloton_api_url` is the API the client talks to;
    /// its host is accepted as an image host too.
    pub fn new(dir: PathBuf, peloton_api_url: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(crate::USER_AGENT)
            .timeout(Duration::from_secs(15))
            // A redirect could lead anywhere: only the checked URL is fetched.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let extra_host = Url::parse(peloton_api_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        Ok(Self {
            dir,
            http,
            extra_host,
        })
    }

    /// The folder the avatars are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `url` may be fetched: https on one of Peloton's image hosts,
    /// or any scheme on the configured API host.
    fn allowed(&self, url: &str) -> bool {
        let Ok(u) = Url::parse(url) else {
            return false;
        };
        let Some(host) = u.host_str() else {
            return false;
        };
        if self.extra_host.as_deref() == Some(host) {
            return matches!(u.scheme(), "http" | "https");
        }
        if u.scheme() != "https" {
            return false;
        }
        let bucket_path = host == "s3.amazonaws.com"
            && IMAGE_BUCKETS
                .iter()
                .any(|b| u.path().starts_with(&format!("/{b}/")));
        bucket_path || IMAGE_HOSTS.contains(&host)
    }

    /// Brings the folder in line with `wanted`: downloads what is missing or
    /// moved, removes what belongs to nobody followed. Never fails; what
    /// went wrong is logged and counted as skipped.
    pub async fn refresh(&self, wanted: &[Wanted]) -> Refreshed {
        let mut out = Refreshed::default();
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::warn!(error = %e, "the avatar folder could not be created");
            out.skipped = wanted.len();
            return out;
        }
        out.removed = self.remove_unfollowed(wanted);

        let mut to_fetch = Vec::new();
        for w in wanted {
            if !self.allowed(&w.url) {
                tracing::debug!(friend = %w.friend_id, "avatar host is not Peloton's; skipped");
                out.skipped += 1;
            } else if self.is_current(w) {
                out.cached += 1;
            } else {
                to_fetch.push(w.clone());
            }
        }
        // Futures built up front (not in a stream combinator's closure), so
        // the whole run stays `Send` for the app's task.
        let downloads: Vec<_> = to_fetch.into_iter().map(|w| self.download(w)).collect();
        let results: Vec<bool> = futures::stream::iter(downloads)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for ok in results {
            if ok {
                out.downloaded += 1;
            } else {
                out.skipped += 1;
            }
        }
        out
    }

    fn source_file(&self, friend_id: &str) -> PathBuf {
        let mut p = avatar_file(&self.dir, friend_id).into_os_string();
        p.push(SOURCE_SUFFIX);
        PathBuf::from(p)
    }

    /// The image is on disk and came from the same URL.
    fn is_current(&self, w: &Wanted) -> bool {
        avatar_file(&self.dir, &w.friend_id).is_file()
            && std::fs::read_to_string(self.source_file(&w.friend_id))
                .ok()
                .as_deref()
                == Some(w.url.as_str())
    }

    /// Fetches one avatar and stores it with its source; `false` if skipped.
    async fn download(&self, w: Wanted) -> bool {
        match self.fetch(&w.url).await {
            Ok(bytes) => match self.store(&w.friend_id, &w.url, &bytes) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(friend = %w.friend_id, error = %e, "an avatar could not be saved");
                    false
                }
            },
            Err(why) => {
                tracing::info!(friend = %w.friend_id, %why, "an avatar was not downloaded");
                false
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        if resp.content_length().unwrap_or(0) > MAX_BYTES as u64 {
            return Err("larger than the limit".into());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_BYTES {
                return Err("larger than the limit".into());
            }
        }
        if image_mime(&bytes).is_none() {
            return Err("not an image".into());
        }
        Ok(bytes)
    }

    /// Writes the image then its source, each through a temporary file, so a
    /// killed run leaves either the old pair or a new image without a source
    /// (fetched again next run), never a torn image.
    fn store(&self, friend_id: &str, url: &str, bytes: &[u8]) -> std::io::Result<()> {
        let image = avatar_file(&self.dir, friend_id);
        write_replacing(&image, bytes, Access::Default)?;
        write_replacing(
            &self.source_file(friend_id),
            url.as_bytes(),
            Access::Default,
        )
    }

    /// Removes the images (and sources) of people not in `wanted`.
    fn remove_unfollowed(&self, wanted: &[Wanted]) -> usize {
        let keep: HashSet<PathBuf> = wanted
            .iter()
            .flat_map(|w| {
                [
                    avatar_file(&self.dir, &w.friend_id),
                    self.source_file(&w.friend_id),
                ]
            })
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if keep.contains(&path) || !path.is_file() {
                continue;
            }
            let is_image = path.extension() == Some(OsStr::new(IMAGE_EXTENSION));
            if std::fs::remove_file(&path).is_ok() && is_image {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> AvatarCache {
        AvatarCache::new(dir.to_path_buf(), "http://127.0.0.1:9999").unwrap()
    }

    #[test]
    fn only_peloton_image_hosts_and_the_configured_api_are_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        assert!(c.allowed("https://s3.amazonaws.com/peloton-profile-images/a/b"));
        assert!(c.allowed("https://images.onepeloton.com/x.png"));
        assert!(c.allowed("http://127.0.0.1:9999/cdn/peloton-profile-images/a/b"));
        assert!(!c.allowed("http://s3.amazonaws.com/peloton-profile-images/a/b"));
        assert!(!c.allowed("https://s3.amazonaws.com/someone-else/a"));
        assert!(!c.allowed("https://s3.amazonaws.com/peloton-profile-images-evil/a"));
        assert!(!c.allowed("https://s3.amazonaws.com/peloton-attacker/a.png"));
        assert!(!c.allowed("https://evil.onepeloton.com/a.png"));
        assert!(c.allowed("https://peloton-profile-images.s3.amazonaws.com/a/b"));
        assert!(!c.allowed("https://evil.example/onepeloton.com.png"));
        assert!(!c.allowed("https://notonepeloton.com/a.png"));
        assert!(!c.allowed("file:///etc/passwd"));
        assert!(!c.allowed("not a url"));
    }

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(image_mime(b"\x89PNG\r\n\x1a\n"), Some("image/png"));
        assert_eq!(image_mime(b"\xFF\xD8\xFF\xE0"), Some("image/jpeg"));
        assert_eq!(image_mime(b"GIF89a"), Some("image/gif"));
        assert_eq!(image_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_mime(b"<html>"), None);
        assert_eq!(image_mime(b""), None);
    }

    #[test]
    fn avatar_files_stay_inside_their_folder() {
        let p = avatar_file(Path::new("/cache"), "../../etc/passwd");
        assert_eq!(p, Path::new("/cache/______etc_passwd.img"));
    }

    #[tokio::test]
    async fn followers_gone_lose_their_avatar_and_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        let url = "https://s3.amazonaws.com/peloton-profile-images/a/b";
        c.store("kept", url, b"\x89PNG kept").unwrap();
        c.store("gone", url, b"\x89PNG gone").unwrap();
        let wanted = [Wanted {
            friend_id: "kept".into(),
            url: url.into(),
        }];
        let r = c.refresh(&wanted).await;
        assert_eq!(
            r,
            Refreshed {
                cached: 1,
                removed: 1,
                ..Refreshed::default()
            }
        );
        assert!(avatar_file(dir.path(), "kept").is_file());
        assert!(!avatar_file(dir.path(), "gone").exists());
        assert!(!c.source_file("gone").exists());
    }
}
