//! Objects on `s3` (DESIGN §9): 4 KiB get and put with 64 requests in flight, and 256 MiB get
//! and put, through the SDK, each against aws-sdk-s3 used directly in the same run on the same
//! server (Garage and s3s-fs on loopback, started by `benches/run`). The direct client has the
//! driver's settings: path-style, checksums only where S3 requires them, no SDK retries. The
//! driver sends a 256 MiB put as a multipart upload (8 MiB parts, 4 in flight); it is measured
//! against the SDK doing the same multipart upload by hand, and against one PutObject, as a
//! program using the SDK simply would. Each case also runs against the `opendal` crate's S3
//! service (0.55; the large put as its multipart writer with the same parts). Three rounds
//! each; medians and ratios.
//!
//! Run with `benches/run s3` (it starts the servers; BINDERY_GARAGE_URL, BINDERY_S3FS_URL,
//! BINDERY_S3_KEY_ID and BINDERY_S3_SECRET tell this bench where they are).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bindery::{Bytes, Context};
use bindery_benches::{table_header, Case};
use futures::StreamExt;

const ROUNDS: usize = 3;
const SMALL: usize = 4096;
const LARGE: usize = 256 << 20;
const IN_FLIGHT: usize = 64;
/// How long each small-object round runs.
const WINDOW: Duration = Duration::from_secs(1);

/// Operations per second of `op` with [`IN_FLIGHT`] running at once, for [`WINDOW`].
async fn rate<F, Fut>(op: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let n = futures::stream::iter(0u64..)
        .take_while(|_| futures::future::ready(start.elapsed() < WINDOW))
        .map(op)
        .buffer_unordered(IN_FLIGHT)
        .count()
        .await;
    n as f64 / start.elapsed().as_secs_f64()
}

/// Megabytes per second of one `op` moving `bytes`.
async fn throughput(bytes: usize, op: impl Future<Output = ()>) -> f64 {
    let start = Instant::now();
    op.await;
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run this bench with benches/run s3"))
}

/// A multipart upload with aws-sdk-s3 directly: 8 MiB parts, 4 in flight, as the driver does.
async fn sdk_multipart(sdk: &Client, bucket: &str, key: &str, data: &Bytes) {
    const PART: usize = 8 << 20;
    let up = sdk
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let parts: Vec<CompletedPart> = futures::stream::iter((0..data.len()).step_by(PART).enumerate())
        .map(|(i, off)| {
            let req = sdk
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .part_number(i as i32 + 1)
                .body(ByteStream::from(data.slice(off..(off + PART).min(data.len()))));
            async move {
                let out = req.send().await.unwrap();
                CompletedPart::builder()
                    .part_number(i as i32 + 1)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build()
            }
        })
        .buffered(4)
        .collect()
        .await;
    sdk.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
}

/// opendal's S3 service on the same bucket, under `root`.
fn opendal_op(url: &str, root: &str) -> opendal::Operator {
    let (endpoint, bucket) = url.rsplit_once('/').expect("the url ends with the bucket");
    let s3 = opendal::services::S3::default()
        .root(root)
        .bucket(bucket)
        .endpoint(endpoint)
        .region("us-east-1")
        .access_key_id(&env("BINDERY_S3_KEY_ID"))
        .secret_access_key(&env("BINDERY_S3_SECRET"))
        .disable_config_load()
        .disable_ec2_metadata();
    opendal::Operator::new(s3).unwrap().finish()
}

fn direct(url: &str) -> (Client, String) {
    let (conf, bucket) = bindery_tests::s3_direct_config(url);
    let conf = conf
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    (Client::from_conf(conf.build()), bucket)
}

async fn server(name: &str, url: &str) {
    let prefix = format!("bench-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "spec:\n  dataBindings:\n    obj:\n      kind: object\n      driver: s3\n      url: {url}\n      path: {prefix}\n      \
         credentials:\n        access_key_id: {{ env: BINDERY_S3_KEY_ID }}\n        secret_access_key: {{ env: BINDERY_S3_SECRET }}\n"
    );
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    let ctx = Context::connect(dir.path().join("function.yaml")).await.unwrap();
    let o = ctx.object();
    let (sdk, bucket) = direct(url);
    let odal = opendal_op(url, &format!("/{prefix}/odal"));
    let small = Bytes::from(vec![7u8; SMALL]);
    let large = Bytes::from(vec![9u8; LARGE]);
    for i in 0..IN_FLIGHT {
        o.put(format!("obj://s/{i}"), small.clone()).await.unwrap();
        odal.write(&format!("s/{i}"), small.clone()).await.unwrap();
    }

    table_header(&format!(
        "Objects on `s3` ({name}, loopback): against aws-sdk-s3 used directly, same server"
    ));
    let (mut get, mut put) = (Case::default(), Case::default());
    let (mut get_odal, mut put_odal) = (Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let b = rate(|i| {
            let o = o.clone();
            async move {
                let got = o.get(format!("obj://s/{}", i % 64)).await.unwrap();
                assert_eq!(got.data.len(), SMALL);
            }
        })
        .await;
        let d = rate(|i| {
            let req = sdk
                .get_object()
                .bucket(&bucket)
                .key(format!("{prefix}/s/{}", i % 64));
            async move {
                let got = req
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                assert_eq!(got.len(), SMALL);
            }
        })
        .await;
        get.add(b, d);
        let d = rate(|i| {
            let odal = odal.clone();
            async move {
                assert_eq!(odal.read(&format!("s/{}", i % 64)).await.unwrap().len(), SMALL);
            }
        })
        .await;
        get_odal.add(b, d);
        let b = rate(|i| {
            let req = o.put(format!("obj://p/{}", i % 64), small.clone());
            async move {
                req.await.unwrap();
            }
        })
        .await;
        let d = rate(|i| {
            let req = sdk
                .put_object()
                .bucket(&bucket)
                .key(format!("{prefix}/q/{}", i % 64))
                .body(ByteStream::from(small.clone()));
            async move {
                req.send().await.unwrap();
            }
        })
        .await;
        put.add(b, d);
        let d = rate(|i| {
            let (odal, small) = (odal.clone(), small.clone());
            async move {
                odal.write(&format!("q/{}", i % 64), small).await.unwrap();
            }
        })
        .await;
        put_odal.add(b, d);
    }
    get.report("get 4 KiB, 64 in flight", "ops/s", "aws-sdk-s3");
    get_odal.report("get 4 KiB, 64 in flight", "ops/s", "opendal");
    put.report("put 4 KiB, 64 in flight", "ops/s", "aws-sdk-s3");
    put_odal.report("put 4 KiB, 64 in flight", "ops/s", "opendal");

    let (mut get, mut put, mut put_one) = (Case::default(), Case::default(), Case::default());
    let (mut get_odal, mut put_odal) = (Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let b = throughput(LARGE, async {
            o.put("obj://large", large.clone()).await.unwrap();
        })
        .await;
        let d = throughput(
            LARGE,
            sdk_multipart(&sdk, &bucket, &format!("{prefix}/direct-large"), &large),
        )
        .await;
        put.add(b, d);
        let d = throughput(LARGE, async {
            sdk.put_object()
                .bucket(&bucket)
                .key(format!("{prefix}/direct-large"))
                .body(ByteStream::from(large.clone()))
                .send()
                .await
                .unwrap();
        })
        .await;
        put_one.add(b, d);
        let d = throughput(LARGE, async {
            let mut w = odal
                .writer_with("large")
                .chunk(8 << 20)
                .concurrent(4)
                .await
                .unwrap();
            w.write(large.clone()).await.unwrap();
            w.close().await.unwrap();
        })
        .await;
        put_odal.add(b, d);
        let b = throughput(LARGE, async {
            assert_eq!(o.get("obj://large").await.unwrap().data.len(), LARGE);
        })
        .await;
        let d = throughput(LARGE, async {
            let out = sdk
                .get_object()
                .bucket(&bucket)
                .key(format!("{prefix}/direct-large"))
                .send()
                .await
                .unwrap();
            assert_eq!(out.body.collect().await.unwrap().into_bytes().len(), LARGE);
        })
        .await;
        get.add(b, d);
        let d = throughput(LARGE, async {
            assert_eq!(odal.read("large").await.unwrap().len(), LARGE);
        })
        .await;
        get_odal.add(b, d);
    }
    get.report("get 256 MiB", "MB/s", "aws-sdk-s3 GetObject");
    get_odal.report("get 256 MiB", "MB/s", "opendal read");
    put.report("put 256 MiB", "MB/s", "aws-sdk-s3 multipart, same parts");
    put_one.report("put 256 MiB", "MB/s", "aws-sdk-s3 one PutObject");
    put_odal.report("put 256 MiB", "MB/s", "opendal writer, same parts");

    // Leave the bucket as it was.
    let listed = o.list("obj://").await.unwrap();
    for e in listed {
        o.del(format!("obj://{}", e.path())).await.unwrap();
    }
    let direct_keys: Vec<String> = (0..IN_FLIGHT)
        .map(|i| format!("{prefix}/q/{i}"))
        .chain([format!("{prefix}/direct-large")])
        .collect();
    for k in direct_keys {
        sdk.delete_object().bucket(&bucket).key(k).send().await.unwrap();
    }
    odal.remove_all("/").await.unwrap();
}

fn main() {
    let rt = bindery_benches::runtime(2);
    rt.block_on(async {
        server("Garage 2.5.0", &env("BINDERY_GARAGE_URL")).await;
        server("s3s-fs 0.14.1", &env("BINDERY_S3FS_URL")).await;
    });
}
