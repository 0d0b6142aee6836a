//! A consumer: one reader task per assigned shard, feeding one channel; the assignment
//! follows the consumer group (or every shard, without a group).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bindery_core::{Error, Message, OpConsume, Result, StartAt};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::folder::LogStream;
use crate::shard::Reader;

/// Messages read per blocking call.
const BATCH: usize = 256;
/// How often a consumer looks for data written by another process.
const POLL: Duration = Duration::from_millis(100);

/// Which shards a consumer reads: those its group gives it, or all.
pub enum Assignment {
    Group(watch::Receiver<Vec<u32>>),
    All(watch::Receiver<u32>),
}

impl Assignment {
    fn current(&self) -> Vec<u32> {
        match self {
            Assignment::Group(m) => m.borrow().clone(),
            Assignment::All(n) => (0..*n.borrow()).collect(),
        }
    }

    async fn changed(&mut self) -> bool {
        match self {
            Assignment::Group(m) => m.changed().await.is_ok(),
            Assignment::All(n) => n.changed().await.is_ok(),
        }
    }
}

#[derive(Clone, Copy)]
enum Start {
    At(u64),
    Earliest,
    Latest,
    Time(SystemTime),
}

fn start_for(op_start: Option<&StartAt>, shard: u32, checkpoints: &BTreeMap<u32, u64>) -> Start {
    let checkpoint = || checkpoints.get(&shard).map_or(Start::Earliest, |p| Start::At(*p));
    match op_start {
        None | Some(StartAt::Checkpoint) => checkpoint(),
        Some(StartAt::Earliest) => Start::Earliest,
        Some(StartAt::Latest) => Start::Latest,
        Some(StartAt::Timestamp(t)) => Start::Time(*t),
        Some(StartAt::Positions(p)) => p.get(&shard).map_or(Start::Earliest, |p| Start::At(*p)),
    }
}

/// Runs a consumer until its channel closes (or, without `follow`, until it has caught up).
/// The group membership is not here but in the consumer's message stream, so that dropping
/// the stream leaves the group at once.
pub async fn run(
    stream: Arc<LogStream>,
    op: OpConsume,
    mut assignment: Assignment,
    tx: mpsc::Sender<Result<Vec<Message>>>,
) {
    let mut tasks: HashMap<u32, AbortHandle> = HashMap::new();
    // Without `follow`, shards already read to their end are not read again.
    let mut finished: HashSet<u32> = HashSet::new();
    let mut set = JoinSet::new();
    // The consumer's `from_` applies to the shards it starts with; shards it is given later
    // (a rebalance, a grown stream) continue from the group's checkpoint.
    let mut first_round = true;
    loop {
        let want = assignment.current();
        tasks.retain(|shard, handle| {
            let keep = want.contains(shard);
            if !keep {
                handle.abort();
            }
            keep
        });
        let added: Vec<u32> = want
            .iter()
            .copied()
            .filter(|s| !tasks.contains_key(s) && !finished.contains(s))
            .collect();
        if !added.is_empty() {
            let checkpoints = match &op.group {
                Some(g) => match stream.checkpoints(g) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                },
                None => BTreeMap::new(),
            };
            for shard in added {
                let start = start_for(
                    if first_round { op.start.as_ref() } else { None },
                    shard,
                    &checkpoints,
                );
                let handle = set.spawn(read_shard(stream.clone(), shard, start, op.follow, tx.clone()));
                tasks.insert(shard, handle);
            }
        }
        first_round = false;
        if !op.follow && set.is_empty() {
            break; // nothing (left) to read
        }
        tokio::select! {
            _ = tx.closed() => break,
            more = assignment.changed() => if !more { break },
            done = set.join_next(), if !set.is_empty() => {
                if let Some(Ok(shard)) = done {
                    if !op.follow {
                        tasks.remove(&shard);
                        finished.insert(shard);
                    }
                }
                if !op.follow && set.is_empty() {
                    break;
                }
            }
        }
    }
    set.abort_all();
}

/// Reads one shard into the channel; returns the shard's id when done.
async fn read_shard(
    stream: Arc<LogStream>,
    id: u32,
    start: Start,
    follow: bool,
    tx: mpsc::Sender<Result<Vec<Message>>>,
) -> u32 {
    let Some(shard) = stream.shard(id) else { return id };
    let pos = match start {
        Start::At(p) => p,
        Start::Earliest => shard.first(),
        Start::Latest => shard.next(),
        Start::Time(t) => {
            let s = shard.clone();
            match tokio::task::spawn_blocking(move || s.position_at(t)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(e)).await;
                    return id;
                }
                Err(e) => {
                    let _ = tx.send(Err(Error::internal(e.to_string()))).await;
                    return id;
                }
            }
        }
    };
    let mut next = shard.subscribe();
    let mut reader = Some(Reader::new(shard.clone(), pos));
    loop {
        next.borrow_and_update();
        let writer = stream.is_writer();
        // In the writing process only what is acknowledged (durable) is read.
        let bound = writer.then(|| shard.next());
        let Some(mut r) = reader.take() else { return id };
        let Ok((r, batch)) = tokio::task::spawn_blocking(move || {
            let b = r.read(BATCH, bound);
            (r, b)
        })
        .await
        else {
            return id;
        };
        reader = Some(r);
        match batch {
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return id;
            }
            Ok(batch) if batch.is_empty() => {
                if !follow {
                    return id;
                }
                if writer {
                    let _ = tokio::time::timeout(Duration::from_secs(1), next.changed()).await;
                } else {
                    tokio::time::sleep(POLL).await;
                }
            }
            Ok(batch) => {
                if tx.send(Ok(batch)).await.is_err() {
                    return id;
                }
            }
        }
    }
}
