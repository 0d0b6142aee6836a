//! The stream conformance suite, run against every stream driver: built in, and loaded as a
//! plugin library through the ABI.

use bindery_tests::{cdylib, kafka_fixture, stream_fixture, stream_suite};

stream_suite!(log, || stream_fixture("log", "      url: ./streams\n"));
stream_suite!(log_plugin, || async {
    let lib = cdylib("log-plugin");
    stream_fixture(&lib.display().to_string(), "      url: ./streams\n").await
});
stream_suite!(kafka, kafka_fixture);
