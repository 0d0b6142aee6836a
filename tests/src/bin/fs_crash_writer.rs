//! The writer the fs crash test kills: puts one object again and again, each time whole
//! bytes of one value and metadata `seq`, and prints `seq` once the put is acknowledged.
//!
//! Usage: fs-crash-writer SPEC PATH SIZE FIRST_SEQ

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, spec, path, size, first] = &args[..] else {
        eprintln!("usage: fs-crash-writer SPEC PATH SIZE FIRST_SEQ");
        std::process::exit(2);
    };
    let size: usize = size.parse().expect("SIZE");
    let first: u64 = first.parse().expect("FIRST_SEQ");
    let ctx = bindery::Context::open(spec).expect("open the spec");
    let mut out = std::io::stdout().lock();
    for seq in first.. {
        let fill = bindery_tests::crash_byte(seq);
        let chunk = bytes::Bytes::from(vec![fill; 256 * 1024]);
        let mut put = ctx
            .object()
            .put(path.as_str(), chunk.slice(..size.min(chunk.len())));
        let mut written = chunk.len().min(size);
        while written < size {
            let n = chunk.len().min(size - written);
            put = put.add(chunk.slice(..n));
            written += n;
        }
        put.metadata([("seq", seq.to_string())]).do_().expect("put");
        writeln!(out, "{seq}").and_then(|_| out.flush()).expect("stdout");
    }
}
