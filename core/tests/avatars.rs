//! The avatar cache against the fake Peloton's image host: downloads once,
//! again only when the URL moves, and skips failures quietly after one try.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fake_peloton::{Config, FakePeloton};
use pcs_core::avatars::avatar_file;
use pcs_core::avatars::{AvatarCache, Refreshed, Wanted};

fn wanted(fake: &FakePeloton, friend_id: &str, path: &str) -> Wanted {
    Wanted {
        friend_id: friend_id.into(),
        url: format!("{}/cdn/peloton-profile-images/{path}", fake.url()),
    }
}

fn cdn_requests(fake: &FakePeloton) -> usize {
    fake.count(|r| r.path.starts_with("/cdn/"))
}

#[tokio::test]
async fn an_avatar_is_fetched_once_and_again_only_when_its_url_moves() {
    let fake = FakePeloton::start(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = AvatarCache::new(dir.path().join("avatars"), &fake.url()).unwrap();

    let first = [wanted(&fake, "f1", "a/1"), wanted(&fake, "f2", "b/2")];
    let r = cache.refresh(&first).await;
    assert_eq!(
        r,
        Refreshed {
            downloaded: 2,
            ..Refreshed::default()
        }
    );
    let png = std::fs::read(avatar_file(cache.dir(), "f1")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert_eq!(cdn_requests(&fake), 2);

    // Nothing moved: no request at all.
    let r = cache.refresh(&first).await;
    assert_eq!(r.cached, 2);
    assert_eq!(cdn_requests(&fake), 2);

    // f1 changed their picture: only theirs is fetched.
    let moved = [wanted(&fake, "f1", "a/NEW"), wanted(&fake, "f2", "b/2")];
    let r = cache.refresh(&moved).await;
    assert_eq!((r.downloaded, r.cached), (1, 1));
    assert_eq!(cdn_requests(&fake), 3);
    assert_ne!(
        std::fs::read(avatar_file(cache.dir(), "f1")).unwrap(),
        png,
        "the new picture replaced the old"
    );
}

#[tokio::test]
async fn a_missing_picture_or_a_foreign_host_is_skipped_after_at_most_one_try() {
    let fake = FakePeloton::start(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = AvatarCache::new(dir.path().join("avatars"), &fake.url()).unwrap();

    let missing = Wanted {
        friend_id: "gone".into(),
        // Not under the fake CDN's image bucket: 404.
        url: format!("{}/cdn/elsewhere/x.png", fake.url()),
    };
    let foreign = Wanted {
        friend_id: "foreign".into(),
        url: "https://tracker.example/pixel.png".into(),
    };
    let r = cache.refresh(&[missing, foreign]).await;
    assert_eq!(
        r,
        Refreshed {
            skipped: 2,
            ..Refreshed::default()
        }
    );
    assert_eq!(cdn_requests(&fake), 1, "{:?}", fake.requests());
    assert!(!avatar_file(cache.dir(), "gone").exists());
    assert!(!avatar_file(cache.dir(), "foreign").exists());
}

/// Answers every connection with `response` and counts the connections.
async fn raw_server(response: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, hits)
}

/// Issue 16: a redirect is never followed, so no byte comes from a URL
/// that did not pass the host check.
#[tokio::test]
async fn a_redirect_is_not_followed() {
    let png = "\u{89}PNG";
    let (target, target_hits) = raw_server(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{png}",
        png.len()
    ))
    .await;
    let (start, _) = raw_server(format!(
        "HTTP/1.1 302 Found\r\nLocation: {target}/peloton-profile-images/x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = AvatarCache::new(dir.path().join("avatars"), &start).unwrap();

    let r = cache
        .refresh(&[Wanted {
            friend_id: "f1".into(),
            url: format!("{start}/cdn/peloton-profile-images/a"),
        }])
        .await;

    assert_eq!(r.skipped, 1, "{r:?}");
    assert_eq!(target_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(!avatar_file(cache.dir(), "f1").exists());
}
