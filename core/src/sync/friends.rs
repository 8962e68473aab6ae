//! The people the user follows and their latest workouts: read into the
//! state, written as Friends and Friend Workouts rows, rows that left a
//! friend's window deleted, avatars refreshed last.
//!
//! A list of people that cannot be read (an error, or an answer without a
//! `data` list) is never taken as "follows nobody": then nothing is deleted.
//! A list with entries left out (an entry that does not decode) is only
//! part of the truth: nobody it does not name is dropped that run, and
//! likewise for a friend's window with an entry left out.

use std::collections::HashSet;

use super::context::{Abort, Run};
use super::report::{Problem, ProblemArea, Progress};
use super::workouts::{epoch, is_complete};
use crate::avatars::Wanted;
use crate::peloton::types::FollowedUser;
use crate::peloton::PelotonError;
use crate::rows::{self, Row};
use crate::store::{FriendRecord, FriendWorkoutRecord};
use crate::tables::Table;

/// The people followed and the rows of their windows.
pub(super) struct FriendsRead {
    following: Vec<FollowedUser>,
    /// Friends kept as last stored because the list left an entry out:
    /// they may be among those left out, so their rows stay.
    unlisted: Vec<FriendRecord>,
    window_rows: Vec<Row>,
}

impl FriendsRead {
    /// Everyone whose rows stay: those listed, and those kept unlisted.
    fn kept_ids(&self) -> HashSet<String> {
        self.following
            .iter()
            .map(|f| f.id.clone())
            .chain(self.unlisted.iter().map(|f| f.id.clone()))
            .collect()
    }
}

impl Run<'_> {
    /// The people the user follows and each one's latest workouts, kept in
    /// the state; `None` when the list of people could not be read.
    pub(super) async fn read_friends(
        &mut self,
        user_id: &str,
    ) -> Result<Option<FriendsRead>, Abort> {
        let (following, partial) = match self.svc.peloton.following(user_id).await {
            Ok(list) => {
                self.note_skipped(&list.skipped);
                (list.items, !list.skipped.is_empty())
            }
            Err(e) => {
                self.report_problem(Problem::from(&e));
                return Ok(None);
            }
        };
        self.report.friends = following.len() as u64;
        let now = self.now();
        let mut records: Vec<FriendRecord> = following.iter().map(friend_record).collect();
        let unlisted: Vec<FriendRecord> = if partial {
            let listed: HashSet<&str> = following.iter().map(|f| f.id.as_str()).collect();
            self.with_store(|s| s.friends())?
                .into_iter()
                .filter(|f| !listed.contains(f.id.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        records.extend(unlisted.iter().cloned());
        // Unfollowed friends leave the state with their workouts; their rows
        // go below, as rows whose key no friend keeps.
        self.with_store(|s| s.replace_friends(&records, now))?;
        let total = following.len() as u64;
        let mut window_rows: Vec<Row> = Vec::new();
        for (i, friend) in following.iter().enumerate() {
            self.check_cancel()?;
            (self.progress)(Progress::Friends {
                done: i as u64,
                total,
            });
            window_rows.extend(self.read_window(friend).await?);
        }
        (self.progress)(Progress::Friends { done: total, total });
        Ok(Some(FriendsRead {
            following,
            unlisted,
            window_rows,
        }))
    }

    /// One friend's latest workouts (from the list, with the class joined:
    /// no per-workout calls), kept in the state; their rows. With
    /// `friend_workouts_per_friend = 0` the window is empty, so the rows
    /// this app wrote for it are deleted.
    async fn read_window(&mut self, friend: &FollowedUser) -> Result<Vec<Row>, Abort> {
        let per_friend = self.svc.config.friend_workouts_per_friend;
        let name = friend.username.clone().unwrap_or_else(|| friend.id.clone());
        if friend.is_profile_private == Some(true) {
            self.note(format!("Skipped {name}: their profile is private."));
            return Ok(Vec::new());
        }
        let now = self.now();
        if per_friend == 0 {
            self.with_store(|s| s.replace_friend_workouts(&friend.id, &[], now))?;
            return Ok(Vec::new());
        }
        let list = match self
            .svc
            .peloton
            .friend_workouts(&friend.id, per_friend)
            .await
        {
            Ok(list) => list,
            Err(PelotonError::Private { .. }) => {
                self.note(format!("Skipped {name}: their profile is private."));
                return Ok(Vec::new());
            }
            Err(e) => {
                self.problem(
                    ProblemArea::Friend,
                    format!("The workouts of {name} could not be read ({}); they were skipped and the others synced.", e.user_message().trim_end_matches('.')),
                );
                return Ok(Vec::new());
            }
        };
        self.note_skipped(&list.skipped);
        let stored = self.with_store(|s| s.friend_workouts(&friend.id))?;
        let before: HashSet<String> = stored.iter().map(|w| w.id.clone()).collect();
        let mut kept = Vec::new();
        let mut window = Vec::new();
        for w in list
            .items
            .iter()
            .filter(|w| is_complete(w))
            .take(per_friend as usize)
        {
            match rows::friend_workout_row(friend, w, self.fallback_tz.as_deref()) {
                Ok(row) => {
                    if !before.is_empty() && !before.contains(&w.id) {
                        self.report.new_friend_workouts += 1;
                    }
                    window.push(row);
                    kept.push(FriendWorkoutRecord {
                        id: w.id.clone(),
                        friend_id: friend.id.clone(),
                        start_time: epoch(w.start_time),
                        json: serde_json::to_string(w).unwrap_or_default(),
                    });
                }
                // One friend's odd workout is theirs alone: said, naming
                // them, without failing the run (see `RunReport::failure`).
                Err(e) => self.problem(
                    ProblemArea::Friend,
                    format!("A workout of {name} was skipped: {}", e.user_message()),
                ),
            }
        }
        if !list.skipped.is_empty() {
            // An entry left out may be one already written: the window keeps
            // what it held until the list reads whole again.
            let listed: HashSet<String> = kept.iter().map(|w| w.id.clone()).collect();
            kept.extend(stored.into_iter().filter(|w| !listed.contains(&w.id)));
        }
        self.with_store(|s| s.replace_friend_workouts(&friend.id, &kept, now))?;
        Ok(window)
    }

    /// Writes the Friends and Friend Workouts rows read by
    /// [`Run::read_friends`], deletes the rows that left, and refreshes the
    /// avatars.
    pub(super) async fn write_friends(&mut self, read: FriendsRead) -> Result<(), Abort> {
        let kept_ids = read.kept_ids();
        let FriendsRead {
            following,
            unlisted,
            window_rows,
        } = read;
        if self.svc.table_enabled(Table::Friends) {
            let rows: Vec<Row> = following.iter().map(rows::friend_row).collect();
            self.write_changed(Table::Friends, rows).await?;
            self.delete_stale(Table::Friends, &kept_ids).await?;
        }
        if self.svc.table_enabled(Table::FriendWorkouts) {
            self.write_changed(Table::FriendWorkouts, window_rows)
                .await?;
            // Keep every row that is in some friend's current window, or in
            // the last known window of a friend who could not be read now.
            let mut keep = HashSet::new();
            for id in &kept_ids {
                for w in self.with_store(|s| s.friend_workouts(id))? {
                    keep.insert(w.id);
                }
            }
            self.delete_stale(Table::FriendWorkouts, &keep).await?;
        }
        self.refresh_avatars(&following, &unlisted).await;
        Ok(())
    }

    /// Caches the avatars of the people followed, last, so a slow image
    /// host never delays the rows; best effort (see [`crate::avatars`]).
    async fn refresh_avatars(&self, following: &[FollowedUser], unlisted: &[FriendRecord]) {
        let Some(cache) = &self.svc.config.avatars else {
            return;
        };
        let wanted: Vec<Wanted> = following
            .iter()
            .map(|f| (&f.id, &f.image_url))
            .chain(unlisted.iter().map(|f| (&f.id, &f.image_url)))
            .filter_map(|(id, url)| {
                Some(Wanted {
                    friend_id: id.clone(),
                    url: url.clone().filter(|u| !u.is_empty())?,
                })
            })
            .collect();
        tokio::select! {
            r = cache.refresh(&wanted) => tracing::debug!(?r, "avatars refreshed"),
            () = self.cancel.cancelled() => {}
        }
    }
}

fn friend_record(f: &FollowedUser) -> FriendRecord {
    FriendRecord {
        id: f.id.clone(),
        username: f.username.clone(),
        location: f.location.clone(),
        image_url: f.image_url.clone(),
        is_private: f.is_profile_private.unwrap_or(false),
        total_workouts: f.total_workouts,
        json: serde_json::to_string(f).unwrap_or_default(),
    }
}
