//! Moves one large object through the `s3` or the `fs` driver and reports the process's peak
//! memory: a put streamed from a generator (never the whole object in memory), then a get read
//! as a stream. Prints `put_peak_rss`, `get_peak_rss` (bytes, from `VmHWM`, reset between the
//! two) and each direction's throughput. The S3 test checks the peaks stay bounded;
//! `benches/run` states them for 1 GiB.
//!
//! Usage: transfer URL BYTES, where URL is an S3 bucket's (`http://host:port/bucket`;
//! credentials from BINDERY_S3_KEY_ID/BINDERY_S3_SECRET) or a directory (the `fs` driver).

use std::time::Instant;

use bindery_tests::memory::{peak_rss, reset_peak};
use bytes::Bytes;
use futures::StreamExt;

const CHUNK: usize = 1 << 20;

/// The byte at offset `i` of the object.
fn byte_at(i: usize) -> u8 {
    ((i / 4093) as u8).wrapping_mul(31) ^ (i as u8)
}

fn chunk(offset: usize, len: usize) -> Bytes {
    (offset..offset + len).map(byte_at).collect::<Vec<u8>>().into()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, size] = &args[..] else {
        eprintln!("usage: transfer URL BYTES (an S3 bucket's URL, or a directory for fs)");
        std::process::exit(2);
    };
    let size: usize = size.parse().expect("BYTES");
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = bindery_tests::unique_prefix("transfer");
    let spec = if url.starts_with("http://") || url.starts_with("https://") {
        bindery_tests::spec_text_at("s3", &prefix, &bindery_tests::s3_binding(url))
    } else {
        bindery_tests::spec_text_at("fs", &prefix, &format!("      url: {url}\n"))
    };
    std::fs::write(dir.path().join("function.yaml"), spec).expect("write spec");
    let ctx = bindery::Context::open(dir.path().join("function.yaml")).expect("connect");
    let o = ctx.object();

    reset_peak();
    let start = Instant::now();
    let body = futures::stream::iter((CHUNK..size).step_by(CHUNK))
        .map(move |off| Ok(chunk(off, CHUNK.min(size - off))))
        .boxed();
    let meta = o
        .put("obj://large", chunk(0, CHUNK.min(size)))
        .add_stream(body)
        .do_()
        .expect("put");
    let put_secs = start.elapsed().as_secs_f64();
    assert_eq!(meta.size, size as u64);
    println!("put_peak_rss={}", peak_rss());

    reset_peak();
    let start = Instant::now();
    let mut offset = 0;
    for part in o.get("obj://large").load() {
        let part = part.expect("get");
        let expected = chunk(offset, part.len());
        assert!(part == expected, "wrong bytes at {offset}");
        offset += part.len();
    }
    let get_secs = start.elapsed().as_secs_f64();
    assert_eq!(offset, size, "got {offset} of {size} bytes");
    println!("get_peak_rss={}", peak_rss());
    println!("put_mb_s={:.1}", size as f64 / put_secs / 1e6);
    println!("get_mb_s={:.1}", size as f64 / get_secs / 1e6);
    o.del("obj://large").do_().expect("delete");
}
