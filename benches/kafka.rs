//! Streams on `kafka` (DESIGN §9): 100-byte messages published and consumed through the SDK,
//! each against rdkafka used directly (the same librdkafka, the same producer and consumer
//! settings) in the same run on the same broker (tansu on loopback, started by
//! `benches/run`). Publish is measured in calls of 1000 messages and one message at a time;
//! consume reads a topic of 20 000 messages from the earliest. Both sides send one message
//! per record batch (`batch.num.messages=1`), which tansu 0.6.0 needs (see the README).
//! Three rounds each; medians and ratios.
//!
//! Run with `benches/run kafka` (BINDERY_KAFKA_URL tells this bench where the broker is).

use std::time::{Duration, Instant};

use bindery::{Context, Message};
use bindery_benches::{table_header, Case};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

const ROUNDS: usize = 3;
const SIZE: usize = 100;
const BATCH: usize = 1000;
const TOTAL: usize = 20_000;
/// How long each one-at-a-time round runs.
const WINDOW: Duration = Duration::from_secs(2);

fn brokers() -> String {
    let url =
        std::env::var("BINDERY_KAFKA_URL").expect("BINDERY_KAFKA_URL: run this bench with benches/run kafka");
    url.strip_prefix("kafka://").unwrap_or(&url).to_string()
}

fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("batch.num.messages", "1")
        .create()
        .unwrap()
}

async fn direct_publish(p: &FutureProducer, topic: &str, n: usize, value: &[u8]) {
    let pending: Vec<_> = (0..n)
        .map(|_| {
            p.send_result(FutureRecord::<[u8], [u8]>::to(topic).payload(value))
                .unwrap()
        })
        .collect();
    for f in pending {
        f.await.unwrap().unwrap();
    }
}

async fn direct_consume(topic: &str, n: usize) {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("bench-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    for _ in 0..n {
        let m = c.recv().await.unwrap();
        assert_eq!(m.payload().map(<[u8]>::len), Some(SIZE));
    }
}

async fn bindery_consume(ctx: &Context, stream: &str, n: usize) {
    let mut c = ctx
        .stream()
        .consume(format!("ev://{stream}"))
        .from_("earliest", "")
        .load();
    for _ in 0..n {
        let m = c.next_async().await.unwrap().unwrap();
        assert_eq!(m.value.len(), SIZE);
    }
    c.close_async().await;
}

fn main() {
    let rt = bindery_benches::runtime(2);
    rt.block_on(async {
        let prefix = format!("bench-{}.", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let spec = format!(
            "spec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: kafka\n      url: kafka://{}\n      \
             options:\n        topic_prefix: {prefix}\n        producer.batch.num.messages: \"1\"\n",
            brokers()
        );
        std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
        let ctx = Context::connect(dir.path().join("function.yaml")).await.unwrap();
        let s = ctx.stream();
        let p = producer();
        let value = vec![b'x'; SIZE];
        let msgs: Vec<Message> = (0..BATCH).map(|_| Message::new(value.clone())).collect();

        table_header("Streams on `kafka` (tansu 0.6.0, loopback): 100-byte messages, against rdkafka used directly");
        let (mut batched, mut single, mut consume) = (Case::default(), Case::default(), Case::default());
        for round in 0..ROUNDS {
            let ours = format!("b{round}");
            let theirs = format!("d{round}");
            s.create("ev://", &ours, 1).await.unwrap();
            s.create("ev://", &theirs, 1).await.unwrap();
            let t = Instant::now();
            for _ in 0..TOTAL / BATCH {
                s.publish(format!("ev://{ours}")).messages(msgs.clone()).await.unwrap();
            }
            let b = TOTAL as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            for _ in 0..TOTAL / BATCH {
                direct_publish(&p, &format!("{prefix}{theirs}"), BATCH, &value).await;
            }
            let d = TOTAL as f64 / t.elapsed().as_secs_f64();
            batched.add(b, d);

            let t = Instant::now();
            bindery_consume(&ctx, &ours, TOTAL).await;
            let b = TOTAL as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            direct_consume(&format!("{prefix}{theirs}"), TOTAL).await;
            let d = TOTAL as f64 / t.elapsed().as_secs_f64();
            consume.add(b, d);

            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < WINDOW {
                s.publish(format!("ev://{ours}")).buffers([value.clone()]).await.unwrap();
                n += 1;
            }
            let b = n as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < WINDOW {
                direct_publish(&p, &format!("{prefix}{theirs}"), 1, &value).await;
                n += 1;
            }
            let d = n as f64 / t.elapsed().as_secs_f64();
            single.add(b, d);
            s.delete(format!("ev://{ours}")).await.unwrap();
            s.delete(format!("ev://{theirs}")).await.unwrap();
        }
        batched.report("publish, 1000 per call", "msgs/s", "rdkafka FutureProducer");
        single.report("publish, one at a time", "msgs/s", "rdkafka FutureProducer");
        consume.report("consume 20 000 from the earliest", "msgs/s", "rdkafka StreamConsumer");
    });
}
