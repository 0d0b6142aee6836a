//! The table conformance suite, run against every table driver: built in, and loaded as a
//! plugin library through the ABI.

use bindery_tests::bare::bare_fixture;
use bindery_tests::{cdylib, postgres_fixture, table_fixture, table_suite};

table_suite!(sqlite, || table_fixture("sqlite", "      url: ./data.db\n"));
// SQLite without key lookups, filters, projection or limits: the host's fill layer does them.
table_suite!(sqlite_bare, || bare_fixture(
    "db",
    "table",
    "sqlite",
    "      url: ./data.db\n"
));
table_suite!(files_parquet, || table_fixture("files", "      url: ./tables\n"));
table_suite!(files_csv, || table_fixture(
    "files",
    "      url: ./tables\n      options:\n        format: csv\n"
));
table_suite!(files_jsonl, || table_fixture(
    "files",
    "      url: ./tables\n      options:\n        format: jsonl\n"
));
table_suite!(sqlite_plugin, || async {
    let lib = cdylib("sqlite-plugin");
    table_fixture(&lib.display().to_string(), "      url: ./data.db\n").await
});
table_suite!(postgres, postgres_fixture);
