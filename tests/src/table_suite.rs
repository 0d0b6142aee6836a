//! The table conformance suite. Every case runs against every table driver; a case that needs
//! a capability the binding lacks is skipped (and says so). The binding under test is the
//! fixture's `db`, with no path: cases name their tables.

use bindery::arrow::array::{Array, AsArray, RecordBatch};
use bindery::arrow::datatypes::Int64Type;
use bindery::{Context, ErrorKind};
use serde::Deserialize;
use serde_json::json;

use crate::object_suite::skip;

/// Registers every case of the suite as a test, for one driver.
#[macro_export]
macro_rules! table_suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::table_suite!(@cases $fixture;
                create_write_read_round_trip,
                filters_select_keys_and_limits,
                filters_mean_the_same_everywhere,
                upserts_keep_absent_columns,
                expressions_update_rows_atomically,
                conditions_are_checked_atomically,
                deletes_remove_rows_atomically,
                orders_and_pages_resume_exactly,
                read_only_columns_cannot_change,
                alter_adds_columns_only,
                bad_input_is_refused_clearly,
                sql_passthrough_is_read_only,
                partitions_cover_the_table_once,
                large_reads_stream_in_batches,
                concurrent_writers_lose_nothing,
                acknowledged_writes_survive_a_restart,
                every_type_round_trips,
                schema_versions_are_kept,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx = ($fixture)().await;
                $crate::table_suite::$case(&fx).await;
            }
        )*
    };
}

const USERS: &str = "user string NOT NULL, age int64, addr string, score float64, vip bool, \
                     version int64 NOT NULL DEFAULT 0, created timestamp READ ONLY, doc json";

/// The fixture's context with table `name` created with the users schema, or `None` when the
/// binding lacks a capability the case `needs`.
async fn ready<'a>(fx: &'a crate::Fixture, needs: &[&str], name: &str) -> Option<&'a Context> {
    let mut all = vec!["table_admin", "table_write", "table_read"];
    all.extend_from_slice(needs);
    if skip(&fx.ctx, &all) {
        return None;
    }
    fx.ctx
        .table()
        .create(format!("db://{name}"))
        .schema(USERS)
        .primary_key("user", None)
        .await
        .unwrap();
    Some(&fx.ctx)
}

async fn people(ctx: &Context, table: &str) {
    ctx.table()
        .write(format!("db://{table}"))
        .with_items([
            json!({"user": "ana", "age": 41, "addr": "NY", "score": 2.5, "vip": true, "created": "2024-05-01T00:00:00Z", "doc": {"tags": ["a"]}}),
            json!({"user": "bob", "age": 17, "addr": "SF", "score": 9.0, "vip": false}),
            json!({"user": "cy", "age": 35, "addr": "NY"}),
            json!({"user": "di", "addr": "LA"}),
        ])
        .await
        .unwrap();
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The values of a string column across batches.
fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let i = b.schema().index_of(column).unwrap();
        let a = b.column(i).as_string::<i32>();
        out.extend((0..a.len()).map(|r| (!a.is_null(r)).then(|| a.value(r).to_string())));
    }
    out
}

async fn users_where(ctx: &Context, table: &str, filter: &str) -> Vec<String> {
    let b = ctx
        .table()
        .read(format!("db://{table}"))
        .where_(filter)
        .select(["user"])
        .await
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    let mut u: Vec<String> = strings(&b, "user").into_iter().flatten().collect();
    u.sort();
    u
}

#[derive(Debug, Deserialize, PartialEq)]
struct User {
    user: String,
    age: Option<i64>,
    addr: Option<String>,
    score: Option<f64>,
    vip: Option<bool>,
    version: i64,
    doc: Option<String>,
}

/// Rows go in and come back with their types; a fresh table reads as empty, with its schema.
pub async fn create_write_read_round_trip(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "rt").await else {
        return;
    };
    let mut empty = ctx.table().read("db://rt").load();
    let schema = empty.schema_async().await.unwrap();
    assert_eq!(schema.fields().len(), 8);
    assert!(empty.next_async().await.is_none());
    people(ctx, "rt").await;
    let mut got: Vec<User> = ctx.table().read("db://rt").load().scan_async().await.unwrap();
    got.sort_by(|a, b| a.user.cmp(&b.user));
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0],
        User {
            user: "ana".into(),
            age: Some(41),
            addr: Some("NY".into()),
            score: Some(2.5),
            vip: Some(true),
            version: 0,
            doc: Some(r#"{"tags":["a"]}"#.into()),
        }
    );
    assert_eq!(got[3].age, None, "an absent column of a new row is NULL");
    let all = ctx.table().read("db://rt").await.unwrap();
    let created = all[0].column(all[0].schema().index_of("created").unwrap());
    let ts = created.as_primitive::<bindery::arrow::datatypes::TimestampMicrosecondType>();
    let ana = strings(&all, "user")
        .iter()
        .position(|u| u.as_deref() == Some("ana"))
        .unwrap();
    assert_eq!(ts.value(ana), 1_714_521_600_000_000);
    let schema = ctx.table().schema("db://rt").await.unwrap();
    assert_eq!(schema.key, ["user"]);
    assert!(schema.column("created").unwrap().read_only);
}

/// Filters (every form of the language), projection in the order asked, keys and limits.
pub async fn filters_select_keys_and_limits(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "q").await else {
        return;
    };
    people(ctx, "q").await;
    for (filter, want) in [
        ("age > 30", vec!["ana", "cy"]),
        ("age > 30 AND addr = 'NY' AND user LIKE 'a%'", vec!["ana"]),
        ("age < 20 OR addr = 'LA'", vec!["bob", "di"]),
        ("NOT (age > 30)", vec!["bob"]),
        ("addr IN ('SF', 'LA')", vec!["bob", "di"]),
        ("addr NOT IN ('SF', 'LA')", vec!["ana", "cy"]),
        ("age BETWEEN 17 AND 35", vec!["bob", "cy"]),
        ("age IS NULL", vec!["di"]),
        ("score IS NOT NULL AND score * 2 > 5", vec!["bob"]),
        ("age + 1 = 42", vec!["ana"]),
        ("age > 40.5", vec!["ana"]),
        ("vip = TRUE", vec!["ana"]),
        ("created >= '2024-01-01T00:00:00Z'", vec!["ana"]),
        ("user LIKE 'A%'", vec![]),
        ("user ILIKE 'A%'", vec!["ana"]),
        ("addr = 'x''; DROP TABLE q; --'", vec![]),
    ] {
        assert_eq!(users_where(ctx, "q", filter).await, want, "{filter}");
    }
    let b = ctx
        .table()
        .read("db://q")
        .select(["addr", "user"])
        .where_("user = 'cy'")
        .await
        .unwrap();
    let names: Vec<String> = b[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["addr", "user"]);
    let b = ctx
        .table()
        .read("db://q")
        .keys(["bob", "di", "nobody"])
        .await
        .unwrap();
    let mut u: Vec<_> = strings(&b, "user").into_iter().flatten().collect();
    u.sort();
    assert_eq!(u, ["bob", "di"]);
    let b = ctx
        .table()
        .read("db://q")
        .key(["ana"])
        .where_("age > 50")
        .await
        .unwrap();
    assert_eq!(rows(&b), 0, "keys and a filter both apply");
    let b = ctx
        .table()
        .read("db://q")
        .where_("addr IS NOT NULL")
        .limit(3)
        .await
        .unwrap();
    assert_eq!(rows(&b), 3);
}

/// The filter table of the README, case by case: signed zeros, integers beyond 2^53, overflow,
/// division by zero, `LIKE` with and without `ESCAPE`, non-ASCII text, and the comparisons
/// refused the same way on every driver.
pub async fn filters_mean_the_same_everywhere(fx: &crate::Fixture) {
    if skip(&fx.ctx, &["table_admin", "table_write", "table_read"]) {
        return;
    }
    let ctx = &fx.ctx;
    ctx.table()
        .create("db://sem")
        .schema("user string NOT NULL, a int64, b float64, s string, t bool")
        .primary_key("user", None)
        .await
        .unwrap();
    ctx.table()
        .write("db://sem")
        .with_items([
            json!({"user": "r1", "a": 0, "b": 0.0, "s": "", "t": true}),
            json!({"user": "r2", "a": -7, "b": -0.0, "s": "abc", "t": false}),
            json!({"user": "r3", "a": 9007199254740993i64, "b": 9007199254740992.0, "s": "_x"}),
            json!({"user": "r4", "a": i64::MAX, "b": 2.5, "s": "50%", "t": true}),
            json!({"user": "r5", "a": i64::MIN, "s": "É", "t": false}),
            json!({"user": "r6", "b": -1.5, "s": "é"}),
            json!({"user": "r7", "a": 7, "b": 1e300, "s": "a\\b", "t": true}),
            json!({"user": "r8", "a": 2}),
        ])
        .await
        .unwrap();
    let all = vec!["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"];
    for (filter, want) in [
        ("b = 0.0", vec!["r1", "r2"]),
        ("b = 0", vec!["r1", "r2"]),
        ("b < 0", vec!["r6"]),
        ("a > 9007199254740992.0", vec!["r3", "r4"]),
        ("a = 9007199254740992.0", vec![]),
        ("a = b", vec!["r1"]),
        ("a > b", vec!["r3", "r4"]),
        ("a * 2 > 0", vec!["r3", "r7", "r8"]),
        ("a * 2 IS NULL", vec!["r4", "r5", "r6"]),
        ("a + 1 > a", vec!["r1", "r2", "r3", "r5", "r7", "r8"]),
        ("a / 0 IS NULL", all.clone()),
        ("b / 0.0 IS NULL", all.clone()),
        ("a / 2 = -3", vec!["r2"]),
        ("a % 2 = -1", vec!["r2"]),
        ("a % 2 = 1", vec!["r3", "r4", "r7"]),
        ("a % 0 IS NULL", all.clone()),
        ("-a > 0", vec!["r2"]),
        ("-a IS NULL", vec!["r5", "r6"]),
        ("a = -9223372036854775808", vec!["r5"]),
        ("b * 1.5 > 3", vec!["r3", "r4", "r7"]),
        ("s = ''", vec!["r1"]),
        ("s LIKE 'a\\%'", vec!["r7"]),
        ("s LIKE '\\_%' ESCAPE '\\'", vec!["r3"]),
        ("s LIKE '_%'", vec!["r2", "r3", "r4", "r5", "r6", "r7"]),
        ("s LIKE '50!%' ESCAPE '!'", vec!["r4"]),
        (
            "s NOT LIKE '%!%%' ESCAPE '!'",
            vec!["r1", "r2", "r3", "r5", "r6", "r7"],
        ),
        ("s LIKE '_'", vec!["r5", "r6"]),
        ("s LIKE 'É'", vec!["r5"]),
        ("s ILIKE 'é'", vec!["r5", "r6"]),
        ("s ILIKE 'ABC'", vec!["r2"]),
        ("s > 'Z'", vec!["r2", "r3", "r5", "r6", "r7"]),
        ("s < 'a'", vec!["r1", "r3", "r4"]),
        ("t = TRUE", vec!["r1", "r4", "r7"]),
        ("t <> TRUE", vec!["r2", "r5"]),
        ("NOT t", vec!["r2", "r5"]),
        ("t IS NULL", vec!["r3", "r6", "r8"]),
        ("a IN (0, 7, NULL)", vec!["r1", "r7"]),
        ("a NOT IN (0, NULL)", vec![]),
        ("b BETWEEN -1.5 AND 0", vec!["r1", "r2", "r6"]),
        ("a = '7'", vec!["r7"]),
        ("s IS NULL", vec!["r8"]),
        ("(a > 0 OR t) AND s ILIKE '%B%'", vec!["r7"]),
    ] {
        assert_eq!(users_where(ctx, "sem", filter).await, want, "{filter}");
    }
    // With a limit after a filter the backend cannot evaluate itself.
    let b = ctx
        .table()
        .read("db://sem")
        .where_("a * 2 > 0")
        .limit(2)
        .select(["s"])
        .await
        .unwrap();
    assert_eq!(rows(&b), 2);
    assert_eq!(b[0].schema().fields().len(), 1, "only the selected column");
    for (filter, want) in [
        ("t = 2", "cannot compare or combine 't' (Boolean) with 2"),
        ("t = 1", "cannot compare or combine"),
        ("s = TRUE", "cannot compare or combine 's' (Utf8) with TRUE"),
        ("s = 5", "cannot compare or combine"),
        ("b % 2 > 1", "'%' takes integers, but 'b' (Float64) is not one"),
        ("s + 1 > 0", "'+' needs numbers, but 's' (Utf8) is not one"),
        ("a = 'x'", "'x' is not a value of column 'a'"),
        ("s LIKE 'a!' ESCAPE '!'", "ends with its escape character '!'"),
        ("s LIKE 'a' ESCAPE '!!'", "ESCAPE takes one character"),
    ] {
        let e = ctx
            .table()
            .read("db://sem")
            .where_(filter)
            .await
            .expect_err(filter);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{filter}: {e}");
        assert!(e.to_string().contains(want), "{filter}: {e}");
    }
}

/// An item upserts the columns it gives; those it leaves out keep their values, and a
/// column given as null is written as NULL.
pub async fn upserts_keep_absent_columns(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["write_upsert"], "up").await else {
        return;
    };
    people(ctx, "up").await;
    let n = ctx
        .table()
        .write("db://up")
        .with_items([
            json!({"user": "ana", "age": 42}),
            json!({"user": "bob", "addr": null}),
            json!({"user": "eve"}),
        ])
        .await
        .unwrap();
    assert_eq!(n, 3);
    let got: Vec<User> = ctx
        .table()
        .read("db://up")
        .key(["ana"])
        .load()
        .scan_async()
        .await
        .unwrap();
    assert_eq!((got[0].age, got[0].addr.as_deref()), (Some(42), Some("NY")));
    let got: Vec<User> = ctx
        .table()
        .read("db://up")
        .key(["bob"])
        .load()
        .scan_async()
        .await
        .unwrap();
    assert_eq!((got[0].age, got[0].addr.as_deref()), (Some(17), None));
    let got: Vec<User> = ctx
        .table()
        .read("db://up")
        .key(["eve"])
        .load()
        .scan_async()
        .await
        .unwrap();
    assert_eq!(got[0].version, 0, "a new row gets the default");
}

fn versions(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let a = b
            .column(b.schema().index_of("version").unwrap())
            .as_primitive::<Int64Type>();
        out.extend(a.values().iter().copied());
    }
    out
}

/// `with_expression` updates the rows of the keys; a key without a row refuses all of it.
pub async fn expressions_update_rows_atomically(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["write_with_expression"], "ex").await else {
        return;
    };
    people(ctx, "ex").await;
    let n = ctx
        .table()
        .write("db://ex")
        .to_keys([["ana"], ["bob"]])
        .with_expression(
            "version = version + :inc, addr = :where",
            [("inc", bindery::Value::Int(5)), ("where", "Rome".into())],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let b = ctx.table().read("db://ex").keys(["ana", "bob"]).await.unwrap();
    assert_eq!(versions(&b), [5, 5]);
    assert_eq!(
        strings(&b, "addr"),
        [Some("Rome".to_string()), Some("Rome".to_string())]
    );
    let e = ctx
        .table()
        .write("db://ex")
        .to_keys([["ana"], ["nobody"]])
        .with_expression("version = version + 1", Vec::<(String, i64)>::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("'nobody'"), "{e}");
    let b = ctx.table().read("db://ex").key(["ana"]).await.unwrap();
    assert_eq!(versions(&b), [5], "nothing of a refused write is applied");
    let e = ctx
        .table()
        .write("db://ex")
        .to_keys([["ana"]])
        .with_expression("age = age + :x", [("x", 1.5)])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("column 'age' (int64)"), "{e}");
}

/// `condition` holds for every touched row or nothing is written (`ConditionFailed`).
pub async fn conditions_are_checked_atomically(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["write_with_condition"], "cd").await else {
        return;
    };
    people(ctx, "cd").await;
    // Optimistic locking: write only at the version read.
    ctx.table()
        .write("db://cd")
        .with_items([json!({"user": "ana", "age": 50, "version": 1})])
        .condition("version = 0")
        .await
        .unwrap();
    let e = ctx
        .table()
        .write("db://cd")
        .with_items([json!({"user": "ana", "age": 60, "version": 1})])
        .condition("version = 0")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert!(e.to_string().contains("'ana'"), "{e}");
    // Several items: one failing refuses all.
    let e = ctx
        .table()
        .write("db://cd")
        .with_items([json!({"user": "bob", "age": 1}), json!({"user": "ana", "age": 2})])
        .condition("version = 0")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed);
    let got: Vec<User> = ctx
        .table()
        .read("db://cd")
        .keys(["ana", "bob"])
        .load()
        .scan_async()
        .await
        .unwrap();
    let ages: Vec<_> = got.iter().map(|u| u.age).collect();
    assert!(ages.contains(&Some(50)) && ages.contains(&Some(17)), "{ages:?}");
    // Create-only: a row that does not exist has every column NULL.
    ctx.table()
        .write("db://cd")
        .with_items([json!({"user": "new"})])
        .condition("user IS NULL")
        .await
        .unwrap();
    let e = ctx
        .table()
        .write("db://cd")
        .with_items([json!({"user": "new"})])
        .condition("user IS NULL")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed);
    if skip(ctx, &["write_with_expression"]) {
        return;
    }
    let e = ctx
        .table()
        .write("db://cd")
        .to_keys([["ana"]])
        .with_expression("version = version + 1", Vec::<(String, i64)>::new())
        .condition("version = 0")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed);
}

/// A delete removes the rows of its keys, or those passing its filter (with bindery's meaning
/// of the filter, also where the backend cannot evaluate it), or the rows of its keys that
/// pass it; a condition failing for any row removes none.
pub async fn deletes_remove_rows_atomically(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["table_delete"], "dl").await else {
        return;
    };
    let t = ctx.table();
    people(ctx, "dl").await;
    let all = || users_where(ctx, "dl", "true");
    let e = t.delete("db://dl").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("names no rows"), "{e}");
    let e = t.delete("db://dl").where_("nope = 1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let e = t.delete("db://dl").key([1, 2]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(all().await, ["ana", "bob", "cy", "di"]);
    // By key; a key without a row removes nothing.
    assert_eq!(t.delete("db://dl").keys(["bob", "nobody"]).await.unwrap(), 1);
    assert_eq!(all().await, ["ana", "cy", "di"]);
    // A condition failing for one row removes none, and names that row.
    let e = t
        .delete("db://dl")
        .where_("addr = 'NY'")
        .condition("age > 36")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert!(e.to_string().contains("cy"), "{e}");
    assert_eq!(all().await, ["ana", "cy", "di"]);
    // Optimistic: only at the version read.
    let e = t
        .delete("db://dl")
        .keys(["ana"])
        .condition("version = 7")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert_eq!(
        t.delete("db://dl")
            .keys(["ana"])
            .condition("version = 0")
            .await
            .unwrap(),
        1
    );
    // Keys and a filter: the rows of the keys that pass it.
    assert_eq!(
        t.delete("db://dl")
            .keys(["cy", "di"])
            .where_("addr = 'LA'")
            .await
            .unwrap(),
        1
    );
    assert_eq!(all().await, ["cy"]);
    // A filter a SQL backend would evaluate otherwise (arithmetic, NULLs): bindery's meaning.
    people(ctx, "dl").await;
    assert_eq!(t.delete("db://dl").where_("age * 2 > 70").await.unwrap(), 1);
    assert_eq!(all().await, ["bob", "cy", "di"]);
    assert_eq!(t.delete("db://dl").where_("NOT (age < 20)").await.unwrap(), 1);
    assert_eq!(
        all().await,
        ["bob", "di"],
        "di's NULL age passes neither the filter nor its negation"
    );
    assert_eq!(t.delete("db://dl").where_("true").await.unwrap(), 2);
    assert!(all().await.is_empty());
    // A table without a key: rows by filter only.
    t.create("db://dk").schema("n int64").await.unwrap();
    t.write("db://dk")
        .with_items([json!({"n": 1}), json!({"n": 2}), json!({"n": 3}), json!({"n": 3})])
        .await
        .unwrap();
    let e = t.delete("db://dk").keys([1]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(
        t.delete("db://dk")
            .where_("n >= 2")
            .condition("n > 1")
            .await
            .unwrap(),
        3
    );
    let left = t.read("db://dk").await.unwrap();
    assert_eq!(rows(&left), 1);
}

/// `order_by` sorts (NULLs last either way, ties in key order when paged), and pages resume
/// exactly where the last one ended, also when rows are written and removed between pages.
pub async fn orders_and_pages_resume_exactly(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "pg").await else {
        return;
    };
    let t = ctx.table();
    people(ctx, "pg").await;
    let users = |b: &[RecordBatch]| -> Vec<String> { strings(b, "user").into_iter().flatten().collect() };
    let by = |order: &'static [&'static str]| t.read("db://pg").order_by(order.iter().copied());
    assert_eq!(users(&by(&["age"]).await.unwrap()), ["bob", "cy", "ana", "di"]);
    assert_eq!(
        users(&by(&["age desc"]).await.unwrap()),
        ["ana", "cy", "bob", "di"]
    );
    assert_eq!(users(&by(&["-user"]).await.unwrap()), ["di", "cy", "bob", "ana"]);
    // Ordered by a column the select leaves out, filtered, limited.
    let b = by(&["addr desc", "age"])
        .select(["user"])
        .where_("user != 'bob'")
        .limit(2)
        .await
        .unwrap();
    assert_eq!(users(&b), ["cy", "ana"]);
    assert_eq!(b[0].num_columns(), 1);
    for bad in [&["nope"][..], &["age sideways"], &["age", "age desc"]] {
        let e = by(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
    }

    // Pages of two, by address then key, through rows changing between pages.
    let page = |after: Option<String>| {
        let mut r = t.read("db://pg").order_by(["addr"]).select(["user"]).page(2);
        if let Some(a) = after {
            r = r.after(a);
        }
        r.load()
    };
    let mut reader = page(None);
    let mut first = Vec::new();
    while let Some(b) = reader.next_async().await {
        first.extend(users(&[b.unwrap()]));
    }
    assert_eq!(first, ["di", "ana"]);
    let token = reader.next_page().expect("a full page gives a token");
    // Between pages: a row before the token's (not seen), one after it (seen), one removed.
    t.write("db://pg")
        .with_items([
            json!({"user": "al", "addr": "AA"}),
            json!({"user": "zed", "addr": "ZZ"}),
        ])
        .await
        .unwrap();
    let removed = match t.delete("db://pg").keys(["cy"]).await {
        Ok(n) => n == 1,
        Err(e) if e.kind() == ErrorKind::Unsupported => false,
        Err(e) => panic!("{e}"),
    };
    let mut seen = first.clone();
    let mut token = Some(token);
    let mut pages = 1;
    while let Some(tok) = token.take() {
        let mut reader = page(Some(tok));
        while let Some(b) = reader.next_async().await {
            let b = b.unwrap();
            assert_eq!(b.num_columns(), 1, "the ordering columns stay out of the page");
            seen.extend(users(&[b]));
        }
        token = reader.next_page();
        pages += 1;
        assert!(pages < 10, "pages never end: {seen:?}");
    }
    match removed {
        true => assert_eq!(seen, ["di", "ana", "bob", "zed"]),
        false => assert_eq!(seen, ["di", "ana", "cy", "bob", "zed"]),
    }

    // NULLs last, and a page boundary among them.
    t.write("db://pg")
        .with_items([json!({"user": "n1"}), json!({"user": "n2"})])
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut r = t.read("db://pg").order_by(["age desc"]).page(3);
        if let Some(tok) = token.take() {
            r = r.after(tok);
        }
        let mut reader = r.load();
        while let Some(b) = reader.next_async().await {
            all.extend(users(&[b.unwrap()]));
        }
        match reader.next_page() {
            Some(tok) => token = Some(tok),
            None => break,
        }
    }
    let mut expect = vec!["ana", "cy", "bob", "al", "di", "n1", "n2", "zed"];
    if removed {
        expect.retain(|u| *u != "cy");
    }
    assert_eq!(all, expect);
    // A token belongs to its order; a keyless table has no pages; garbage is no token.
    let mut reader = page(None);
    while reader.next_async().await.is_some() {}
    let by_addr = reader.next_page().unwrap();
    let e = t
        .read("db://pg")
        .order_by(["user"])
        .page(2)
        .after(by_addr)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("ordered by"), "{e}");
    let e = t.read("db://pg").page(2).after("garbage").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    t.create("db://pk").schema("n int64").await.unwrap();
    let e = t.read("db://pk").page(2).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("no primary key"), "{e}");
}

/// A read-only column is set when the row is created and never changes after.
pub async fn read_only_columns_cannot_change(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["write_upsert"], "ro").await else {
        return;
    };
    people(ctx, "ro").await;
    // The same value again is not a change.
    ctx.table()
        .write("db://ro")
        .with_items([json!({"user": "ana", "created": "2024-05-01T00:00:00Z", "age": 1})])
        .await
        .unwrap();
    let e = ctx
        .table()
        .write("db://ro")
        .with_items([
            json!({"user": "cy", "age": 99}),
            json!({"user": "ana", "created": "2025-01-01T00:00:00Z"}),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.to_string().contains("'created'") && e.to_string().contains("read-only"),
        "{e}"
    );
    let got: Vec<User> = ctx
        .table()
        .read("db://ro")
        .key(["cy"])
        .load()
        .scan_async()
        .await
        .unwrap();
    assert_eq!(got[0].age, Some(35), "nothing of the refused write is applied");
    if skip(ctx, &["write_with_expression"]) {
        return;
    }
    let e = ctx
        .table()
        .write("db://ro")
        .to_keys([["ana"]])
        .with_expression("created = NULL", Vec::<(String, i64)>::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
}

/// `alter` adds columns (existing rows get the default) and refuses anything else, naming the
/// column and the reason.
pub async fn alter_adds_columns_only(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "al").await else {
        return;
    };
    people(ctx, "al").await;
    ctx.table()
        .alter("db://al")
        .add_column("level int64 NOT NULL DEFAULT 3")
        .add_column("note string")
        .await
        .unwrap();
    let b = ctx
        .table()
        .read("db://al")
        .select(["level", "note"])
        .await
        .unwrap();
    for batch in &b {
        let level = batch.column(0).as_primitive::<Int64Type>();
        assert!(level.values().iter().all(|v| *v == 3));
        assert_eq!(batch.column(1).null_count(), batch.num_rows());
    }
    assert_eq!(rows(&b), 4);
    let e = ctx
        .table()
        .alter("db://al")
        .add_column("x int64 NOT NULL")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains("column 'x' is NOT NULL without a default"),
        "{e}"
    );
    let mut changed = USERS.replace("age int64", "age string");
    changed.push_str(", level int64 NOT NULL DEFAULT 3, note string");
    let e = ctx.table().alter("db://al").schema(&changed).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("column 'age' would change type from int64 to string"),
        "{e}"
    );
    let e = ctx
        .table()
        .alter("db://al")
        .add_column("age int64")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let schema = ctx.table().schema("db://al").await.unwrap();
    assert_eq!(schema.columns.len(), 10, "refused changes change nothing");
}

/// Every bad input gets an error naming what and why, and changes nothing.
pub async fn bad_input_is_refused_clearly(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "bad").await else {
        return;
    };
    people(ctx, "bad").await;
    let t = ctx.table();
    let e = t.read("db://bad").where_("nope > 1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains("no column 'nope' (columns: user, age"),
        "{e}"
    );
    let e = t.read("db://bad").where_("age >> 1").await.unwrap_err();
    assert!(e.to_string().contains("at line 1, column 5"), "{e}");
    let e = t.read("db://bad").where_("age = 'old'").await.unwrap_err();
    assert!(
        e.to_string().contains("'old' is not a value of column 'age'"),
        "{e}"
    );
    let e = t.read("db://bad").select(["user", "nope"]).await.unwrap_err();
    assert!(e.to_string().contains("no column 'nope'"), "{e}");
    let e = t.read("db://missing").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("missing"), "{e}");
    let e = t
        .write("db://bad")
        .with_items([json!({"user": "zed", "age": "old"})])
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("item 0") && e.to_string().contains("'age' is int64"),
        "{e}"
    );
    let e = t
        .write("db://bad")
        .with_items([json!({"user": "zed", "nick": "z"})])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("'nick' is not a column"), "{e}");
    let e = t
        .write("db://bad")
        .with_items([json!({"age": 3})])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("'user' is required"), "{e}");
    let e = t
        .write("db://bad")
        .with_items([json!({"user": "ok"}), json!(["not", "an", "object"])])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("item 1 is not an object"), "{e}");
    let e = t.write("db://bad").await.unwrap_err();
    assert!(e.to_string().contains("nothing to write"), "{e}");
    let e = t
        .create("db://bad")
        .schema(USERS)
        .primary_key("user", None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let e = t
        .create("db://bad2")
        .schema("a int64, b strin")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown type 'strin'"), "{e}");
    let e = t
        .create("db://bad2")
        .schema("a int64")
        .primary_key("b", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("'b'"), "{e}");
    let e = t.drop("db://never").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let b = t.read("db://bad").await.unwrap();
    assert_eq!(rows(&b), 4, "refused writes wrote nothing");
}

/// `sql` runs a read-only query; one that would write is refused.
pub async fn sql_passthrough_is_read_only(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["read_with_sql"], "sq").await else {
        return;
    };
    people(ctx, "sq").await;
    let b = ctx
        .table()
        .read("db://sq")
        .sql("SELECT addr, count(*) AS n FROM sq GROUP BY addr ORDER BY addr")
        .await
        .unwrap();
    assert_eq!(
        strings(&b, "addr"),
        [Some("LA".into()), Some("NY".into()), Some("SF".into())]
    );
    let n = b[0].column(1).as_primitive::<Int64Type>();
    assert_eq!(n.values().to_vec(), [1, 2, 1]);
    let e = ctx
        .table()
        .read("db://sq")
        .sql("DELETE FROM sq")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("read-only"), "{e}");
    assert_eq!(rows(&ctx.table().read("db://sq").await.unwrap()), 4);
}

/// The parts of a partitioned read are disjoint and cover the table.
pub async fn partitions_cover_the_table_once(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["read_with_partition"], "pt").await else {
        return;
    };
    let items: Vec<_> = (0..1000)
        .map(|i| json!({"user": format!("u{i:04}"), "age": i}))
        .collect();
    ctx.table().write("db://pt").with_items(items).await.unwrap();
    let mut seen = Vec::new();
    for part in 0..3 {
        let b = ctx
            .table()
            .read("db://pt")
            .partition(part, 3)
            .select(["user"])
            .await
            .unwrap();
        assert!(rows(&b) > 0, "part {part} is empty");
        seen.extend(strings(&b, "user").into_iter().flatten());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1000);
    let e = ctx.table().read("db://pt").partition(3, 3).await.unwrap_err();
    assert!(e.to_string().contains("partition(3, 3)"), "{e}");
}

/// A large read arrives in several batches, prefetched; closing early lets the driver go.
pub async fn large_reads_stream_in_batches(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "big").await else {
        return;
    };
    let items: Vec<_> = (0..50_000)
        .map(|i| json!({"user": format!("u{i:06}"), "age": i % 90}))
        .collect();
    let n = ctx.table().write("db://big").with_items(items).await.unwrap();
    assert_eq!(n, 50_000);
    let mut reader = ctx.table().read("db://big").load();
    let (mut batches, mut total) = (0, 0);
    while let Some(b) = reader.next_async().await {
        batches += 1;
        total += b.unwrap().num_rows();
    }
    assert_eq!(total, 50_000);
    assert!(batches > 1, "one batch of 50000 rows: not streamed");
    let mut early = ctx.table().read("db://big").load();
    assert!(early.next_async().await.is_some());
    early.close_async().await;
}

/// Writers in parallel: every acknowledged row is there.
pub async fn concurrent_writers_lose_nothing(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "cc").await else {
        return;
    };
    let mut tasks = Vec::new();
    for w in 0..8 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                ctx.table()
                    .write("db://cc")
                    .with_items([json!({"user": format!("w{w}-{i}"), "age": i})])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(rows(&ctx.table().read("db://cc").await.unwrap()), 200);
}

/// What a write acknowledged is there after a restart.
pub async fn acknowledged_writes_survive_a_restart(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "rs").await else {
        return;
    };
    people(ctx, "rs").await;
    let again = fx.reopen().await;
    let b = again.table().read("db://rs").where_("addr = 'NY'").await.unwrap();
    assert_eq!(rows(&b), 2);
}

/// One column type of the suite: its text, a JSON value, the value as Arrow displays it read
/// back, and a filter the row with that value passes (the row with NULL must not).
struct TypeCase {
    ty: &'static str,
    value: serde_json::Value,
    shown: &'static str,
    filter: &'static str,
}

fn type_cases() -> Vec<TypeCase> {
    let case = |ty, value, shown, filter| TypeCase {
        ty,
        value,
        shown,
        filter,
    };
    vec![
        case("bool", json!(true), "true", "v = TRUE"),
        case("int8", json!(-128), "-128", "v = -128"),
        case("int16", json!(32767), "32767", "v > 32766"),
        case("int32", json!(-2147483648i64), "-2147483648", "v < 0"),
        case(
            "int64",
            json!(9007199254740993i64),
            "9007199254740993",
            "v = 9007199254740993",
        ),
        case("uint8", json!(255), "255", "v = 255"),
        case("uint16", json!(65535), "65535", "v >= 65535"),
        case("uint32", json!(4294967295u64), "4294967295", "v = 4294967295"),
        case(
            "uint64",
            json!(18446744073709551615u64),
            "18446744073709551615",
            "v > 9223372036854775807",
        ),
        case("float16", json!(1.5), "1.5", "v = 1.5"),
        case("float32", json!(0.25), "0.25", "v < 0.5"),
        case("float64", json!(1e300), "1e300", "v > 1e299"),
        case(
            "decimal(9, 2)",
            json!("1234567.89"),
            "1234567.89",
            "v = 1234567.89",
        ),
        case(
            "decimal(38, 10)",
            json!("-1234567890123456789012345678.0123456789"),
            "-1234567890123456789012345678.0123456789",
            // A number literal is an int64 or a float64: an exact decimal beyond them is quoted.
            "v < '-1234567890123456789012345678'",
        ),
        case("string", json!("héllo ☃"), "héllo ☃", "v = 'héllo ☃'"),
        case("binary", json!("bytes"), "6279746573", "v IS NOT NULL"),
        case("binary(4)", json!("abcd"), "61626364", "v IS NOT NULL"),
        case(
            "timestamp",
            json!("2024-05-01T12:00:00.123456Z"),
            "2024-05-01T12:00:00.123456Z",
            "v = '2024-05-01T12:00:00.123456Z'",
        ),
        case(
            "timestamp(ns)",
            json!("2024-05-01T12:00:00.123456789Z"),
            "2024-05-01T12:00:00.123456789Z",
            "v > '2024-05-01T12:00:00.123456Z'",
        ),
        case(
            "timestamp(ms, none)",
            json!("2024-05-01T12:00:00.123"),
            "2024-05-01T12:00:00.123",
            "v = '2024-05-01T12:00:00.123'",
        ),
        case(
            "timestamp(s, 'Europe/Paris')",
            json!("2024-05-01T12:00:00Z"),
            "2024-05-01T14:00:00+02:00",
            "v = '2024-05-01T14:00:00+02:00'",
        ),
        case("date", json!("2024-02-29"), "2024-02-29", "v = '2024-02-29'"),
        case(
            "time(ms)",
            json!("12:34:56.789"),
            "12:34:56.789",
            "v > '12:00:00'",
        ),
        case(
            "time(ns)",
            json!("12:34:56.123456789"),
            "12:34:56.123456789",
            "v > '12:34:56.123456'",
        ),
        case("json", json!({"a": [1, 2]}), r#"{"a":[1,2]}"#, "v IS NOT NULL"),
        case("list<int64>", json!([1, null, 3]), "[1, , 3]", "v IS NOT NULL"),
        case(
            "struct<a int32, b list<string>>",
            json!({"a": 1, "b": ["x"]}),
            "{a: 1, b: [x]}",
            "v IS NOT NULL",
        ),
        case(
            "map<string, float64>",
            json!({"x": 1.5}),
            "{x: 1.5}",
            "v IS NOT NULL",
        ),
    ]
}

/// Every column type goes in as JSON, comes back with its Arrow type and its value, and is
/// filtered as the host filters it. A driver that cannot hold a type refuses it at create,
/// naming the column and the type, and leaves no table behind; only the refusals listed here
/// (each with its reason) are allowed.
pub async fn every_type_round_trips(fx: &crate::Fixture) {
    if skip(&fx.ctx, &["table_admin", "table_write", "table_read"]) {
        return;
    }
    let binding = &fx.ctx.host().bindings()[0];
    let driver = binding.driver().to_string();
    let format = binding.spec().options.get("format").cloned().unwrap_or_default();
    let t = fx.ctx.table();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for (i, case) in type_cases().into_iter().enumerate() {
        match type_round_trip(&t, &format!("db://types_{i}"), &case).await {
            Ok(true) => {}
            Ok(false) => refused.push(case.ty),
            Err(e) => failed.push(format!("{}: {e}", case.ty)),
        }
    }
    assert!(failed.is_empty(), "driver {driver}:\n{}", failed.join("\n"));
    // What a backend cannot hold, and why.
    let allowed: &[&str] = match (driver.as_str(), format.as_str()) {
        // PostgreSQL keeps microseconds.
        ("postgres", _) => &["timestamp(ns)", "time(ns)"],
        // CSV has no text for bytes or nested values.
        ("files", "csv") => &[
            "binary",
            "binary(4)",
            "list<int64>",
            "struct<a int32, b list<string>>",
            "map<string, float64>",
        ],
        _ => &[],
    };
    assert!(
        refused.iter().all(|t| allowed.contains(t)),
        "driver {driver} refused {refused:?}; it may refuse only {allowed:?}"
    );
}

/// One [`TypeCase`] on table `path`: `Ok(false)` when the driver refused the type (cleanly).
async fn type_round_trip(t: &bindery::Tables, path: &str, case: &TypeCase) -> Result<bool, String> {
    use bindery::arrow::util::display::array_value_to_string;
    let made = t
        .create(path)
        .schema(&format!("k int64 NOT NULL, v {}", case.ty))
        .primary_key("k", None)
        .await;
    if let Err(e) = made {
        if e.kind() != ErrorKind::InvalidInput || !e.to_string().contains("'v'") {
            return Err(format!("a refusal names the column and is InvalidInput: {e}"));
        }
        return match t.read(path).await {
            Err(gone) if gone.kind() == ErrorKind::NotFound => Ok(false),
            other => Err(format!(
                "a refused create leaves nothing behind, but read gave {other:?}"
            )),
        };
    }
    t.write(path)
        .with_items([json!({"k": 1, "v": case.value}), json!({"k": 2, "v": null})])
        .await
        .map_err(|e| format!("write {}: {e}", case.value))?;
    let batches = t.read(path).await.map_err(|e| format!("read: {e}"))?;
    let declared = t.schema(path).await.map_err(|e| e.to_string())?;
    let want_type = declared.column("v").ok_or("no column v")?.to_field();
    let mut shown = Vec::new();
    for b in &batches {
        let v = b.column(b.schema().index_of("v").unwrap());
        if v.data_type() != want_type.data_type() {
            return Err(format!(
                "read back as {}, not {}",
                v.data_type(),
                want_type.data_type()
            ));
        }
        let k = b
            .column(b.schema().index_of("k").unwrap())
            .as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let text = if v.is_null(r) {
                "NULL".to_string()
            } else {
                array_value_to_string(v, r).unwrap()
            };
            shown.push((k.value(r), text));
        }
    }
    shown.sort();
    let want = [(1, case.shown.to_string()), (2, "NULL".to_string())];
    if shown != want {
        return Err(format!("read back {shown:?}, not {want:?}"));
    }
    let hits = t
        .read(path)
        .where_(case.filter)
        .select(["k"])
        .await
        .map_err(|e| format!("{}: {e}", case.filter))?;
    let keys: Vec<i64> = hits
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    if keys != [1] {
        return Err(format!("{} found {keys:?}, not [1]", case.filter));
    }
    t.drop(path).await.map_err(|e| e.to_string())?;
    Ok(true)
}

/// Every `create` and `alter` is a version of the table's schema (capability `versioning`):
/// the current schema says its number and when it was made, an older one reads back as it
/// was, a version the table does not have is refused naming those it has, and a dropped
/// table's versions go with it.
pub async fn schema_versions_are_kept(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "sv").await else {
        return;
    };
    let t = ctx.table();
    if skip(ctx, &["versioning"]) {
        let e = t.schema("db://sv").version(1).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(
            e.to_string().contains("does not support schema at a version"),
            "{e}"
        );
        return;
    }
    let first = t.schema("db://sv").await.unwrap();
    let v1 = first
        .version
        .expect("the schema of a table bindery made has a version");
    assert_eq!(v1.number, 1);
    let made = v1.time.expect("and the time it was made");
    let off = std::time::SystemTime::now()
        .duration_since(made)
        .unwrap_or_else(|e| e.duration());
    assert!(
        off < std::time::Duration::from_secs(60),
        "made {made:?}, {off:?} from now"
    );
    t.alter("db://sv")
        .add_column("level int64 NOT NULL DEFAULT 3")
        .await
        .unwrap();
    t.alter("db://sv").add_column("note string").await.unwrap();
    // A refused change makes no version.
    let e = t.alter("db://sv").add_column("age int64").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let third = t.schema("db://sv").await.unwrap();
    assert_eq!(third.version.map(|v| v.number), Some(3));
    assert_eq!(third.columns.len(), first.columns.len() + 2);
    // Each version as it was, key included; the current one also by its number.
    let one = t.schema("db://sv").version(1).await.unwrap();
    assert_eq!(one, first);
    let two = t.schema("db://sv").version(2).await.unwrap();
    assert_eq!(two.version.map(|v| v.number), Some(2));
    assert_eq!(two.key, ["user"]);
    let names: Vec<&str> = two.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), first.columns.len() + 1);
    assert_eq!(names.last(), Some(&"level"));
    assert_eq!(t.schema("db://sv").version(3).await.unwrap(), third);
    for n in [0, 4] {
        let e = t.schema("db://sv").version(n).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(
            e.to_string().contains(&format!(
                "table 'sv' has no schema version {n}: its versions are 1 to 3"
            )),
            "{e}"
        );
    }
    // Dropped, its versions are gone; made again, it starts over.
    t.drop("db://sv").await.unwrap();
    let e = t.schema("db://sv").version(1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    t.create("db://sv")
        .schema("k string NOT NULL")
        .primary_key("k", None)
        .await
        .unwrap();
    let again = t.schema("db://sv").await.unwrap();
    assert_eq!(again.version.map(|v| v.number), Some(1));
    assert_eq!(t.schema("db://sv").version(1).await.unwrap(), again);
}
