//! The differential test of the filter language (README, "Tables", the filter table): random
//! filters from the grammar, over generated rows with NULLs, signed zeros, extreme integers,
//! mixed-case and non-ASCII text, `%`, `_` and `\`, on every table driver (sqlite, postgres,
//! files as Parquet, CSV and JSON lines), compared with each other and with SQLite's own
//! evaluation of the same SQL text.
//!
//! Seeded: `BINDERY_FILTER_SEED` picks the seed (the default is fixed) and
//! `BINDERY_FILTER_CASES` how many filters; a failure prints the seed and every filter on
//! which the drivers disagreed. The differences allowed, each documented in the README:
//! - SQLite's own evaluation is not asked about `ILIKE` (SQLite has none) nor about `+`, `-`
//!   and `*` (SQLite turns an overflowing integer into a float, bindery into `NULL`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bindery::arrow::array::AsArray;
use bindery::arrow::datatypes::Int64Type;
use bindery::Context;
use bindery_tests::{postgres_fixture, table_fixture, Fixture};
use serde_json::{json, Value};

/// xorshift64*: small, seeded, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    7,
    -7,
    100,
    9_007_199_254_740_992,
    9_007_199_254_740_993,
    -9_007_199_254_740_993,
    i64::MAX,
    i64::MIN,
    i64::MAX - 1,
    4_611_686_018_427_387_904,
];
const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    0.5,
    -1.5,
    2.5,
    7.0,
    100.25,
    9_007_199_254_740_992.0,
    -9_007_199_254_740_992.0,
    1e15,
    -3.75,
];
const STRINGS: &[&str] = &[
    "", "a", "A", "ab", "abc", "ABC", "aBc", "É", "é", "e", "E", "_x", "x_", "50%", "%", "_", "a\\b", "\\",
    "ß", "straße", "STRASSE", "Zürich", "zebra", "naïve", "日本", "a%b_c", "'quoted'",
];

fn rows(rng: &mut Rng, n: usize) -> Vec<Value> {
    (0..n)
        .map(|k| {
            let mut row = serde_json::Map::new();
            row.insert("k".into(), json!(k as i64));
            if !rng.chance(12) {
                let a = if rng.chance(70) {
                    *rng.pick(INTS)
                } else {
                    rng.below(2001) as i64 - 1000
                };
                row.insert("a".into(), json!(a));
            }
            if !rng.chance(12) {
                let b = if rng.chance(70) {
                    *rng.pick(FLOATS)
                } else {
                    (rng.below(20001) as f64 - 10000.0) / 8.0
                };
                row.insert("b".into(), json!(b));
            }
            if !rng.chance(12) {
                row.insert("s".into(), json!(rng.pick(STRINGS)));
            }
            if !rng.chance(20) {
                row.insert("t".into(), json!(rng.chance(50)));
            }
            Value::Object(row)
        })
        .collect()
}

/// What a generated filter uses, for the allowed differences.
#[derive(Default)]
struct Uses {
    ilike: bool,
    arithmetic: bool,
}

fn int_literal(rng: &mut Rng) -> String {
    if rng.chance(50) {
        rng.pick(INTS).to_string()
    } else {
        (rng.below(21) as i64 - 10).to_string()
    }
}

fn float_literal(rng: &mut Rng) -> String {
    let f = *rng.pick(FLOATS);
    // The grammar writes floats with a point (`7.0`, not `7`).
    let text = format!("{f:?}");
    if text == "-0.0" && rng.chance(50) {
        "0.0".into()
    } else {
        text
    }
}

fn string_literal(rng: &mut Rng) -> String {
    format!("'{}'", rng.pick(STRINGS).replace('\'', "''"))
}

/// A numeric operand: a column, a literal, or (sometimes) arithmetic over them.
fn number(rng: &mut Rng, uses: &mut Uses, depth: u32) -> String {
    match rng.below(if depth < 2 { 7 } else { 4 }) {
        0 | 1 => "a".into(),
        2 => "b".into(),
        3 => {
            if rng.chance(50) {
                int_literal(rng)
            } else {
                float_literal(rng)
            }
        }
        4 => {
            // Division and remainder by small integer literals (SQLite agrees on those).
            let op = if rng.chance(50) { "/" } else { "%" };
            let divisor = rng.pick(&[0i64, 2, 3, -2, 7, 10]).to_string();
            let column = if op == "%" || rng.chance(50) { "a" } else { "b" };
            format!("({column} {op} {divisor})")
        }
        5 => {
            uses.arithmetic = true;
            let op = rng.pick(&["+", "-", "*"]);
            format!(
                "({} {op} {})",
                number(rng, uses, depth + 1),
                number(rng, uses, depth + 1)
            )
        }
        _ => {
            uses.arithmetic = true;
            format!("(-{})", if rng.chance(50) { "a" } else { "b" })
        }
    }
}

fn pattern(rng: &mut Rng) -> (String, Option<char>) {
    let pieces = [
        "%", "_", "a", "A", "b", "é", "É", "e", "\\", "x", "s", "ß", "50", "!%", "!_", "!!",
    ];
    let escape = rng.chance(30).then_some('!');
    let mut p = String::new();
    for _ in 0..=rng.below(4) {
        let piece = *rng.pick(&pieces);
        // `!` sequences only where `!` is the escape character.
        if escape.is_some() || !piece.starts_with('!') {
            p.push_str(piece);
        }
    }
    (p.replace('\'', "''"), escape)
}

fn comparison(rng: &mut Rng, uses: &mut Uses, depth: u32) -> String {
    let op = *rng.pick(&["=", "<>", "<", "<=", ">", ">="]);
    match rng.below(10) {
        0..=3 => format!("{} {op} {}", number(rng, uses, depth), number(rng, uses, depth)),
        4 | 5 => {
            format!("s {op} {}", string_literal(rng))
        }
        6 => {
            let (p, escape) = pattern(rng);
            let not = if rng.chance(25) { "NOT " } else { "" };
            let like = if rng.chance(30) {
                uses.ilike = true;
                "ILIKE"
            } else {
                "LIKE"
            };
            match escape {
                Some(c) => format!("s {not}{like} '{p}' ESCAPE '{c}'"),
                None => format!("s {not}{like} '{p}'"),
            }
        }
        7 => {
            let column = rng.pick(&["a", "b", "s", "t"]);
            let not = if rng.chance(50) { "NOT " } else { "" };
            format!("{column} IS {not}NULL")
        }
        8 => {
            let not = if rng.chance(30) { "NOT " } else { "" };
            if rng.chance(50) {
                let mut items: Vec<String> = (0..=rng.below(4)).map(|_| int_literal(rng)).collect();
                if rng.chance(20) {
                    items.push("NULL".into());
                }
                format!("a {not}IN ({})", items.join(", "))
            } else {
                let items: Vec<String> = (0..=rng.below(4)).map(|_| string_literal(rng)).collect();
                format!("s {not}IN ({})", items.join(", "))
            }
        }
        _ => {
            if rng.chance(50) {
                let not = if rng.chance(30) { "NOT " } else { "" };
                let (lo, hi) = (float_literal(rng), float_literal(rng));
                let column = rng.pick(&["a", "b"]);
                format!("{column} {not}BETWEEN {lo} AND {hi}")
            } else {
                let v = rng.pick(&["TRUE", "FALSE"]);
                format!("t {op} {v}")
            }
        }
    }
}

/// A comparison every driver must refuse, with the same message.
fn mistyped(rng: &mut Rng) -> String {
    rng.pick(&[
        "t = 1",
        "t = 2",
        "s = TRUE",
        "s > 5",
        "a = 'x'",
        "b % 2 > 1",
        "s * 2 > 1",
        "a LIKE 'a%'",
        "s LIKE 'a!' ESCAPE '!'",
        "b = 'é'",
    ])
    .to_string()
}

fn condition(rng: &mut Rng, uses: &mut Uses, depth: u32) -> String {
    if rng.chance(2) {
        return mistyped(rng);
    }
    if depth >= 3 {
        return comparison(rng, uses, depth);
    }
    match rng.below(10) {
        0..=4 => comparison(rng, uses, depth),
        5 | 6 => format!(
            "({} AND {})",
            condition(rng, uses, depth + 1),
            condition(rng, uses, depth + 1)
        ),
        7 | 8 => format!(
            "({} OR {})",
            condition(rng, uses, depth + 1),
            condition(rng, uses, depth + 1)
        ),
        _ => format!("NOT ({})", condition(rng, uses, depth + 1)),
    }
}

/// The keys of the rows a filter passes on a binding, or the error.
async fn keys(ctx: &Context, filter: &str) -> Result<Vec<i64>, String> {
    let batches = ctx
        .table()
        .read("db://d")
        .where_(filter)
        .select(["k"])
        .await
        // The message without its context (which names the driver).
        .map_err(|e| e.message().to_string())?;
    let mut out = Vec::new();
    for b in &batches {
        let k = b.column(0).as_primitive::<Int64Type>();
        out.extend((0..k.len()).map(|i| k.value(i)));
    }
    out.sort_unstable();
    Ok(out)
}

/// SQLite's own answer to the filter as SQL, over the same rows.
fn oracle(db: &rusqlite::Connection, filter: &str) -> Result<Vec<i64>, String> {
    let mut stmt = db
        .prepare(&format!("SELECT k FROM d WHERE {filter} ORDER BY k"))
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

fn oracle_db(data: &[Value]) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.execute_batch(
        "PRAGMA case_sensitive_like = ON; CREATE TABLE d (k INTEGER PRIMARY KEY, a INTEGER, b REAL, s TEXT, t INTEGER)",
    )
    .unwrap();
    for row in data {
        let sql_value = |v: Option<&Value>| -> rusqlite::types::Value {
            match v {
                None | Some(Value::Null) => rusqlite::types::Value::Null,
                Some(Value::Bool(b)) => rusqlite::types::Value::Integer(*b as i64),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(i) => rusqlite::types::Value::Integer(i),
                    None => rusqlite::types::Value::Real(n.as_f64().unwrap()),
                },
                Some(Value::String(s)) => rusqlite::types::Value::Text(s.clone()),
                Some(other) => panic!("unexpected {other}"),
            }
        };
        let values: Vec<rusqlite::types::Value> = ["k", "a", "b", "s", "t"]
            .iter()
            .map(|c| sql_value(row.get(c)))
            .collect();
        db.execute(
            "INSERT INTO d VALUES (?, ?, ?, ?, ?)",
            rusqlite::params_from_iter(values),
        )
        .unwrap();
    }
    db
}

async fn load(fx: &Fixture, data: &[Value]) {
    fx.ctx
        .table()
        .create("db://d")
        .schema("k int64 NOT NULL, a int64, b float64, s string, t bool")
        .primary_key("k", None)
        .await
        .unwrap();
    // In four writes: four files (and row groups) for `files`, so statistics prune.
    for chunk in data.chunks(data.len().div_ceil(4)) {
        fx.ctx
            .table()
            .write("db://d")
            .with_items(chunk.to_vec())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_driver_gives_every_filter_the_same_rows() {
    let seed: u64 = std::env::var("BINDERY_FILTER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_202);
    let cases: usize = std::env::var("BINDERY_FILTER_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng(seed.max(1));
    let data = rows(&mut rng, 1200);
    let drivers: Vec<(&str, Fixture)> = vec![
        ("sqlite", table_fixture("sqlite", "      url: ./data.db\n").await),
        ("postgres", postgres_fixture().await),
        ("files-parquet", table_fixture("files", "      url: ./t\n").await),
        (
            "files-csv",
            table_fixture("files", "      url: ./t\n      options:\n        format: csv\n").await,
        ),
        (
            "files-jsonl",
            table_fixture("files", "      url: ./t\n      options:\n        format: jsonl\n").await,
        ),
    ];
    for (_, fx) in &drivers {
        load(fx, &data).await;
    }
    let db = oracle_db(&data);
    let mut report = String::new();
    let mut disagreements = 0;
    let (mut accepted, mut refused, mut asked_sqlite, mut trivial) = (0, 0, 0, 0);
    for n in 0..cases {
        let mut uses = Uses::default();
        let filter = condition(&mut rng, &mut uses, 0);
        let mut answers: BTreeMap<&str, Result<Vec<i64>, String>> = BTreeMap::new();
        for (name, fx) in &drivers {
            answers.insert(name, keys(&fx.ctx, &filter).await);
        }
        let reference = answers["sqlite"].clone();
        match &reference {
            Ok(k) if k.is_empty() || k.len() == data.len() => {
                accepted += 1;
                trivial += 1
            }
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
        if reference.is_ok() && !uses.ilike && !uses.arithmetic {
            asked_sqlite += 1;
            answers.insert("SQLite itself", oracle(&db, &filter));
        }
        let differing: Vec<_> = answers.iter().filter(|(_, a)| **a != reference).collect();
        if differing.is_empty() {
            continue;
        }
        disagreements += 1;
        let show = |a: &Result<Vec<i64>, String>| match a {
            Ok(k) if k.len() > 12 => format!("{} rows: {:?}…", k.len(), &k[..12]),
            Ok(k) => format!("{} rows: {k:?}", k.len()),
            Err(e) => format!("refused: {e}"),
        };
        let _ = writeln!(report, "\nfilter #{n}: {filter}\n  sqlite: {}", show(&reference));
        for (name, a) in differing {
            let _ = writeln!(report, "  {name}: {}", show(a));
        }
    }
    eprintln!(
        "seed {seed}: {cases} filters, {accepted} accepted ({trivial} of them passing no row or every row), {refused} refused alike, {asked_sqlite} also asked of SQLite itself, {disagreements} disagreements"
    );
    assert!(
        disagreements == 0,
        "seed {seed}: {disagreements} of {cases} filters gave different answers:{report}"
    );
    assert!(
        accepted - trivial > cases / 2,
        "the generator made too few filters that tell rows apart ({} of {cases})",
        accepted - trivial
    );
}
