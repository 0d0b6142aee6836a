//! Table watch: a change table filled by a trigger, woken by LISTEN/NOTIFY.
//!
//! The first watch of a table installs a row trigger on it (after insert, update and delete)
//! that appends each change to `_bindery_changes` in the writing transaction, whoever writes
//! (`psql`, any client): its number (`seq`), the table, the kind, the row's key (its key
//! columns, given to the trigger as arguments, joined by `/`), the row after and before it
//! (`to_jsonb`), the time; then `pg_notify('bindery_changes', table)`.
//!
//! **Numbered in commit order.** A sequence alone numbers changes in the order they were
//! made, not committed: a watcher that has read change 11 could later see 10 commit, and
//! miss it. So the trigger first takes a transaction-scoped advisory lock: writers of watched
//! tables take turns from their first change to their commit, and a change's number is never
//! below one already visible. That is the price of watching on PostgreSQL: concurrent writes
//! to watched tables commit one at a time (two of them waiting on each other's row locks are
//! a deadlock PostgreSQL detects, failing one).
//!
//! The table keeps the last `watch.retention` changes (the trigger prunes every 256 changes
//! and records how far, so a cursor older than that gets `resync` and the current rows, and a
//! rolled-back change's gap is never taken for a cut). A watcher reads the table after its
//! cursor (`<epoch>-<seq>`, the epoch told apart per database) when a notification comes, and
//! at least every second (which also notices a table dropped, or dropped and made again,
//! with its trigger: `resync`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery_core::table::build::hex_bytes;
use bindery_core::watch::{
    cursor_seq, initial_rows, logged_changes, Change, ChangeKind, ChangeStream, Logged, OpWatch, WatchFrom,
};
use bindery_core::{ErrorKind, Result, TableSchema};
use futures::stream::{self, StreamExt};
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::error::map;
use crate::sql::ident;
use crate::table::{Pool, SchemaCache};

/// The change table.
pub(crate) const CHANGES: &str = "_bindery_changes";
/// The change table's settings: its epoch, retention, and how far it was pruned.
pub(crate) const WATCH_META: &str = "_bindery_watch";
/// The trigger on a watched table.
const TRIGGER: &str = "_bindery_watch";
/// The notification channel.
const CHANNEL: &str = "bindery_changes";
/// Changes read at a time.
const PAGE: i64 = 256;
/// How often a watcher reads without a notification.
const TICK: Duration = Duration::from_secs(1);

/// The change table, its settings and the trigger function, made if missing; the function
/// takes an advisory lock so that writers of watched tables commit in the order of their
/// change numbers.
fn setup_sql(retention: u64) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(hashtext('bindery watch setup'));
         CREATE TABLE IF NOT EXISTS {CHANGES} (seq bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL,
             key text NOT NULL, row jsonb, before jsonb, at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE INDEX IF NOT EXISTS {CHANGES}_by_table ON {CHANGES} (tbl, seq);
         CREATE TABLE IF NOT EXISTS {WATCH_META} (name text PRIMARY KEY, value text NOT NULL);
         INSERT INTO {WATCH_META} VALUES ('epoch', substr(md5(random()::text || clock_timestamp()::text), 1, 16)),
             ('pruned', '0') ON CONFLICT (name) DO NOTHING;
         INSERT INTO {WATCH_META} VALUES ('retention', '{retention}')
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
         CREATE OR REPLACE FUNCTION {CHANGES}_record() RETURNS trigger LANGUAGE plpgsql AS $f$
         DECLARE r jsonb; o jsonb; k text; s bigint; keep bigint;
         BEGIN
           PERFORM pg_advisory_xact_lock(hashtext('bindery watch order'));
           IF TG_OP <> 'DELETE' THEN r := to_jsonb(NEW); END IF;
           IF TG_OP <> 'INSERT' THEN o := to_jsonb(OLD); END IF;
           SELECT string_agg(coalesce(r, o) ->> a, '/' ORDER BY n) INTO k
             FROM unnest(TG_ARGV) WITH ORDINALITY AS u(a, n);
           INSERT INTO {CHANGES} (tbl, op, key, row, before)
             VALUES (TG_TABLE_NAME, lower(left(TG_OP, 1)), coalesce(k, ''), r, o) RETURNING seq INTO s;
           IF s % 256 = 0 THEN
             SELECT value::bigint INTO keep FROM {WATCH_META} WHERE name = 'retention';
             DELETE FROM {CHANGES} WHERE seq <= s - keep;
             UPDATE {WATCH_META} SET value = greatest(value::bigint, s - keep)::text WHERE name = 'pruned';
           END IF;
           PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
           RETURN NULL;
         END $f$;"
    )
}

/// The trigger a watched table needs (its key columns as arguments).
fn trigger_sql(table: &str, schema: &TableSchema) -> String {
    let args: Vec<String> = schema
        .key
        .iter()
        .map(|k| format!("'{}'", k.replace('\'', "''")))
        .collect();
    format!(
        "CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {} \
         FOR EACH ROW EXECUTE FUNCTION {CHANGES}_record({})",
        ident(table),
        args.join(", ")
    )
}

/// A binding's wake-up for watchers: a connection that LISTENs, bumping the channel on each
/// notification. Opened at the first watch; opened again by a later watch once it closed.
pub(crate) struct Hub {
    pub(crate) retention: u64,
    news: watch::Sender<u64>,
    listening: Mutex<Option<Client>>,
}

impl Hub {
    pub(crate) fn new(retention: u64) -> Hub {
        Hub {
            retention,
            news: watch::Sender::new(0),
            listening: Mutex::new(None),
        }
    }

    async fn subscribe(&self, pool: &Pool) -> Result<watch::Receiver<u64>> {
        let rx = self.news.subscribe();
        let open = self
            .listening
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|c| !c.is_closed());
        if !open {
            let client = self.listen(pool).await?;
            *self.listening.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        }
        Ok(rx)
    }

    async fn listen(&self, pool: &Pool) -> Result<Client> {
        let what = "connect to PostgreSQL to LISTEN for changes";
        let news = self.news.clone();
        let client = match &pool.tls {
            Some(tls) => {
                let (client, connection) =
                    pool.config.connect(tls.clone()).await.map_err(|e| map(e, what))?;
                tokio::spawn(forward(connection, news));
                client
            }
            None => {
                let (client, connection) = pool.config.connect(NoTls).await.map_err(|e| map(e, what))?;
                tokio::spawn(forward(connection, news));
                client
            }
        };
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| map(e, what))?;
        Ok(client)
    }
}

/// Drives a listening connection, bumping `news` on each notification, until it closes.
async fn forward<S, T>(mut connection: tokio_postgres::Connection<S, T>, news: watch::Sender<u64>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(Ok(message)) = messages.next().await {
        if let AsyncMessage::Notification(_) = message {
            news.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// Where a watcher is.
struct Follow {
    pool: Arc<Pool>,
    schemas: Arc<SchemaCache>,
    hub: Arc<Hub>,
    table: String,
    epoch: String,
    /// The number of the last change it has.
    last: i64,
    first: VecDeque<Change>,
    news: watch::Receiver<u64>,
    /// Whether the table was gone at the last read (and the watcher told so).
    gone: bool,
    /// The table's oid when the watch began or last started over: a different one means it
    /// was dropped and made again between two reads (whoever put the trigger back on it).
    oid: Option<u32>,
    failed: bool,
}

/// Starts a watch of `table` as `op` asks.
pub(crate) async fn watch(
    pool: Arc<Pool>,
    schemas: Arc<SchemaCache>,
    hub: Arc<Hub>,
    table: String,
    op: OpWatch,
) -> Result<ChangeStream> {
    let news = hub.subscribe(&pool).await?;
    let mut follow = Follow {
        pool,
        schemas,
        hub,
        table,
        epoch: String::new(),
        last: 0,
        first: VecDeque::new(),
        news,
        gone: false,
        oid: None,
        failed: false,
    };
    follow.start(&op).await?;
    Ok(stream::unfold(follow, Follow::next).boxed())
}

/// What the change table says of a watcher's place.
struct Marks {
    epoch: String,
    /// Changes up to this one were pruned.
    pruned: i64,
    /// The newest change numbered so far.
    newest: i64,
}

impl Follow {
    fn cursor(&self, seq: i64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// Makes the change table and the table's trigger as its schema needs them.
    async fn install(&self, client: &mut Client) -> Result<TableSchema> {
        let what = format!("install the watch trigger of table '{}'", self.table);
        let tx = client.transaction().await.map_err(|e| map(e, &what))?;
        tx.batch_execute(&setup_sql(self.hub.retention))
            .await
            .map_err(|e| map(e, &what))?;
        let schema = crate::table::load_schema(&tx, &self.table).await?;
        tx.batch_execute(&trigger_sql(&self.table, &schema))
            .await
            .map_err(|e| map(e, &what))?;
        tx.commit().await.map_err(|e| map(e, &what))?;
        Ok(schema)
    }

    /// The table's oid, and its trigger: `None` when it has none (never watched, or dropped
    /// and made again), else whether its key arguments are the ones `schema` needs.
    async fn trigger(&self, client: &Client, schema: &TableSchema) -> Result<(Option<u32>, Option<bool>)> {
        let what = format!("read the watch trigger of table '{}'", self.table);
        let row = client
            .query_one(
                "SELECT to_regclass(quote_ident($1))::oid, \
                 (SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t \
                  WHERE t.tgrelid = to_regclass(quote_ident($1)) AND t.tgname = $2)",
                &[&self.table, &TRIGGER],
            )
            .await
            .map_err(|e| map(e, &what))?;
        let oid: Option<u32> = row.get(0);
        let def: Option<String> = row.get(1);
        Ok((
            oid,
            def.map(|def| {
                let wanted = trigger_sql(&self.table, schema);
                let args = |s: &str| {
                    s.rsplit_once("_record(")
                        .map(|(_, a)| a.trim_end_matches(')').to_string())
                };
                args(&def) == args(&wanted)
            }),
        ))
    }

    async fn marks(&self, client: &Client) -> Result<Marks> {
        let what = "read the change table's marks";
        let row = client
            .query_one(
                &format!(
                    "SELECT (SELECT value FROM {WATCH_META} WHERE name = 'epoch'), \
                     (SELECT value::bigint FROM {WATCH_META} WHERE name = 'pruned'), \
                     (SELECT coalesce(max(seq), 0) FROM {CHANGES})"
                ),
                &[],
            )
            .await
            .map_err(|e| map(e, what))?;
        Ok(Marks {
            epoch: row.get(0),
            pruned: row.get(1),
            newest: row.get(2),
        })
    }

    async fn start(&mut self, op: &OpWatch) -> Result<()> {
        let mut conn = self.pool.get().await?;
        let schema = self.schemas.get(conn.client(), &self.table).await?;
        // (The trigger is looked up in the catalog: no change table is needed for that.)
        let (oid, trigger) = self.trigger(conn.client(), &schema).await?;
        self.oid = oid;
        let schema = match trigger {
            Some(true) => schema,
            _ => self.install(conn.client_mut()).await?,
        };
        let marks = self.marks(conn.client()).await?;
        self.epoch = marks.epoch.clone();
        match &op.from {
            WatchFrom::Now => {
                self.last = marks.newest;
                if op.initial {
                    self.snapshot(conn.client_mut(), &schema, false).await?;
                }
            }
            WatchFrom::Cursor(c) => match cursor_seq(c, &marks.epoch).map(|seq| seq as i64) {
                Some(seq) if seq >= marks.pruned && seq <= marks.newest => self.last = seq,
                _ => self.snapshot(conn.client_mut(), &schema, true).await?,
            },
        }
        Ok(())
    }

    /// The rows as `created` changes, then `synced` (after `resync` when `resync`), read in
    /// one snapshot with the newest change, from which the watch goes on.
    async fn snapshot(&mut self, client: &mut Client, schema: &TableSchema, resync: bool) -> Result<()> {
        let what = format!("read the rows of table '{}'", self.table);
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| map(e, &what))?;
        let newest: i64 = tx
            .query_one(&format!("SELECT coalesce(max(seq), 0) FROM {CHANGES}"), &[])
            .await
            .map_err(|e| map(e, &what))?
            .get(0);
        self.last = newest;
        let cursor = self.cursor(newest);
        let key: Vec<String> = schema
            .key
            .iter()
            .map(|k| format!("(to_jsonb(t) ->> '{}')", k.replace('\'', "''")))
            .collect();
        let key = if key.is_empty() {
            "''".to_string()
        } else {
            key.join(" || '/' || ")
        };
        let rows = tx
            .query(
                &format!("SELECT {key}, to_jsonb(t)::text FROM {} AS t", ident(&self.table)),
                &[],
            )
            .await
            .map_err(|e| map(e, &what))?;
        tx.commit().await.map_err(|e| map(e, &what))?;
        let found = rows
            .iter()
            .map(|r| (r.get::<_, Option<String>>(0).unwrap_or_default(), r.get(1)))
            .collect();
        self.first
            .extend(initial_rows(schema, bytea, found, &cursor, resync)?);
        Ok(())
    }

    /// Reads what the change table has after the last change; whether anything was queued.
    async fn read(&mut self) -> Result<bool> {
        let mut conn = self.pool.get().await?;
        let schema = match self.schemas.get(conn.client(), &self.table).await {
            Ok(schema) => schema,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Gone, with its trigger: told once, then watched again when it is back.
                if self.gone {
                    return Ok(false);
                }
                self.gone = true;
                self.last = self.marks(conn.client()).await?.newest;
                let cursor = self.cursor(self.last);
                self.first
                    .push_back(Change::marker(ChangeKind::Resync, cursor.clone()));
                self.first.push_back(Change::marker(ChangeKind::Synced, cursor));
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        let (oid, trigger) = self.trigger(conn.client(), &schema).await?;
        // Made again since the last read: whether this watcher or another one (another
        // process's) put the trigger back, what happened before that is not in the log.
        let remade = self.gone || oid != self.oid;
        match trigger {
            Some(true) if !remade => {}
            Some(false) if !remade => {
                // Its key changed: the trigger again, nothing missed.
                self.install(conn.client_mut()).await?;
            }
            _ => {
                let schema = match trigger {
                    Some(true) => schema,
                    _ => self.install(conn.client_mut()).await?,
                };
                self.gone = false;
                self.oid = oid;
                self.snapshot(conn.client_mut(), &schema, true).await?;
                return Ok(true);
            }
        }
        let what = format!("read the changes of table '{}'", self.table);
        let marks = self.marks(conn.client()).await?;
        if self.last < marks.pruned {
            self.snapshot(conn.client_mut(), &schema, true).await?;
            return Ok(true);
        }
        let rows = conn
            .client()
            .query(
                &format!(
                    "SELECT seq, op, key, row::text, before::text, (extract(epoch FROM at) * 1000)::bigint \
                     FROM {CHANGES} WHERE tbl = $1 AND seq > $2 ORDER BY seq LIMIT {PAGE}"
                ),
                &[&self.table, &self.last],
            )
            .await
            .map_err(|e| map(e, &what))?;
        let found: Vec<Logged> = rows
            .iter()
            .map(|r| Logged {
                seq: r.get::<_, i64>(0) as u64,
                op: r.get(1),
                key: r.get(2),
                row: r.get(3),
                before: r.get(4),
                at_ms: r.get(5),
            })
            .collect();
        if let Some(l) = found.last() {
            self.last = l.seq as i64;
        }
        self.first
            .extend(logged_changes(&schema, bytea, &self.epoch, found)?);
        Ok(!rows.is_empty())
    }

    async fn next(mut self) -> Option<(Result<Change>, Follow)> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(c) = self.first.pop_front() {
                return Some((Ok(c), self));
            }
            // Seen before reading, so a notification during the read wakes the next wait.
            self.news.borrow_and_update();
            match self.read().await {
                Ok(true) => {}
                Ok(false) => {
                    // A notification, or the tick (a lost LISTEN connection, a dropped table).
                    let _ = tokio::time::timeout(TICK, self.news.changed()).await;
                }
                Err(e) => {
                    self.failed = true;
                    return Some((Err(e), self));
                }
            }
        }
    }
}

/// Bytes from PostgreSQL's `bytea` text (`\\x0001…`).
fn bytea(s: &str) -> Option<Vec<u8>> {
    s.strip_prefix("\\x").and_then(hex_bytes)
}
