//! Tables (DESIGN §9): reading a table of `BINDERY_BENCH_ROWS` rows (default 10 million) ×
//! 4 columns (int64 key, string, float64, int64) through the SDK into Arrow batches, whole and
//! filtered to 1% (`age = 5`), each next to its baseline in the same run on the same data:
//!
//! - `sqlite`: rusqlite directly, each value taken out of SQLite into a Rust vector (the
//!   filtered baseline runs the same `WHERE` in SQLite);
//! - `postgres` (on the server `BINDERY_PG_URL` names; `benches/run` starts one): the same
//!   query through tokio-postgres taking every value, and through adbc-driver-postgresql into
//!   a pyarrow Table (when `BINDERY_BENCH_PYTHON` names a Python that has it);
//! - `files` (one Parquet file of 1M-row row groups, snappy): the parquet crate's Arrow reader
//!   directly (the filtered baseline filters its batches with Arrow's `eq` kernel).
//!
//! Run with `cargo bench -p bindery-benches --bench table`.

use std::sync::Arc;
use std::time::Instant;

use bindery::arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use bindery::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use bindery::Context;
use bindery_benches::Case;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

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

/// Where the direct baselines put every value: vectors of 8192 rows, as a batch would hold.
#[derive(Default)]
struct Columns {
    ids: Vec<i64>,
    names: Vec<String>,
    scores: Vec<f64>,
    ages: Vec<i64>,
    rows: u64,
}

impl Columns {
    fn push(&mut self, id: i64, name: String, score: f64, age: i64) {
        self.ids.push(id);
        self.names.push(name);
        self.scores.push(score);
        self.ages.push(age);
        self.rows += 1;
        if self.ids.len() == 8192 {
            self.ids.clear();
            self.names.clear();
            self.scores.clear();
            self.ages.clear();
        }
    }
}

/// The baselines' query: every column of `table`, or only its rows with `age = 5`.
fn query(table: &str, filtered: bool) -> String {
    let filter = if filtered { " WHERE age = 5" } else { "" };
    format!("SELECT id, name, score, age FROM {table}{filter}")
}

/// rusqlite directly: every value out of SQLite into vectors. Rows/s.
fn direct(file: &std::path::Path, filtered: bool) -> (f64, u64) {
    let conn = rusqlite::Connection::open(file).unwrap();
    let start = Instant::now();
    let sql = &query("t", filtered);
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut columns = Columns::default();
    while let Some(r) = rows.next().unwrap() {
        columns.push(
            r.get(0).unwrap(),
            r.get(1).unwrap(),
            r.get(2).unwrap(),
            r.get(3).unwrap(),
        );
    }
    (columns.rows as f64 / start.elapsed().as_secs_f64(), columns.rows)
}

/// bindery: `read(path).load()`, every batch. Rows/s, over the table's rows (so whole and
/// filtered reads compare by how fast they get through the table).
fn through_bindery(ctx: &Context, path: &str, filtered: bool, table_rows: u64) -> (f64, u64) {
    let start = Instant::now();
    let mut n = 0u64;
    let mut read = ctx.table().read(path);
    if filtered {
        read = read.where_("age = 5");
    }
    for b in read.load() {
        n += b.unwrap().num_rows() as u64;
    }
    (table_rows as f64 / start.elapsed().as_secs_f64(), n)
}

/// The memory of one streamed read of the whole table through bindery, measured in a process
/// of its own (this bench run again with `--memory DRIVER SPEC PATH`), so that neither the
/// baselines' memory nor what the allocator kept from earlier rounds hides it: a Markdown row
/// of the process's peak growth during the read and the size of the table's Arrow batches
/// (what holding the whole table would take).
fn streamed_memory(driver: &str, spec: &std::path::Path, path: &str) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--memory")
        .args([driver, spec.to_str().unwrap(), path])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `--memory DRIVER SPEC PATH`: connects, then reads the table once, keeping no batch.
fn memory_child(driver: &str, spec: &str, path: &str) {
    let ctx = Context::open(spec).unwrap();
    let (arrow, growth) = bindery_tests::memory::peak_growth(|| {
        let mut bytes = 0;
        for b in ctx.table().read(path).load() {
            bytes += b.unwrap().get_array_memory_size();
        }
        bytes
    });
    println!(
        "| `{driver}` | {} MiB | {} MiB | {:.3} |",
        growth >> 20,
        arrow >> 20,
        growth as f64 / arrow as f64
    );
}

/// A spec of one binding `db` on `driver` at `url`, connected.
fn context(dir: &std::path::Path, driver: &str, url: &str) -> Context {
    std::fs::write(
        dir.join("function.yaml"),
        format!(
            "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: {driver}\n      url: {url}\n"
        ),
    )
    .unwrap();
    Context::open(dir.join("function.yaml")).unwrap()
}

/// Rows of `age = 5` among the first `n`.
fn filtered_rows(n: u64) -> u64 {
    (0..n).filter(|i| i % 97 == 5).count() as u64
}

/// Rounds of each case; the medians are reported.
const ROUNDS: u32 = 5;

fn sqlite(n: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "sqlite", "./t.db");
    let file = dir.path().join("t.db");
    let filled = Instant::now();
    fill(&ctx, &file, n);
    eprintln!(
        "sqlite: filled {n} rows in {:.1}s",
        filled.elapsed().as_secs_f64()
    );
    // Warm the page cache, then alternate the two.
    direct(&file, false);
    let (mut whole, mut some) = (Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let (d, dn) = direct(&file, false);
        let (b, bn) = through_bindery(&ctx, "db://t", false, n);
        assert_eq!((dn, bn), (n, n));
        whole.add(b, d);
        let (d, dn) = direct(&file, true);
        let d = d * n as f64 / dn as f64;
        let (b, bn) = through_bindery(&ctx, "db://t", true, n);
        assert_eq!((dn, bn), (filtered_rows(n), filtered_rows(n)));
        some.add(b, d);
    }
    whole.report("`sqlite` read, 4 columns", "rows/s", "rusqlite");
    some.report("`sqlite` read, `age = 5` (1%)", "rows/s", "rusqlite, same WHERE");
    streamed_memory("sqlite", &dir.path().join("function.yaml"), "db://t")
}

/// The Arrow schema of the bench's rows.
fn bench_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("age", DataType::Int64, true),
    ]))
}

/// The bench's rows `ids`: id, "user-<id>", id / 2, id % 97.
fn bench_rows(schema: &Arc<Schema>, ids: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.clone().map(|i| format!("user-{i:08}")),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.clone().map(|i| i as f64 * 0.5),
            )),
            Arc::new(Int64Array::from_iter_values(ids.map(|i| i % 97))),
        ],
    )
    .unwrap()
}

/// Writes the table's rows as one Parquet file with the parquet crate, into a table folder
/// made by bindery's `create`.
fn fill_parquet(ctx: &Context, file: &std::path::Path, n: u64) {
    ctx.table()
        .create("db://t")
        .schema("id int64 NOT NULL, name string, score float64, age int64")
        .do_()
        .unwrap();
    let schema = bench_schema();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(file).unwrap(), schema.clone(), Some(props)).unwrap();
    let mut i = 0i64;
    while (i as u64) < n {
        let m = (n as i64 - i).min(65_536);
        w.write(&bench_rows(&schema, i..i + m)).unwrap();
        i += m;
    }
    w.close().unwrap();
}

/// The parquet crate directly: every batch of the file (filtered with Arrow's `eq` kernel).
/// Rows/s over the file's rows.
fn parquet_direct(file: &std::path::Path, filtered: bool) -> (f64, u64) {
    let start = Instant::now();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .with_batch_size(8192)
        .build()
        .unwrap();
    let (mut total, mut n) = (0u64, 0u64);
    let five = Int64Array::new_scalar(5);
    for b in reader {
        let b = b.unwrap();
        total += b.num_rows() as u64;
        if filtered {
            let age = b.column(3).as_primitive::<Int64Type>();
            let m = bindery::arrow::compute::kernels::cmp::eq(age, &five).unwrap();
            n += bindery::arrow::compute::filter_record_batch(&b, &m)
                .unwrap()
                .num_rows() as u64;
        } else {
            n += b.num_rows() as u64;
        }
    }
    assert!(total > 0 && n <= total);
    (total as f64 / start.elapsed().as_secs_f64(), n)
}

fn parquet_files(n: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "files", "./lake");
    let file = dir.path().join("lake/t/t.parquet");
    let filled = Instant::now();
    fill_parquet(&ctx, &file, n);
    eprintln!(
        "files: wrote {n} rows as Parquet in {:.1}s ({} MB)",
        filled.elapsed().as_secs_f64(),
        std::fs::metadata(&file).unwrap().len() / 1_000_000
    );
    parquet_direct(&file, false);
    let (mut whole, mut some) = (Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let (d, dn) = parquet_direct(&file, false);
        let (b, bn) = through_bindery(&ctx, "db://t", false, n);
        assert_eq!((dn, bn), (n, n));
        whole.add(b, d);
        let (d, dn) = parquet_direct(&file, true);
        let (b, bn) = through_bindery(&ctx, "db://t", true, n);
        assert_eq!((dn, bn), (filtered_rows(n), filtered_rows(n)));
        some.add(b, d);
    }
    whole.report("`files` (Parquet) read, 4 columns", "rows/s", "parquet crate");
    some.report(
        "`files` (Parquet) read, `age = 5` (1%)",
        "rows/s",
        "parquet crate + eq kernel",
    );
    streamed_memory("files", &dir.path().join("function.yaml"), "db://t")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, driver, spec, path] = &args[..] {
        if flag == "--memory" {
            return memory_child(driver, spec, path);
        }
    }
    let n = rows();
    bindery_benches::table_header(&format!(
        "Tables: {n} rows x 4 columns into Arrow (rows/s over the table's rows)"
    ));
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut memory = Vec::new();
    if only.as_deref().is_none_or(|o| "parquet".contains(o)) {
        memory.push(parquet_files(n));
    }
    if only.as_deref().is_none_or(|o| "sqlite".contains(o)) {
        memory.push(sqlite(n));
    }
    if only.as_deref().is_none_or(|o| "postgres".contains(o)) {
        memory.extend(postgres(n));
    }
    println!("\n## Memory: one streamed read of the {n}-row table through each table driver\n");
    println!("In a process of its own: the peak resident memory above its level once connected (VmHWM),");
    println!("against the size of the batches read (what holding the whole table in Arrow takes).\n");
    println!("| driver | peak growth | the table in Arrow | ratio |");
    println!("|---|---:|---:|---:|");
    for row in memory {
        println!("{row}");
    }
}

/// tokio-postgres directly: every value of the query's rows into vectors. Rows/s over the
/// table's rows.
async fn postgres_direct(client: &tokio_postgres::Client, filtered: bool, table_rows: u64) -> (f64, u64) {
    use futures::TryStreamExt;
    let sql = &query("bench_t", filtered);
    let start = Instant::now();
    let rows = client
        .query_raw(
            sql,
            std::iter::empty::<&(dyn tokio_postgres::types::ToSql + Sync)>(),
        )
        .await
        .unwrap();
    let mut rows = std::pin::pin!(rows);
    let mut columns = Columns::default();
    while let Some(r) = rows.try_next().await.unwrap() {
        columns.push(r.get(0), r.get(1), r.get(2), r.get(3));
    }
    (table_rows as f64 / start.elapsed().as_secs_f64(), columns.rows)
}

/// adbc-driver-postgresql from Python (`BINDERY_BENCH_PYTHON` names the interpreter of a
/// virtualenv that has it): rows/s over the table's rows.
fn postgres_adbc(python: &str, uri: &str, filtered: bool, table_rows: u64) -> (f64, u64) {
    let query = &query("bench_t", filtered);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/adbc_read.py");
    let out = std::process::Command::new(python)
        .args([script, uri, query])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    let n: u64 = parts.next().unwrap().parse().unwrap();
    let rate: f64 = parts.next().unwrap().parse().unwrap();
    (rate * table_rows as f64 / n.max(1) as f64, n)
}

/// Writes `n` rows into an empty table, [`ROUNDS`] times: bindery's `write(…).with_batches`
/// (an upsert through COPY into a temporary table) against tokio-postgres' binary COPY into
/// the table directly. Rows/s.
fn postgres_writes(
    ctx: &Context,
    client: &tokio_postgres::Client,
    rt: &tokio::runtime::Runtime,
    n: u64,
) -> Case {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    let _ = ctx.table().drop("db://bench_w").do_();
    ctx.table()
        .create("db://bench_w")
        .schema("id int64 NOT NULL, name string, score float64, age int64")
        .primary_key("id", None)
        .do_()
        .unwrap();
    let schema = bench_schema();
    let batches: Vec<RecordBatch> = (0..n as i64)
        .step_by(8192)
        .map(|first| bench_rows(&schema, first..(first + 8192).min(n as i64)))
        .collect();
    let mut case = Case::default();
    for _ in 0..ROUNDS {
        rt.block_on(client.batch_execute("TRUNCATE bench_w")).unwrap();
        let start = Instant::now();
        let written = ctx
            .table()
            .write("db://bench_w")
            .with_batches(batches.clone())
            .do_()
            .unwrap();
        let b = written as f64 / start.elapsed().as_secs_f64();
        rt.block_on(client.batch_execute("TRUNCATE bench_w")).unwrap();
        let start = Instant::now();
        let d = rt.block_on(async {
            let sink = client
                .copy_in("COPY bench_w (id, name, score, age) FROM STDIN (FORMAT binary)")
                .await
                .unwrap();
            let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, Type::FLOAT8, Type::INT8]);
            let mut writer = std::pin::pin!(writer);
            for batch in &batches {
                let ids = batch.column(0).as_primitive::<Int64Type>();
                let names = batch.column(1).as_string::<i32>();
                let scores = batch
                    .column(2)
                    .as_primitive::<bindery::arrow::datatypes::Float64Type>();
                let ages = batch.column(3).as_primitive::<Int64Type>();
                for r in 0..batch.num_rows() {
                    let row: [&(dyn ToSql + Sync); 4] =
                        [&ids.value(r), &names.value(r), &scores.value(r), &ages.value(r)];
                    writer.as_mut().write(&row).await.unwrap();
                }
            }
            writer.as_mut().finish().await.unwrap()
        });
        assert_eq!((written, d), (n, n));
        case.add(b, n as f64 / start.elapsed().as_secs_f64());
    }
    let _ = ctx.table().drop("db://bench_w").do_();
    case
}

/// The `postgres` driver on the server `BINDERY_PG_URL` names (benches/run starts one).
fn postgres(n: u64) -> Option<String> {
    let (ctx, dir, config) = bindery_benches::postgres_binding()?;
    let rt = bindery_benches::runtime(2);
    let client = rt.block_on(async {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    });
    let filled = Instant::now();
    let _ = ctx.table().drop("db://bench_t").do_();
    ctx.table()
        .create("db://bench_t")
        .schema("id int64 NOT NULL, name string, score float64, age int64")
        .primary_key("id", None)
        .do_()
        .unwrap();
    rt.block_on(async {
        let fill = format!(
            "INSERT INTO bench_t SELECT g, 'user-' || lpad(g::text, 8, '0'), g * 0.5, g % 97 \
             FROM generate_series(0, {}) g",
            n as i64 - 1
        );
        client.batch_execute(&fill).await.unwrap();
        client.batch_execute("VACUUM ANALYZE bench_t").await.unwrap();
    });
    eprintln!(
        "postgres: filled {n} rows in {:.1}s",
        filled.elapsed().as_secs_f64()
    );
    let uri = {
        let url = std::env::var("BINDERY_PG_URL").unwrap();
        let password = std::env::var("BINDERY_PG_PASSWORD").unwrap();
        let (scheme, rest) = url.split_once("://").unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        format!("{scheme}://{user}:{password}@{host}")
    };
    let python = std::env::var("BINDERY_BENCH_PYTHON").ok();
    let (mut whole, mut some, mut adbc_whole, mut adbc_some) =
        (Case::default(), Case::default(), Case::default(), Case::default());
    rt.block_on(postgres_direct(&client, false, n));
    for _ in 0..ROUNDS {
        let (d, dn) = rt.block_on(postgres_direct(&client, false, n));
        let (b, bn) = through_bindery(&ctx, "db://bench_t", false, n);
        assert_eq!((dn, bn), (n, n));
        whole.add(b, d);
        let (d, dn) = rt.block_on(postgres_direct(&client, true, n));
        let (b, bn) = through_bindery(&ctx, "db://bench_t", true, n);
        assert_eq!((dn, bn), (filtered_rows(n), filtered_rows(n)));
        some.add(b, d);
        if let Some(py) = &python {
            let (a, an) = postgres_adbc(py, &uri, false, n);
            assert_eq!(an, n);
            adbc_whole.add(whole.0.last().unwrap().0, a);
            let (a, an) = postgres_adbc(py, &uri, true, n);
            assert_eq!(an, filtered_rows(n));
            adbc_some.add(some.0.last().unwrap().0, a);
        }
    }
    let writes = postgres_writes(&ctx, &client, &rt, (n / 10).max(1));
    whole.report("`postgres` read, 4 columns", "rows/s", "tokio-postgres");
    some.report(
        "`postgres` read, `age = 5` (1%)",
        "rows/s",
        "tokio-postgres, same WHERE",
    );
    writes.report(
        &format!("`postgres` write of {} rows (upsert)", (n / 10).max(1)),
        "rows/s",
        "tokio-postgres COPY binary into the table",
    );
    if python.is_some() {
        adbc_whole.report("`postgres` read, 4 columns", "rows/s", "adbc-driver-postgresql");
        adbc_some.report(
            "`postgres` read, `age = 5` (1%)",
            "rows/s",
            "adbc-driver-postgresql",
        );
    }
    let memory = streamed_memory("postgres", &dir.path().join("function.yaml"), "db://bench_t");
    let _ = ctx.table().drop("db://bench_t").do_();
    Some(memory)
}
