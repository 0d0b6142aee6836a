//! The table conformance suite, run against every table driver.

use bindery_tests::{table_fixture, table_suite};

table_suite!(sqlite, || table_fixture("sqlite", "      url: ./data.db\n"));
