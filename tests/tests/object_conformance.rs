//! The object conformance suite, run against every object driver: built in, and loaded as a
//! plugin library through the ABI.

use bindery_tests::bare::bare_fixture;
use bindery_tests::{cdylib, fixture, object_suite, s3_fixture};

object_suite!(memory, || fixture("memory", ""));
// The memory driver without ranges or listing options: the host's fill layer does them.
object_suite!(memory_bare, || bare_fixture(
    "obj",
    "object",
    "memory",
    "      path: suite\n"
));
object_suite!(fs, || fixture("fs", "      url: ./data\n"));
object_suite!(git, || fixture("git", "      url: ./repo\n"));
object_suite!(memory_plugin, || async {
    let lib = cdylib("memory-plugin");
    fixture(&lib.display().to_string(), "").await
});
object_suite!(s3_garage, || s3_fixture("garage"));
object_suite!(s3_s3s_fs, || s3_fixture("s3s-fs"));
