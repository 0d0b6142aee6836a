//! The publisher the log crash test kills. Four tasks publish at once (so publishes are
//! grouped into shared fsyncs); each publish has one key and 1–40 messages of up to 2 KiB,
//! or (one in ten) 1–100 messages of up to 32 KiB, so that kills land inside writes too. Once a publish is acknowledged it prints
//! `ID COUNT SHARD FIRST_POSITION`, where ID is `RUN:TASK:SEQ`.
//!
//! Message values are `ID:INDEX:COUNT:` and then padding of one byte repeated (see
//! [`bindery_tests::crash_byte`]), so the test can tell a message whole and where it belongs.
//!
//! Usage: log-crash-publisher SPEC PATH RUN

use std::io::Write;
use std::sync::{Arc, Mutex};

use bindery::Message;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, spec, path, run] = &args[..] else {
        eprintln!("usage: log-crash-publisher SPEC PATH RUN");
        std::process::exit(2);
    };
    let run: u64 = run.parse().expect("RUN");
    let ctx = bindery::Context::connect(spec).await.expect("open the spec");
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for task in 0..4u64 {
        let (ctx, out, path) = (ctx.clone(), out.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = run * 1000 + task + 1;
            for seq in 0u64.. {
                let id = format!("{run}:{task}:{seq}");
                // One publish in ten is large (MiBs), so that kills land inside its write too.
                let large = bindery_tests::next_random(&mut rng).is_multiple_of(10);
                let (most, pad_max) = if large { (100, 32 << 10) } else { (40, 2 << 10) };
                let count = 1 + bindery_tests::next_random(&mut rng) % most;
                let key = format!("r{run}t{task}k{}", seq % 3);
                let messages: Vec<Message> = (0..count)
                    .map(|i| {
                        let pad = (bindery_tests::next_random(&mut rng) % pad_max) as usize;
                        let mut value = format!("{id}:{i}:{count}:").into_bytes();
                        value.resize(value.len() + pad, bindery_tests::crash_byte(seq + i));
                        Message::new(value).with_key(key.clone())
                    })
                    .collect();
                let placed = ctx
                    .stream()
                    .publish(&path)
                    .messages(messages)
                    .await
                    .expect("publish");
                let (shard, first) = placed[0];
                let mut out = out.lock().unwrap();
                writeln!(out, "{id} {count} {shard} {first}")
                    .and_then(|_| out.flush())
                    .expect("stdout");
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher task");
    }
}
