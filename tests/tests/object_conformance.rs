//! The object conformance suite, run against every object driver: built in, and loaded as a
//! plugin library through the ABI.

use bindery_tests::{cdylib, fixture, object_suite, s3_fixture};

object_suite!(memory, || fixture("memory", ""));
object_suite!(fs, || fixture("fs", "      url: ./data\n"));
object_suite!(memory_plugin, || async {
    let lib = cdylib("memory-plugin");
    fixture(&lib.display().to_string(), "").await
});
object_suite!(s3_garage, || s3_fixture("garage"));
object_suite!(s3_s3s_fs, || s3_fixture("s3s-fs"));
