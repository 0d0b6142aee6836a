//! A second writer for the tests of concurrent writes: puts `N` objects `PREFIX0` …
//! `PREFIX{N-1}` (each holding its number) one after another on the spec's first object
//! binding, then prints `done`.
//!
//! Usage: object-putter SPEC PREFIX N

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, spec, prefix, n] = &args[..] else {
        eprintln!("usage: object-putter SPEC PREFIX N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let ctx = bindery::Context::open(spec).expect("open the spec");
    for i in 0..n {
        ctx.object()
            .put(format!("{prefix}{i}"), i.to_string())
            .option("message", format!("putter {prefix}{i}"))
            .do_()
            .expect("the put succeeds");
    }
    println!("done");
}
