//! The stream conformance suite, run against every stream driver.

use bindery_tests::{stream_fixture, stream_suite};

stream_suite!(log, || stream_fixture("log", "      url: ./streams\n"));
