//! Row-group pruning, partitions over row groups, and reading files made by other tools.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Int16Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Int16Type, Int64Type, Schema, TimeUnit, TimestampNanosecondType};
use bindery_core::filter::Filter;
use bindery_core::{OpRead, TableSchema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::read::{data_files, Plan};

/// A Parquet file of `n` rows in row groups of `per_group`: `n` counting up, `tag` "t{n % 7}",
/// and every tenth `n` of a second column NULL.
fn numbers(dir: &std::path::Path, n: i64, per_group: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("maybe", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("t{}", i % 7)),
            )),
            Arc::new(Int64Array::from_iter(
                (0..n).map(|i| (i % 10 != 0 || i >= 1000).then_some(i)),
            )),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(per_group))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dir.join("numbers.parquet")).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn plan(dir: &std::path::Path, op: OpRead) -> Plan {
    let files = data_files(dir, "t").unwrap();
    let schema = TableSchema::from_arrow(&files[0].1.infer(&files[0].0).unwrap()).unwrap();
    Plan::new("t", schema, files, &op).unwrap()
}

fn filtered(text: &str) -> OpRead {
    OpRead {
        filter: Some(Filter::parse(text).unwrap()),
        ..OpRead::default()
    }
}

fn collect(p: Plan) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    p.run(|b| {
        out.push(b);
        true
    })
    .unwrap();
    out
}

fn column_n(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("n")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[test]
fn statistics_skip_row_groups_that_cannot_match() {
    let dir = tempfile::tempdir().unwrap();
    numbers(dir.path(), 10_000, 1000);
    assert_eq!(plan(dir.path(), OpRead::default()).row_groups(), 10);
    for (filter, groups, rows) in [
        ("n >= 9500", 1, 500),
        ("n = 4242", 1, 1),
        ("4242 = n", 1, 1),
        ("n < 0", 0, 0),
        ("n BETWEEN 2500 AND 3500", 2, 1001),
        ("n IN (5, 9999)", 2, 2),
        ("n > 8999 OR n < 1000", 2, 2000),
        ("n > 8999 AND tag = 't1'", 1, 143),
        ("tag = 'zzz'", 0, 0),
        ("maybe IS NULL", 1, 100),
        ("NOT (n < 5000)", 10, 5000), // NOT is not pruned on, but answers right
        ("n + 1 > 9000", 10, 1000),   // arithmetic is not pruned on either
    ] {
        let p = plan(dir.path(), filtered(filter));
        assert_eq!(p.row_groups(), groups, "{filter}");
        assert_eq!(column_n(&collect(p)).len(), rows, "{filter}");
    }
}

#[test]
fn partitions_split_by_row_group_and_cover_once() {
    let dir = tempfile::tempdir().unwrap();
    numbers(dir.path(), 10_000, 1000);
    let mut all = Vec::new();
    for part in 0..3 {
        let p = plan(
            dir.path(),
            OpRead {
                partition: Some((part, 3)),
                ..OpRead::default()
            },
        );
        assert!(
            (3..=4).contains(&p.row_groups()),
            "part {part}: {}",
            p.row_groups()
        );
        all.extend(column_n(&collect(p)));
    }
    all.sort();
    assert_eq!(all, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn projection_and_limit_stop_early() {
    let dir = tempfile::tempdir().unwrap();
    numbers(dir.path(), 10_000, 1000);
    let op = OpRead {
        select: vec!["tag".into()],
        limit: Some(10),
        filter: Some(Filter::parse("n >= 5000").unwrap()),
        ..OpRead::default()
    };
    let b = collect(plan(dir.path(), op));
    assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
    assert_eq!(b[0].num_columns(), 1);
    assert_eq!(b[0].column(0).as_string::<i32>().value(0), "t2"); // 5000 % 7
}

#[test]
fn other_tools_types_are_read_as_they_are() {
    // int16 and nanosecond timestamps without a zone, as pandas or Spark may write them: the
    // values keep their width, their nanoseconds and their lack of zone.
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("small", DataType::Int16, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int16Array::from(vec![Some(7), None])),
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1_714_521_600_000_000_123),
                None,
            ])),
        ],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dir.path().join("x.parquet")).unwrap(),
        schema,
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let p = plan(dir.path(), filtered("small = 7"));
    let b = collect(p);
    assert_eq!(b[0].num_rows(), 1);
    assert_eq!(b[0].column(0).as_primitive::<Int16Type>().value(0), 7);
    assert_eq!(
        b[0].column(1).data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, None)
    );
    let at = b[0].column(1).as_primitive::<TimestampNanosecondType>();
    assert_eq!(at.value(0), 1_714_521_600_000_000_123);
    let p = plan(dir.path(), filtered("at > '2024-05-01T00:00:00.000000122'"));
    assert_eq!(collect(p)[0].num_rows(), 1, "compared with its nanoseconds");
}

/// A Parquet file `name` of one column `n` holding `range`.
fn range_file(dir: &std::path::Path, name: &str, range: std::ops::Range<i64>) {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from_iter_values(range))],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(dir.join(name)).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The `n` column of everything an async read (the files driver's path) answers.
async fn read_n(p: Plan) -> Vec<i64> {
    use futures::StreamExt;
    let read = crate::read::read(p).await.unwrap();
    let batches: Vec<RecordBatch> = read.batches.map(|b| b.unwrap()).collect().await;
    column_n(&batches)
}

/// Files are decoded ahead of the one being answered, but answers keep the files' order and
/// a limit that ends inside a later file.
#[tokio::test]
async fn read_ahead_keeps_file_order_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let start = i as i64 * 20_000;
        range_file(dir.path(), &format!("{name}.parquet"), start..start + 20_000);
    }
    assert_eq!(
        read_n(plan(dir.path(), OpRead::default())).await,
        (0..80_000).collect::<Vec<_>>()
    );
    for limit in [1, 8192, 20_000, 30_001, 80_000, 100_000] {
        let op = OpRead {
            limit: Some(limit),
            ..OpRead::default()
        };
        let want: Vec<i64> = (0..limit.min(80_000) as i64).collect();
        assert_eq!(read_n(plan(dir.path(), op)).await, want, "limit {limit}");
    }
}

/// A file whose rows the parquet crate cannot decode (it decodes fewer than its row group
/// holds) is refused naming the mismatch, never answered short.
#[test]
fn a_parquet_file_read_short_is_refused_not_answered_short() {
    let dir = tempfile::tempdir().unwrap();
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/repeated_no_annotation.parquet"
    );
    std::fs::copy(data, dir.path().join("x.parquet")).unwrap();
    let e = plan(dir.path(), OpRead::default())
        .run(|_| true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.parquet") && e.contains("says 6 rows") && e.contains("decoded 0"),
        "{e}"
    );
}
