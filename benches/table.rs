//! Tables on the `sqlite` driver (DESIGN §9): reading a table of `BINDERY_BENCH_ROWS` rows
//! (default 10 million) × 4 columns (int64 key, string, float64, int64) through the SDK into
//! Arrow batches, against reading the same rows with rusqlite directly (each value taken out
//! of SQLite into a Rust vector) in the same run, on the same file.
//!
//! Run with `cargo bench -p bindery-benches --bench table`.

use std::time::Instant;

use bindery::Context;

fn rows() -> u64 {
    std::env::var("BINDERY_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// Fills `t` through rusqlite in one transaction, and registers bindery's schema with a
/// `create` first (so the table has bindery's types).
fn fill(ctx: &Context, file: &std::path::Path, n: u64) {
    ctx.table()
        .create("db://t")
        .schema("id int64 NOT NULL, name string, score float64, age int64")
        .primary_key("id", None)
        .do_()
        .unwrap();
    let mut conn = rusqlite::Connection::open(file).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO t (id, name, score, age) VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        for i in 0..n as i64 {
            stmt.execute(rusqlite::params![
                i,
                format!("user-{i:08}"),
                i as f64 * 0.5,
                i % 97
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// rusqlite directly: every value out of SQLite into vectors. Rows/s.
fn direct(file: &std::path::Path) -> (f64, u64) {
    let conn = rusqlite::Connection::open(file).unwrap();
    let start = Instant::now();
    let mut stmt = conn.prepare("SELECT id, name, score, age FROM t").unwrap();
    let mut rows = stmt.query([]).unwrap();
    let (mut ids, mut names, mut scores, mut ages) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut n = 0u64;
    while let Some(r) = rows.next().unwrap() {
        ids.push(r.get::<_, i64>(0).unwrap());
        names.push(r.get::<_, String>(1).unwrap());
        scores.push(r.get::<_, f64>(2).unwrap());
        ages.push(r.get::<_, i64>(3).unwrap());
        n += 1;
        if ids.len() == 8192 {
            ids.clear();
            names.clear();
            scores.clear();
            ages.clear();
        }
    }
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

/// bindery: `read("db://t").load()`, every batch. Rows/s.
fn through_bindery(ctx: &Context) -> (f64, u64) {
    let start = Instant::now();
    let mut n = 0u64;
    for b in ctx.table().read("db://t").load() {
        n += b.unwrap().num_rows() as u64;
    }
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

fn main() {
    let n = rows();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: sqlite\n      url: ./t.db\n",
    )
    .unwrap();
    let ctx = Context::open(dir.path().join("function.yaml")).unwrap();
    let file = dir.path().join("t.db");
    let filled = Instant::now();
    fill(&ctx, &file, n);
    println!("filled {n} rows in {:.1}s", filled.elapsed().as_secs_f64());
    // Warm the page cache, then alternate the two, twice.
    direct(&file);
    for round in 1..=2 {
        let (d, dn) = direct(&file);
        let (b, bn) = through_bindery(&ctx);
        assert_eq!((dn, bn), (n, n));
        println!(
            "round {round}: sqlite read, 4 columns: bindery {b:>12.0} rows/s   rusqlite directly {d:>12.0} rows/s   ratio {:.2}",
            b / d
        );
    }
}
