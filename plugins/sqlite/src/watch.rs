//! Table watch: a change log filled by triggers, woken by `PRAGMA data_version`.
//!
//! The first watch of a table installs three triggers on it (after insert, update and
//! delete) that append each row's change to the table `_bindery_changes` inside the writing
//! transaction, whoever writes: this driver, the `sqlite3` shell, Python's `sqlite3`, any
//! program. A change there has a number (`seq`, AUTOINCREMENT: committed in order, never
//! reused), the table, the kind, the row's key, the row after it and before it (JSON) and
//! the time. A watcher reads the log after its cursor (`<epoch>-<seq>`, the epoch told apart
//! per database file), so it resumes after a restart of either side without a gap.
//!
//! The log keeps the last `watch.retention` changes (a trigger prunes it every 256 changes);
//! a cursor older than that gets `resync` and the current rows. A table that was dropped (its
//! triggers with it) or dropped and made again gets `resync` too, and the triggers again.
//!
//! A watcher waits for news on a channel bumped by this driver's own writes at once, and by a
//! poller thread (one per binding, while anybody watches) that reads `PRAGMA data_version`
//! on a connection of its own every `watch.interval_ms`: it changes whenever another
//! connection commits.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery_core::table::build::hex_bytes;
use bindery_core::watch::{
    cursor_seq, initial_rows, logged_changes, Change, ChangeKind, ChangeStream, Logged, OpWatch, WatchFrom,
};
use bindery_core::{blocking, Error, Result, TableSchema};
use futures::stream::{self, StreamExt};
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::watch;

use crate::error::map;
use crate::sql::ident;
use crate::table::Db;

/// The change log.
pub(crate) const CHANGES: &str = "_bindery_changes";
/// The log's own settings (its epoch).
const WATCH_META: &str = "_bindery_watch";
/// Changes read from the log at a time.
const PAGE: usize = 256;

/// A binding's watch settings (options `watch.retention` and `watch.interval_ms`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Changes the log keeps.
    pub(crate) retention: u64,
    /// How often the poller looks for commits of other connections.
    pub(crate) interval: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            retention: 100_000,
            interval: Duration::from_millis(10),
        }
    }
}

/// A binding's wake-up for watchers: bumped by its own writes and by the poller.
pub(crate) struct Hub {
    settings: Settings,
    news: watch::Sender<u64>,
    /// Whether the poller thread runs; taken when subscribing and when the poller stops, so
    /// that a new watcher never waits on a poller that has just decided to stop.
    polling: Mutex<bool>,
}

impl Hub {
    pub(crate) fn new(settings: Settings) -> Hub {
        Hub {
            settings,
            news: watch::Sender::new(0),
            polling: Mutex::new(false),
        }
    }

    /// Tells the watchers something may have changed.
    pub(crate) fn bump(&self) {
        if self.news.receiver_count() > 0 {
            self.news.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    fn subscribe(self: &Arc<Self>, db: &Db) -> Result<watch::Receiver<u64>> {
        let mut polling = self.polling.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.news.subscribe();
        if !*polling {
            let conn = db.open_reader()?;
            let hub = self.clone();
            std::thread::Builder::new()
                .name("bindery-sqlite-watch".into())
                .spawn(move || hub.poll(conn))
                .map_err(|e| Error::internal(format!("cannot start the watch poller: {e}")))?;
            *polling = true;
        }
        Ok(rx)
    }

    /// Looks for commits of other connections until nobody watches.
    fn poll(&self, conn: Connection) {
        let version = |c: &Connection| {
            c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
                .ok()
        };
        let mut seen = version(&conn);
        loop {
            std::thread::sleep(self.settings.interval);
            {
                let mut polling = self.polling.lock().unwrap_or_else(|p| p.into_inner());
                if self.news.receiver_count() == 0 {
                    *polling = false;
                    return;
                }
            }
            let now = version(&conn);
            if now != seen {
                seen = now;
                self.news.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

/// The SQL of a row's columns as a JSON object (`alias` is `NEW`, `OLD` or the table); a
/// BLOB becomes its hex digits (JSON holds no bytes).
fn row_sql(alias: &str, schema: &TableSchema) -> String {
    let fields: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let v = format!("{alias}.{}", ident(&c.name));
            format!(
                "'{}', CASE typeof({v}) WHEN 'blob' THEN hex({v}) ELSE {v} END",
                c.name.replace('\'', "''")
            )
        })
        .collect();
    format!("json_object({})", fields.join(", "))
}

/// The SQL of a row's key as text: its key columns joined by `/`, or its rowid.
fn key_sql(alias: &str, schema: &TableSchema) -> String {
    if schema.key.is_empty() {
        return format!("CAST({alias}.rowid AS TEXT)");
    }
    let parts: Vec<String> = schema
        .key
        .iter()
        .map(|k| format!("CAST({alias}.{} AS TEXT)", ident(k)))
        .collect();
    parts.join(" || '/' || ")
}

/// The name of one of a table's triggers.
fn trigger(table: &str, op: &str) -> String {
    format!("_bindery_watch_{table}_{op}")
}

/// The triggers a watched table needs, as `(name, CREATE statement)`.
fn triggers(table: &str, schema: &TableSchema) -> Vec<(String, String)> {
    const NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
    let record = |op: &str, key: &str, row: &str, before: &str| {
        format!(
            "INSERT INTO {CHANGES} (tbl, op, key, row, before, at) VALUES ('{}', '{op}', {key}, {row}, {before}, {NOW})",
            table.replace('\'', "''")
        )
    };
    [
        (
            "insert",
            record("i", &key_sql("NEW", schema), &row_sql("NEW", schema), "NULL"),
        ),
        (
            "update",
            record(
                "u",
                &key_sql("NEW", schema),
                &row_sql("NEW", schema),
                &row_sql("OLD", schema),
            ),
        ),
        (
            "delete",
            record("d", &key_sql("OLD", schema), "NULL", &row_sql("OLD", schema)),
        ),
    ]
    .into_iter()
    .map(|(op, body)| {
        let name = trigger(table, op);
        let sql = format!(
            "CREATE TRIGGER {} AFTER {} ON {} BEGIN {body}; END",
            ident(&name),
            op.to_uppercase(),
            ident(table)
        );
        (name, sql)
    })
    .collect()
}

/// What the triggers of `table` are now: `None` when one is missing (never installed, or
/// dropped with the table), else whether they are the ones `schema` needs.
fn installed(conn: &Connection, table: &str, schema: &TableSchema) -> Result<Option<bool>> {
    let what = format!("read the watch triggers of table '{table}'");
    let mut current = true;
    for (name, sql) in triggers(table, schema) {
        let found: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1 AND tbl_name = ?2",
                [&name, table],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| map(e, &what))?;
        match found {
            None => return Ok(None),
            Some(found) => current &= found == sql,
        }
    }
    Ok(Some(current))
}

/// The log entry `install` writes when it puts a table's triggers back (after the table was
/// dropped, and perhaps made again): every watcher of the table that reads it starts over,
/// also one that finds the triggers there (another watcher, here or in another process, put
/// them back first), since what happened before is not in the log.
const REINSTALLED: &str = "r";

/// Makes the change log and `table`'s triggers as `schema` needs them, in one transaction;
/// logs [`REINSTALLED`] when a trigger was missing.
fn install(db: &Db, table: &str, schema: &TableSchema, retention: u64) -> Result<()> {
    let what = format!("install the watch triggers of table '{table}'");
    db.write(|conn| {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map(e, &what))?;
        let missing = installed(&tx, table, schema)?.is_none();
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS {CHANGES} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, \
             op TEXT NOT NULL, key TEXT NOT NULL, row TEXT, before TEXT, at INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS {CHANGES}_by_table ON {CHANGES} (tbl, seq);
             CREATE TABLE IF NOT EXISTS {WATCH_META} (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT OR IGNORE INTO {WATCH_META} VALUES ('epoch', lower(hex(randomblob(8))));
             DROP TRIGGER IF EXISTS {CHANGES}_prune;
             CREATE TRIGGER {CHANGES}_prune AFTER INSERT ON {CHANGES} WHEN NEW.seq % 256 = 0 \
             BEGIN DELETE FROM {CHANGES} WHERE seq <= NEW.seq - {retention}; END;"
        );
        for (name, create) in triggers(table, schema) {
            sql.push_str(&format!("\nDROP TRIGGER IF EXISTS {};\n{create};", ident(&name)));
        }
        tx.execute_batch(&sql).map_err(|e| map(e, &what))?;
        if missing {
            tx.execute(
                &format!(
                    "INSERT INTO {CHANGES} (tbl, op, key, at) VALUES (?1, '{REINSTALLED}', '', \
                     CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"
                ),
                [table],
            )
            .map_err(|e| map(e, &what))?;
        }
        tx.commit().map_err(|e| map(e, &what))
    })
}

/// A watcher: where it is in the log, and its wake-up.
struct Follow {
    /// `None` once it has failed (the error was its last item).
    state: Option<State>,
    news: watch::Receiver<u64>,
}

/// Where a watcher is, between reads of the log.
struct State {
    db: Arc<Db>,
    table: String,
    epoch: String,
    /// The number of the last change it has.
    last: u64,
    /// The schema version it last checked the triggers at.
    version: i64,
    /// What goes out before the next read of the log.
    first: VecDeque<Change>,
}

/// Starts a watch of `table` as `op` asks.
pub(crate) async fn watch(db: Arc<Db>, table: String, op: OpWatch) -> Result<ChangeStream> {
    let news = db.hub.subscribe(&db)?;
    let state = blocking(move || State::start(db, table, &op)).await?;
    let follow = Follow {
        state: Some(state),
        news,
    };
    Ok(stream::unfold(follow, Follow::next).boxed())
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Change>, Follow)> {
        loop {
            if let Some(c) = self.state.as_mut()?.first.pop_front() {
                return Some((Ok(c), self));
            }
            // Seen before reading, so a change committed while reading wakes the next wait.
            self.news.borrow_and_update();
            let mut state = self.state.take()?;
            let read = tokio::task::spawn_blocking(move || {
                let found = state.read();
                (state, found)
            })
            .await;
            match read {
                Err(e) => {
                    return Some((
                        Err(Error::internal(format!("the watch's read failed: {e}"))),
                        self,
                    ))
                }
                Ok((_, Err(e))) => return Some((Err(e), self)),
                Ok((state, Ok(found))) => {
                    self.state = Some(state);
                    if !found && self.news.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Why a watcher starts over.
enum Gap {
    /// Nothing missed.
    None,
    /// Starts over: the log no longer has every change it needs, or the table's triggers
    /// went (dropped with the table, which may have been made again).
    Resync,
}

impl State {
    fn start(db: Arc<Db>, table: String, op: &OpWatch) -> Result<State> {
        let conn = db.reader()?;
        let r = State::start_on(db.clone(), table, op, &conn);
        db.give_back(conn);
        r
    }

    fn start_on(db: Arc<Db>, table: String, op: &OpWatch, conn: &Connection) -> Result<State> {
        let schema = db.schema(conn, &table)?;
        let version = schema_version(conn)?;
        if installed(conn, &table, &schema)? != Some(true) {
            install(&db, &table, &schema, db.hub.settings.retention)?;
        }
        let mut state = State {
            epoch: epoch(conn)?,
            db,
            table,
            last: 0,
            version,
            first: VecDeque::new(),
        };
        match &op.from {
            WatchFrom::Now => {
                state.last = newest(conn)?;
                if op.initial {
                    state.snapshot(conn, &schema, false)?;
                }
            }
            WatchFrom::Cursor(c) => match cursor_seq(c, &state.epoch) {
                Some(seq) if seq <= newest(conn)? && seq + 1 >= oldest(conn)? => state.last = seq,
                _ => state.snapshot(conn, &schema, true)?,
            },
        }
        Ok(state)
    }

    fn cursor(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// Reads what the log has after the last change; whether anything was queued.
    fn read(&mut self) -> Result<bool> {
        let conn = self.db.reader()?;
        let r = self.read_on(&conn);
        self.db.give_back(conn);
        r
    }

    fn read_on(&mut self, conn: &Connection) -> Result<bool> {
        if let Gap::Resync = self.read_log(conn)? {
            // The triggers first, then the rows in a transaction of their own: a write after
            // it began is in the log after the change the watch goes on from.
            match self.db.schema(conn, &self.table) {
                Ok(schema) => {
                    install(&self.db, &self.table, &schema, self.db.hub.settings.retention)?;
                    self.epoch = epoch(conn)?;
                    self.snapshot(conn, &schema, true)?;
                }
                Err(e) if e.kind() == bindery_core::ErrorKind::NotFound => {
                    // Gone: nothing to tell but that; it is watched again when it is back.
                    self.last = newest(conn)?;
                    let cursor = self.cursor(self.last);
                    self.first
                        .push_back(Change::marker(ChangeKind::Resync, cursor.clone()));
                    self.first.push_back(Change::marker(ChangeKind::Synced, cursor));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(!self.first.is_empty())
    }

    /// Queues the table's changes after the last one, in one read transaction, after checking
    /// that none was pruned and, when the schema changed, that the triggers are still there
    /// (made again when the table's columns changed).
    fn read_log(&mut self, conn: &Connection) -> Result<Gap> {
        let what = format!("read the changes of table '{}'", self.table);
        let tx = conn.unchecked_transaction().map_err(|e| map(e, &what))?;
        let version = schema_version(&tx)?;
        let schema = match self.db.schema(&tx, &self.table) {
            Ok(schema) => schema,
            Err(e) if e.kind() == bindery_core::ErrorKind::NotFound => {
                if version == self.version {
                    // Already told.
                    return Ok(Gap::None);
                }
                self.version = version;
                return Ok(Gap::Resync);
            }
            Err(e) => return Err(e),
        };
        if version != self.version {
            self.version = version;
            match installed(&tx, &self.table, &schema)? {
                None => return Ok(Gap::Resync),
                Some(false) => install(&self.db, &self.table, &schema, self.db.hub.settings.retention)?,
                Some(true) => {}
            }
        }
        if self.last + 1 < oldest(&tx)? {
            return Ok(Gap::Resync);
        }
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT seq, op, key, row, before, at FROM {CHANGES} WHERE tbl = ?1 AND seq > ?2 ORDER BY seq LIMIT {PAGE}"
            ))
            .map_err(|e| map(e, &what))?;
        let mut rows = stmt
            .query(rusqlite::params![self.table, self.last as i64])
            .map_err(|e| map(e, &what))?;
        let mut found = Vec::new();
        let mut reinstalled = false;
        while let Some(r) = rows.next().map_err(|e| map(e, &what))? {
            let get = |i| r.get_ref(i).map_err(|e| map(e, &what));
            let text = |i| get(i).map(|v| v.as_str().ok().map(str::to_string));
            found.push(Logged {
                seq: get(0)?.as_i64().unwrap_or(0) as u64,
                op: text(1)?.unwrap_or_default(),
                key: text(2)?.unwrap_or_default(),
                row: text(3)?,
                before: text(4)?,
                at_ms: get(5)?.as_i64().unwrap_or(0),
            });
            if found.last().is_some_and(|l| l.op == REINSTALLED) {
                reinstalled = true;
                break;
            }
        }
        if reinstalled {
            // The table was made again (its triggers put back): start over from its rows.
            return Ok(Gap::Resync);
        }
        if let Some(l) = found.last() {
            self.last = l.seq;
        }
        self.first
            .extend(logged_changes(&schema, hex_bytes, &self.epoch, found)?);
        Ok(Gap::None)
    }

    /// The table's rows as `created` changes, then `synced` (after `resync` when `resync`),
    /// read in one transaction with the log's newest change, from which the watch goes on.
    fn snapshot(&mut self, conn: &Connection, schema: &TableSchema, resync: bool) -> Result<()> {
        let what = format!("read the rows of table '{}'", self.table);
        let tx = conn.unchecked_transaction().map_err(|e| map(e, &what))?;
        self.last = newest(&tx)?;
        let cursor = self.cursor(self.last);
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {}, {} FROM {} AS t",
                key_sql("t", schema),
                row_sql("t", schema),
                ident(&self.table)
            ))
            .map_err(|e| map(e, &what))?;
        let mut rows = stmt.query([]).map_err(|e| map(e, &what))?;
        let mut found = Vec::new();
        while let Some(r) = rows.next().map_err(|e| map(e, &what))? {
            let text = |i| r.get::<_, Option<String>>(i).map_err(|e| map(e, &what));
            found.push((text(0)?.unwrap_or_default(), text(1)?));
        }
        self.first
            .extend(initial_rows(schema, hex_bytes, found, &cursor, resync)?);
        Ok(())
    }
}

fn schema_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA schema_version", [], |r| r.get(0))
        .map_err(|e| map(e, "read the schema version"))
}

fn epoch(conn: &Connection) -> Result<String> {
    conn.query_row(
        &format!("SELECT value FROM {WATCH_META} WHERE name = 'epoch'"),
        [],
        |r| r.get(0),
    )
    .map_err(|e| map(e, "read the change log's epoch"))
}

/// The number of the oldest change the log still has (one past the newest when it is empty).
fn oldest(conn: &Connection) -> Result<u64> {
    let min: Option<i64> = conn
        .query_row(&format!("SELECT min(seq) FROM {CHANGES}"), [], |r| r.get(0))
        .map_err(|e| map(e, "read the change log's oldest change"))?;
    match min {
        Some(min) => Ok(min as u64),
        None => Ok(newest(conn)? + 1),
    }
}

/// The number of the newest change ever logged (0: none).
fn newest(conn: &Connection) -> Result<u64> {
    let n: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = ?1",
            [CHANGES],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| map(e, "read the change log's newest change"))?;
    Ok(n.unwrap_or(0) as u64)
}
