//! Watching for changes: the [`Change`] a watcher hands out, the [`OpWatch`] that asks for
//! them, and [`ChangeLog`], the in-process history an object driver records its changes in
//! (whoever made them: `memory` records its own writes, `fs` what inotify and rescans show).
//!
//! What a watch promises (the Kubernetes and etcd shape):
//! - every change to a path under the prefix, at least once and in order per path;
//! - a **cursor** on every change; a watch `from_("cursor", c)` goes on after `c`;
//! - `initial(true)`: the current state first, as `created` changes, then one `synced`
//!   marker, then live changes, with no race between the two;
//! - where a cursor can no longer be served (older than the history kept, from before a
//!   restart, a watcher that fell too far behind), a `resync` change, then the current state
//!   as `created` changes, then `synced`, then live changes. Never a silent gap.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::request::Options;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The path came to be (or is there, in the initial state after `initial` or `resync`).
    Created,
    /// Its data changed (a new generation).
    Updated,
    /// It is gone.
    Deleted,
    /// The state so far has been sent (after `initial` or `resync`); live changes follow.
    Synced,
    /// The cursor could not be served: what was known is void; the current state follows.
    Resync,
}

impl ChangeKind {
    /// Every kind, in the order of their numbers on the wire.
    pub const ALL: [ChangeKind; 5] = [
        ChangeKind::Created,
        ChangeKind::Updated,
        ChangeKind::Deleted,
        ChangeKind::Synced,
        ChangeKind::Resync,
    ];

    /// Its name: `created`, `updated`, `deleted`, `synced`, `resync`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Synced => "synced",
            ChangeKind::Resync => "resync",
        }
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The object's path, or the row's primary key (its values joined by `/`; a table without
    /// one: the row id); empty for `synced` and `resync`.
    pub path: String,
    /// The generation after the change (empty for a deletion and the markers).
    pub gen: String,
    /// The size after the change, where known.
    pub size: Option<u64>,
    /// A table's row after the change, as a JSON object (none for a deletion, an object, a
    /// marker, or a backend that does not give it).
    pub row: Option<String>,
    /// A table's row before the change, as a JSON object, where the backend gives it
    /// (updates and deletions).
    pub before: Option<String>,
    /// When the change was seen.
    pub time: SystemTime,
    /// Where to resume after this change (`from_("cursor", …)`).
    pub cursor: String,
}

impl Change {
    /// The change as JSON: `kind`, `path`, `gen`, `size` (null when unknown), `time_ms`
    /// (milliseconds since the Unix epoch) and `cursor`, and for a table's rows `row` and
    /// `before` where known; what the CLI prints and the `watch` trigger sends.
    pub fn to_json(&self) -> serde_json::Value {
        let time_ms = self
            .time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut v = serde_json::json!({
            "kind": self.kind.as_str(), "path": self.path, "gen": self.gen, "size": self.size,
            "time_ms": time_ms, "cursor": self.cursor,
        });
        for (name, row) in [("row", &self.row), ("before", &self.before)] {
            if let Some(row) = row {
                let row =
                    serde_json::from_str(row).unwrap_or_else(|_| serde_json::Value::String(row.clone()));
                v[name] = row;
            }
        }
        v
    }

    /// A marker (`synced`, `resync`) with its cursor.
    pub fn marker(kind: ChangeKind, cursor: String) -> Change {
        Change {
            kind,
            path: String::new(),
            gen: String::new(),
            size: None,
            row: None,
            before: None,
            time: SystemTime::now(),
            cursor,
        }
    }
}

/// One change as a table's change log holds it (filled by the database's triggers): its
/// number, `i`, `u` or `d`, the row's key, the row after and before it as the database logged
/// them (JSON objects of its stored values), and when (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Default)]
pub struct Logged {
    /// The change's number in the log.
    pub seq: u64,
    /// `i` (insert), `u` (update) or `d` (delete).
    pub op: String,
    /// The row's key.
    pub key: String,
    /// The row after the change.
    pub row: Option<String>,
    /// The row before the change.
    pub before: Option<String>,
    /// When it was logged.
    pub at_ms: i64,
}

/// The change number in `cursor` (`<epoch>-<seq>`) when it is of `epoch`, else `None` (a
/// cursor of another log, or of one made again, or not a cursor).
pub fn cursor_seq(cursor: &str, epoch: &str) -> Option<u64> {
    cursor
        .rsplit_once('-')
        .filter(|(e, _)| *e == epoch)
        .and_then(|(_, seq)| seq.parse().ok())
}

/// Logged changes as a watcher gets them: rows typed by `schema` (see
/// [`logged_rows_json`](crate::table::build::logged_rows_json), `bytes` decoding the
/// database's text for bytes), the number as the generation, cursor `<epoch>-<seq>`.
pub fn logged_changes(
    schema: &crate::table::TableSchema,
    bytes: fn(&str) -> Option<Vec<u8>>,
    epoch: &str,
    logged: Vec<Logged>,
) -> Result<Vec<Change>> {
    use crate::table::build::logged_rows_json;
    let after = logged_rows_json(schema, bytes, logged.iter().map(|l| l.row.clone()).collect())?;
    let before = logged_rows_json(schema, bytes, logged.iter().map(|l| l.before.clone()).collect())?;
    Ok(logged
        .into_iter()
        .zip(after.into_iter().zip(before))
        .map(|(l, (row, before))| Change {
            kind: match l.op.as_str() {
                "i" => ChangeKind::Created,
                "u" => ChangeKind::Updated,
                _ => ChangeKind::Deleted,
            },
            path: l.key,
            gen: l.seq.to_string(),
            size: None,
            row,
            before,
            time: UNIX_EPOCH + std::time::Duration::from_millis(l.at_ms.max(0) as u64),
            cursor: format!("{epoch}-{}", l.seq),
        })
        .collect())
}

/// A table's rows as a watch begins with them: `resync` first when `resync`, then each row
/// (its key, and its JSON as the database gives it, typed as in [`logged_changes`]) as
/// `created`, then `synced`; every one with `cursor`.
pub fn initial_rows(
    schema: &crate::table::TableSchema,
    bytes: fn(&str) -> Option<Vec<u8>>,
    rows: Vec<(String, Option<String>)>,
    cursor: &str,
    resync: bool,
) -> Result<Vec<Change>> {
    let (keys, values): (Vec<String>, Vec<Option<String>>) = rows.into_iter().unzip();
    let values = crate::table::build::logged_rows_json(schema, bytes, values)?;
    let time = SystemTime::now();
    let mut out = Vec::with_capacity(keys.len() + 2);
    if resync {
        out.push(Change::marker(ChangeKind::Resync, cursor.to_string()));
    }
    out.extend(keys.into_iter().zip(values).map(|(key, row)| Change {
        kind: ChangeKind::Created,
        path: key,
        gen: String::new(),
        size: None,
        row,
        before: None,
        time,
        cursor: cursor.to_string(),
    }));
    out.push(Change::marker(ChangeKind::Synced, cursor.to_string()));
    Ok(out)
}

/// Where a watch starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WatchFrom {
    /// With the changes made from now on (the default).
    #[default]
    Now,
    /// After the change this cursor came with.
    Cursor(String),
}

impl WatchFrom {
    /// Parses `from_(kind, value)`: `now`, or `cursor` with the cursor.
    pub fn parse(kind: &str, value: &str) -> Result<WatchFrom> {
        match kind {
            "now" | "" => Ok(WatchFrom::Now),
            "cursor" if !value.is_empty() => Ok(WatchFrom::Cursor(value.to_string())),
            "cursor" => Err(Error::invalid_input(
                "a watch from a cursor needs the cursor: from_(\"cursor\", change.cursor)",
            )),
            other => Err(Error::invalid_input(format!(
                "a watch starts from 'now' or 'cursor', not '{other}'"
            ))),
        }
    }
}

/// `watch(prefix)`.
#[derive(Debug, Clone, Default)]
pub struct OpWatch {
    /// Where to start.
    pub from: WatchFrom,
    /// The current state first, as `created` changes, then `synced`.
    pub initial: bool,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// Changes as they come.
pub type ChangeStream = BoxStream<'static, Result<Change>>;

/// How many changes a [`ChangeLog`] keeps for watchers resuming from a cursor, by default.
pub const HISTORY: usize = 10_000;

/// The changes of one binding, kept in process: the current state (path → generation and
/// size), the last changes (for resuming from a cursor), and the live feed. A driver records
/// each change (`record`) in the order it happened; watchers subscribe with [`ChangeLog::watch`].
pub struct ChangeLog {
    /// Tells this log's cursors from another's (another binding, or before a restart).
    epoch: String,
    state: Mutex<LogState>,
    live: broadcast::Sender<(u64, Change)>,
}

struct LogState {
    /// The number of the last change recorded.
    last: u64,
    /// The current objects: path → (generation, size).
    objects: BTreeMap<String, (String, u64)>,
    /// For a log of table rows (`record_row`): key → the row, as JSON.
    rows: BTreeMap<String, String>,
    /// The last changes, oldest first.
    history: VecDeque<(u64, Change)>,
    capacity: usize,
}

impl LogState {
    /// The objects known under `prefix`, in path order.
    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a (String, u64))> + 'a {
        self.objects
            .range(prefix.to_string()..)
            .take_while(move |(p, _)| p.starts_with(prefix))
    }
}

impl ChangeLog {
    /// A log whose state is `objects` (path → generation and size), keeping `history` changes.
    pub fn new(objects: BTreeMap<String, (String, u64)>, history: usize) -> Arc<ChangeLog> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let epoch = format!("{:x}{:x}", now.as_nanos() as u64, std::process::id());
        let (live, _) = broadcast::channel(history.clamp(16, 65_536));
        Arc::new(ChangeLog {
            epoch,
            state: Mutex::new(LogState {
                last: 0,
                objects,
                rows: BTreeMap::new(),
                history: VecDeque::new(),
                capacity: history.max(1),
            }),
            live,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        // Every update is one insert or remove and one push: a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cursor(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// Records that `path` now has `gen` and `size` (`None`: it is gone). Whether that is a
    /// creation, an update or nothing new follows from the state; returns the change, if any.
    pub fn record(&self, path: &str, now: Option<(String, u64)>) -> Option<Change> {
        self.record_with(path, now, None)
    }

    /// Records that the row of `key` now is `row` (JSON) of generation `gen` (`None`: it is
    /// gone): a log of a table's rows, whose changes carry the row and the row before. The
    /// same row again is no change, whatever its generation.
    pub fn record_row(&self, key: &str, now: Option<(String, String)>) -> Option<Change> {
        match now {
            Some((gen, row)) => self.record_with(key, Some((gen, 0)), Some(row)),
            None => self.record_with(key, None, None),
        }
    }

    fn record_with(&self, path: &str, now: Option<(String, u64)>, row: Option<String>) -> Option<Change> {
        let mut st = self.lock();
        let kind = match (st.objects.get(path), &now) {
            (None, None) => return None,
            (Some((g, _)), Some((gen, _))) if g == gen => return None,
            // A row read again as it was (its file rewritten around it) is no change.
            (Some(_), Some(_)) if row.is_some() && st.rows.get(path) == row.as_ref() => return None,
            (None, Some(_)) => ChangeKind::Created,
            (Some(_), Some(_)) => ChangeKind::Updated,
            (Some(_), None) => ChangeKind::Deleted,
        };
        let before = st.rows.remove(path);
        if let Some(row) = &row {
            st.rows.insert(path.to_string(), row.clone());
        }
        let (gen, size) = match now {
            Some((gen, size)) => {
                st.objects.insert(path.to_string(), (gen.clone(), size));
                (gen, Some(size).filter(|_| row.is_none()))
            }
            None => {
                st.objects.remove(path);
                (String::new(), None)
            }
        };
        st.last += 1;
        let seq = st.last;
        let change = Change {
            kind,
            path: path.to_string(),
            gen,
            size,
            row,
            before,
            time: SystemTime::now(),
            cursor: self.cursor(seq),
        };
        if st.history.len() == st.capacity {
            st.history.pop_front();
        }
        st.history.push_back((seq, change.clone()));
        // No receiver is fine: nobody watches.
        let _ = self.live.send((seq, change.clone()));
        Some(change)
    }

    /// How many watchers follow the log now (a driver that polls its backend for changes
    /// stops polling while there are none).
    pub fn watchers(&self) -> usize {
        self.live.receiver_count()
    }

    /// The paths known now under `prefix` (for a rescan's diff).
    pub fn paths(&self, prefix: &str) -> Vec<String> {
        self.lock().under(prefix).map(|(p, _)| p.clone()).collect()
    }

    /// The changes under `prefix` as `op` asks: from now or after a cursor, with the current
    /// state first when `op.initial` (or when the cursor cannot be served, after `resync`).
    pub fn watch(self: &Arc<Self>, prefix: &str, op: &OpWatch) -> ChangeStream {
        let st = self.lock();
        let live = self.live.subscribe();
        let mut first = VecDeque::new();
        let resumed = match &op.from {
            WatchFrom::Now => true,
            WatchFrom::Cursor(c) => match self.replay(&st, c, prefix) {
                Some(changes) => {
                    first.extend(changes);
                    true
                }
                None => false,
            },
        };
        if !resumed {
            first.extend(self.resync(&st, prefix));
        } else if op.initial {
            first.extend(self.snapshot(&st, prefix));
        }
        let state = Watching {
            log: self.clone(),
            prefix: prefix.to_string(),
            last: st.last,
            first,
            live,
        };
        drop(st);
        stream::unfold(state, Watching::next).boxed()
    }

    /// The changes after cursor `c` under `prefix`, if the history still holds them all.
    fn replay(&self, st: &LogState, c: &str, prefix: &str) -> Option<Vec<Change>> {
        let seq = cursor_seq(c, &self.epoch).filter(|seq| *seq <= st.last)?;
        let oldest = st.history.front().map_or(st.last + 1, |(s, _)| *s);
        // Every change after `seq` must still be there.
        if seq + 1 < oldest {
            return None;
        }
        Some(
            st.history
                .iter()
                .filter(|(s, c)| *s > seq && c.path.starts_with(prefix))
                .map(|(_, c)| c.clone())
                .collect(),
        )
    }

    /// What a watcher gets when what it knew is void: `resync`, then the current state.
    fn resync(&self, st: &LogState, prefix: &str) -> Vec<Change> {
        let mut out = vec![self.marker(ChangeKind::Resync, st.last)];
        out.extend(self.snapshot(st, prefix));
        out
    }

    /// The current state under `prefix` as `created` changes, then `synced`.
    fn snapshot(&self, st: &LogState, prefix: &str) -> Vec<Change> {
        let time = SystemTime::now();
        let cursor = self.cursor(st.last);
        let mut out: Vec<Change> = st
            .under(prefix)
            .map(|(path, (gen, size))| Change {
                kind: ChangeKind::Created,
                path: path.clone(),
                gen: gen.clone(),
                size: (!st.rows.contains_key(path)).then_some(*size),
                row: st.rows.get(path).cloned(),
                before: None,
                time,
                cursor: cursor.clone(),
            })
            .collect();
        out.push(self.marker(ChangeKind::Synced, st.last));
        out
    }

    fn marker(&self, kind: ChangeKind, seq: u64) -> Change {
        Change::marker(kind, self.cursor(seq))
    }
}

/// One watcher's place.
struct Watching {
    log: Arc<ChangeLog>,
    prefix: String,
    /// The number of the last change it has (live changes up to it are skipped).
    last: u64,
    /// What goes out before live changes.
    first: VecDeque<Change>,
    live: broadcast::Receiver<(u64, Change)>,
}

impl Watching {
    async fn next(mut self) -> Option<(Result<Change>, Watching)> {
        loop {
            if let Some(c) = self.first.pop_front() {
                return Some((Ok(c), self));
            }
            match self.live.recv().await {
                Ok((seq, change)) => {
                    if seq <= self.last {
                        continue;
                    }
                    self.last = seq;
                    if change.path.starts_with(&self.prefix) {
                        return Some((Ok(change), self));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // It fell behind the live feed: start over from the current state.
                    let st = self.log.lock();
                    self.live = self.log.live.subscribe();
                    self.last = st.last;
                    self.first.extend(self.log.resync(&st, &self.prefix));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(cs: &[Change]) -> Vec<(ChangeKind, &str)> {
        cs.iter().map(|c| (c.kind, c.path.as_str())).collect()
    }

    /// The next `n` changes; a missing one fails the test (within a second) instead of
    /// hanging it.
    async fn take(s: &mut ChangeStream, n: usize) -> Vec<Change> {
        let mut out = Vec::new();
        for _ in 0..n {
            match tokio::time::timeout(std::time::Duration::from_secs(1), s.next()).await {
                Ok(Some(c)) => out.push(c.unwrap()),
                _ => panic!("{} of {n} changes came: {out:?}", out.len()),
            }
        }
        out
    }

    fn from_cursor(c: &str) -> OpWatch {
        OpWatch {
            from: WatchFrom::Cursor(c.to_string()),
            ..OpWatch::default()
        }
    }

    fn at(gen: &str) -> Option<(String, u64)> {
        Some((gen.to_string(), 1))
    }

    #[tokio::test]
    async fn changes_follow_from_the_state_and_resume_after_a_cursor() {
        let log = ChangeLog::new(BTreeMap::from([("a/x".to_string(), ("1".to_string(), 1))]), 100);
        let mut w = log.watch("a/", &OpWatch::default());
        assert!(
            log.record("a/x", at("1")).is_none(),
            "the same generation is no change"
        );
        log.record("a/x", at("2"));
        log.record("b/y", at("1"));
        log.record("a/z", at("1"));
        log.record("a/x", None);
        assert!(
            log.record("a/x", None).is_none(),
            "deleting what is gone is no change"
        );
        let got = take(&mut w, 3).await;
        assert_eq!(
            kinds(&got),
            [
                (ChangeKind::Updated, "a/x"),
                (ChangeKind::Created, "a/z"),
                (ChangeKind::Deleted, "a/x")
            ]
        );
        // Resuming after the first change replays the rest under the prefix.
        let from = OpWatch {
            from: WatchFrom::Cursor(got[0].cursor.clone()),
            ..OpWatch::default()
        };
        let mut again = log.watch("a/", &from);
        assert_eq!(kinds(&take(&mut again, 2).await), kinds(&got[1..]));
        // The initial state, then synced, then live.
        let initial = OpWatch {
            initial: true,
            ..OpWatch::default()
        };
        let mut w = log.watch("a/", &initial);
        log.record("a/q", at("1"));
        let got = take(&mut w, 3).await;
        assert_eq!(
            kinds(&got),
            [
                (ChangeKind::Created, "a/z"),
                (ChangeKind::Synced, ""),
                (ChangeKind::Created, "a/q")
            ]
        );
    }

    #[tokio::test]
    async fn a_cursor_the_history_lost_resyncs_and_never_skips_silently() {
        let log = ChangeLog::new(BTreeMap::new(), 2);
        let first = log.record("p", at("1")).unwrap();
        log.record("p", at("2"));
        log.record("q", at("1"));
        // The history still holds every change after the first.
        let mut w = log.watch("", &from_cursor(&first.cursor));
        assert_eq!(
            kinds(&take(&mut w, 2).await),
            [(ChangeKind::Updated, "p"), (ChangeKind::Created, "q")]
        );
        // One more and it no longer does.
        log.record("q", at("2"));
        let from = from_cursor;
        let mut w = log.watch("", &from(&first.cursor));
        let got = take(&mut w, 4).await;
        assert_eq!(
            kinds(&got),
            [
                (ChangeKind::Resync, ""),
                (ChangeKind::Created, "p"),
                (ChangeKind::Created, "q"),
                (ChangeKind::Synced, "")
            ]
        );
        assert_eq!((got[1].gen.as_str(), got[2].gen.as_str()), ("2", "2"));
        // Another log's cursor (a restart) resyncs too; a malformed one as well.
        for c in ["other-1", "garbage"] {
            let mut w = log.watch("", &from(c));
            assert_eq!(take(&mut w, 1).await[0].kind, ChangeKind::Resync);
        }
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_resyncs() {
        let log = ChangeLog::new(BTreeMap::new(), 16);
        let mut w = log.watch("", &OpWatch::default());
        for i in 0..100 {
            log.record(&format!("k{i:03}"), at("1"));
        }
        let got = take(&mut w, 1).await;
        assert_eq!(got[0].kind, ChangeKind::Resync);
        let rest = take(&mut w, 101).await;
        assert_eq!(rest.iter().filter(|c| c.kind == ChangeKind::Created).count(), 100);
        assert_eq!(rest[100].kind, ChangeKind::Synced);
    }

    #[test]
    fn from_parses() {
        assert_eq!(WatchFrom::parse("now", "").unwrap(), WatchFrom::Now);
        assert_eq!(
            WatchFrom::parse("cursor", "e-3").unwrap(),
            WatchFrom::Cursor("e-3".into())
        );
        assert!(WatchFrom::parse("cursor", "").is_err());
        assert!(WatchFrom::parse("earliest", "")
            .unwrap_err()
            .to_string()
            .contains("'now' or 'cursor'"));
    }
}
