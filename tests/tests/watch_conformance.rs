//! The watch conformance suite, run against every object and table driver: those with the `watch`
//! capability (built in, and through the plugin ABI) and one without (refused).
//! Changes made by other programs are each driver's own tests.

use bindery::ErrorKind;
use bindery_tests::{
    cdylib, fixture, postgres_fixture, s3_fixture, table_fixture, table_watch_suite, watch_suite,
};

watch_suite!(memory, || fixture("memory", ""));
watch_suite!(fs, || fixture("fs", "      url: ./data\n"));
watch_suite!(memory_plugin, || async {
    let lib = cdylib("memory-plugin");
    fixture(&lib.display().to_string(), "").await
});
watch_suite!(git, || fixture("git", "      url: ./repo\n"));
watch_suite!(git_plugin, || async {
    let lib = cdylib("git-plugin");
    fixture(&lib.display().to_string(), "      url: ./repo\n").await
});
watch_suite!(s3_s3s_fs, || s3_fixture("s3s-fs"));
watch_suite!(s3_garage, || s3_fixture("garage"));

// Table watches.
table_watch_suite!(sqlite, || table_fixture("sqlite", "      url: ./data.db\n"));
table_watch_suite!(sqlite_plugin, || async {
    let lib = cdylib("sqlite-plugin");
    table_fixture(&lib.display().to_string(), "      url: ./data.db\n").await
});
table_watch_suite!(postgres, postgres_fixture);
table_watch_suite!(files, || table_fixture("files", "      url: ./tables\n"));
table_watch_suite!(files_jsonl, || table_fixture(
    "files",
    "      url: ./tables\n      options:\n        format: jsonl\n"
));

/// A binding whose driver cannot watch (a test plugin with get and head only) refuses a watch,
/// naming the driver and what it lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_without_watch_refuses_it() {
    let lib = cdylib("panicky-plugin");
    let fx = fixture(&lib.display().to_string(), "").await;
    let ctx = fx.ctx.clone();
    let e =
        tokio::task::spawn_blocking(move || ctx.object().watch("obj://").load().next().unwrap().unwrap_err())
            .await
            .unwrap();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(
        e.to_string()
            .contains("driver 'panicky' of binding 'obj' does not support watch"),
        "{e}"
    );
}
