//! The watch conformance suite, run against every object driver: those with the `watch`
//! capability (built in, and through the plugin ABI) and one without (refused).

use bindery_tests::{cdylib, fixture, s3_fixture, watch_suite};

watch_suite!(memory, || fixture("memory", ""));
watch_suite!(fs, || fixture("fs", "      url: ./data\n"));
watch_suite!(memory_plugin, || async {
    let lib = cdylib("memory-plugin");
    fixture(&lib.display().to_string(), "").await
});
// No watch yet: every case checks the refusal.
watch_suite!(s3_s3s_fs, || s3_fixture("s3s-fs"));
