//! The versions conformance suite, run against every object driver with the `versioning`
//! capability (built in, and through the plugin ABI), and one binding without it (refused).
//! Interplay with other programs (the git command line) is each driver's own tests.

use bindery::ErrorKind;
use bindery_tests::{cdylib, fixture, versions_suite};

versions_suite!(memory, || fixture("memory", ""));
versions_suite!(memory_plugin, || async {
    let lib = cdylib("memory-plugin");
    fixture(&lib.display().to_string(), "").await
});
versions_suite!(git, || fixture("git", "      url: ./repo\n"));
versions_suite!(git_plugin, || async {
    let lib = cdylib("git-plugin");
    fixture(&lib.display().to_string(), "      url: ./repo\n").await
});

/// A binding without versions refuses every versions request before its driver sees it,
/// naming the driver and what it lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_without_versions_refuses_them() {
    let fx = fixture("memory", "      options:\n        versions: 0\n").await;
    let o = fx.ctx.object();
    o.put("obj://a", "x").await.unwrap();
    let refused = [
        o.versions("obj://a").await.map(|_| ()),
        o.get("obj://a").version("1").await.map(|_| ()),
        o.head("obj://a").version("1").await.map(|_| ()),
        o.list("obj://").version("1").await.map(|_| ()),
        o.tags("obj://").await.map(|_| ()),
        o.tag_create("obj://", "t").await.map(|_| ()),
        o.revert("obj://a", "1").await.map(|_| ()),
        o.diff("obj://a", "1").await.map(|_| ()),
    ];
    for r in refused {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(
            e.to_string()
                .contains("driver 'memory' of binding 'obj' does not support"),
            "{e}"
        );
    }
    // Everything else works as before.
    assert_eq!(&o.get("obj://a").await.unwrap().data[..], b"x");
}
