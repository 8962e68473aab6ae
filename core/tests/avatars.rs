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
