//! What the `files` driver promises beyond the table suite: folders of files made by other
//! tools read as tables, keys refused when already there, single-file tables, and clear
//! errors for files it cannot read.

use bindery::arrow::array::{Array, AsArray, RecordBatch};
use bindery::arrow::datatypes::{Float64Type, Int64Type};
use bindery::ErrorKind;
use bindery_tests::table_fixture;
use serde_json::json;

fn rows(b: &[RecordBatch]) -> usize {
    b.iter().map(RecordBatch::num_rows).sum()
}

async fn lake() -> bindery_tests::Fixture {
    table_fixture("files", "      url: ./lake\n").await
}

/// CSV and JSON lines as other tools write them: the types fit every row (not only the first
/// thousand), quoted numbers stay text, `""` is the empty string, and JSON-lines columns keep
/// the order of the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_json_lines_from_elsewhere_keep_their_values() {
    let fx = lake().await;
    let dir = fx.dir.path().join("lake");
    std::fs::create_dir_all(dir.join("late")).unwrap();
    let mut csv = String::from("n,zip,note\n");
    for i in 0..1500 {
        csv.push_str(&format!("{i},\"0{i:04}\",\"\"\n"));
    }
    csv.push_str("not a number,\"00007\",\n");
    std::fs::write(dir.join("late/data.csv"), csv).unwrap();
    let schema = fx.ctx.table().schema("db://late").await.unwrap();
    assert_eq!(schema.to_string(), "n string, zip string, note string");
    let b = fx
        .ctx
        .table()
        .read("db://late")
        .where_("zip = '00007' OR n = 'not a number'")
        .await
        .unwrap();
    let texts = |column: usize| -> Vec<Option<String>> {
        b.iter()
            .flat_map(|b| {
                b.column(column)
                    .as_string::<i32>()
                    .iter()
                    .map(|z| z.map(str::to_string))
            })
            .collect()
    };
    assert_eq!(texts(1), [Some("00007".to_string()), Some("00007".to_string())]);
    let notes = texts(2);
    assert_eq!(
        notes,
        [Some(String::new()), None],
        "\"\" is the empty string, an empty field NULL"
    );
    std::fs::create_dir_all(dir.join("events")).unwrap();
    std::fs::write(
        dir.join("events/a.jsonl"),
        "{\"zeta\": 1, \"alpha\": \"x\", \"mid\": true}\n{\"zeta\": 2.5, \"alpha\": null, \"mid\": false}\n",
    )
    .unwrap();
    let schema = fx.ctx.table().schema("db://events").await.unwrap();
    assert_eq!(schema.to_string(), "zeta float64, alpha string, mid bool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_csv_files_from_elsewhere_is_one_table() {
    let fx = lake().await;
    let sales = fx.dir.path().join("lake/sales");
    std::fs::create_dir_all(sales.join("2025")).unwrap();
    std::fs::write(
        sales.join("2024.csv"),
        "region,units,price\nnorth,3,9.5\nsouth,10,2.25\n",
    )
    .unwrap();
    // Another file with the columns in another order and one missing.
    std::fs::write(sales.join("2025/q1.csv"), "units,region\n7,north\n").unwrap();
    std::fs::write(sales.join("_notes.md"), "ignored: begins with '_'").unwrap();
    let schema = fx.ctx.table().schema("db://sales").await.unwrap();
    assert_eq!(schema.to_string(), "region string, units int64, price float64");
    let b = fx
        .ctx
        .table()
        .read("db://sales")
        .where_("units > 5")
        .select(["units", "price"])
        .await
        .unwrap();
    assert_eq!(rows(&b), 2);
    let units: Vec<i64> = b
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(units, [10, 7]);
    let price = b[1].column(1).as_primitive::<Float64Type>();
    assert_eq!(price.null_count(), 1, "a column a file lacks reads as NULL");
    // Appends go in the folder's own format, with every column.
    fx.ctx
        .table()
        .write("db://sales")
        .with_items([json!({"region": "east", "units": 1})])
        .await
        .unwrap();
    let csvs = std::fs::read_dir(&sales)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("part-")
        })
        .count();
    assert_eq!(csvs, 1);
    assert_eq!(rows(&fx.ctx.table().read("db://sales").await.unwrap()), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_no_known_format_is_named() {
    let fx = lake().await;
    let t = fx.dir.path().join("lake/t");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("a.csv"), "x\n1\n").unwrap();
    std::fs::write(t.join("b.txt"), "what is this").unwrap();
    let e = fx.ctx.table().read("db://t").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains("b.txt") && e.to_string().contains("not .parquet, .csv or .jsonl"),
        "{e}"
    );
    std::fs::write(t.join("c.csv"), "x\nnot a number\n").unwrap();
    std::fs::remove_file(t.join("b.txt")).unwrap();
    let e = fx.ctx.table().read("db://t").await.unwrap_err();
    assert!(e.to_string().contains("c.csv"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_already_there_is_refused_and_nothing_is_written() {
    let fx = lake().await;
    let t = fx.ctx.table();
    t.create("db://k")
        .schema("id int64 NOT NULL, name string")
        .primary_key("id", None)
        .await
        .unwrap();
    t.write("db://k")
        .with_items([json!({"id": 1, "name": "a"}), json!({"id": 2})])
        .await
        .unwrap();
    let e = t
        .write("db://k")
        .with_items([json!({"id": 3}), json!({"id": 2, "name": "again"})])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(
        e.to_string().contains("item 1: key '2' is already in the table"),
        "{e}"
    );
    let e = t
        .write("db://k")
        .with_items([json!({"id": 4}), json!({"id": 4})])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("twice in this write"), "{e}");
    assert_eq!(rows(&t.read("db://k").await.unwrap()), 2);
    let e = t
        .write("db://k")
        .with_items([json!({"id": 5})])
        .condition("id IS NULL")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_file_is_a_read_only_table() {
    let fx = lake().await;
    std::fs::write(
        fx.dir.path().join("lake/export.jsonl"),
        "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": null}\n",
    )
    .unwrap();
    let b = fx
        .ctx
        .table()
        .read("db://export.jsonl")
        .where_("a = 2")
        .await
        .unwrap();
    assert_eq!(rows(&b), 1);
    let e = fx
        .ctx
        .table()
        .write("db://export.jsonl")
        .with_items([json!({"a": 3})])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("single file"), "{e}");
    let e = fx.ctx.table().read("db://../x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_refused_at_connect() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "metadata:\n  name: x\nspec:\n  dataBindings:\n    db:\n      kind: table\n      driver: files\n      url: ./lake\n      options:\n        format: xlsx\n";
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    let Err(e) = bindery::Context::connect(dir.path().join("function.yaml")).await else {
        panic!("a binding with format xlsx connected");
    };
    assert!(
        e.to_string()
            .contains("unknown file format 'xlsx' (formats: parquet, csv, jsonl)"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_cannot_nest_in_each_other() {
    let fx = bindery_tests::table_fixture("files", "      url: ./lake\n").await;
    let t = fx.ctx.table();
    t.create("db://t").schema("k string NOT NULL").await.unwrap();
    let e = t
        .create("db://t/same")
        .schema("k string NOT NULL")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), bindery::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("inside the folder of table 't'"), "{e}");
    t.create("db://u/inner")
        .schema("k string NOT NULL")
        .await
        .unwrap();
    let e = t.create("db://u").schema("k string NOT NULL").await.unwrap_err();
    assert!(e.to_string().contains("would hold table 'u/inner'"), "{e}");
    t.write("db://t")
        .with_items([serde_json::json!({"k": "a"})])
        .await
        .unwrap();
    t.drop("db://t").await.unwrap();
    assert!(
        t.schema("db://u/inner").await.is_ok(),
        "the other table was harmed"
    );
}

/// A watch sees the rows of files other tools put in the table's folder (written under a
/// hidden name and renamed in, as tools that write atomically do) and of files they remove.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_sees_the_rows_of_files_other_tools_add_and_remove() {
    use bindery::ChangeKind;
    use bindery_tests::watch_suite::{kinds, until};
    let fx = lake().await;
    bindery_tests::create_table(&fx.ctx, "db://t", "id int64 NOT NULL, v string", "id").await;
    let folder = fx.dir.path().join("lake/t");
    let ctx = fx.ctx.clone();
    tokio::task::spawn_blocking(move || {
        let wait = std::time::Duration::from_secs(10);
        let mut w = ctx.table().watch("db://t").load();
        w.ready();
        std::fs::write(folder.join(".part.csv"), "id,v\n7,x\n8,y\n").unwrap();
        std::fs::rename(folder.join(".part.csv"), folder.join("extra.csv")).unwrap();
        let got = until(&mut w, wait, |g| g.len() == 2);
        assert_eq!(
            kinds(&got),
            [(ChangeKind::Created, "7"), (ChangeKind::Created, "8")]
        );
        let row: serde_json::Value = serde_json::from_str(got[0].row.as_deref().unwrap()).unwrap();
        assert_eq!(row, json!({"id": 7, "v": "x"}));
        std::fs::remove_file(folder.join("extra.csv")).unwrap();
        let got = until(&mut w, wait, |g| g.len() == 2);
        assert_eq!(
            kinds(&got),
            [(ChangeKind::Deleted, "7"), (ChangeKind::Deleted, "8")]
        );
        // Written by bindery: seen at once.
        ctx.table()
            .write("db://t")
            .with_items([json!({"id": 9})])
            .do_()
            .unwrap();
        assert_eq!(
            kinds(&until(&mut w, wait, |g| !g.is_empty())),
            [(ChangeKind::Created, "9")]
        );
    })
    .await
    .unwrap();
}
