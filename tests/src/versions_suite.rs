//! The versions suite: revisions, reads at a revision, tags, revert and diff, on every object
//! driver with the `versioning` capability (a case on a binding without it is skipped, saying
//! so). Run by `tests/versions_conformance.rs`.

use bindery::{Context, DiffFormat, ErrorKind, ListEntry};
use serde_json::json;

/// Registers every case of the suite as a test, for one driver.
#[macro_export]
macro_rules! versions_suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::versions_suite!(@cases $fixture;
                puts_and_deletes_make_revisions_newest_first,
                reads_at_a_revision,
                listing_at_a_revision,
                tags_name_revisions,
                revert_makes_a_new_revision,
                diffs_of_json_text_and_bytes,
                a_bad_author_writes_nothing,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx = ($fixture)().await;
                if $crate::object_suite::skip(&fx.ctx, &["versioning"]) {
                    return;
                }
                $crate::versions_suite::$case(&fx.ctx).await;
            }
        )*
    };
}

pub async fn puts_and_deletes_make_revisions_newest_first(ctx: &Context) {
    let o = ctx.object();
    let one = o
        .put("obj://doc.txt", "one")
        .option("author", "Ada Lovelace <ada@example.com>")
        .option("message", "first")
        .await
        .unwrap();
    let two = o.put("obj://doc.txt", "two!").await.unwrap();
    // Another object's revision between them is not the document's.
    o.put("obj://other", "x").await.unwrap();
    o.del("obj://doc.txt").option("message", "gone").await.unwrap();
    let three = o.put("obj://doc.txt", "three").await.unwrap();
    let revs = o.versions("obj://doc.txt").await.unwrap();
    assert_eq!(revs.len(), 4, "{revs:?}");
    assert_eq!(
        revs.iter().map(|r| (r.deleted, r.size)).collect::<Vec<_>>(),
        [(false, 5), (true, 0), (false, 4), (false, 3)]
    );
    assert_eq!(
        [&revs[0].gen, &revs[2].gen, &revs[3].gen],
        [&three.gen, &two.gen, &one.gen]
    );
    assert!(revs[1].gen.is_empty());
    assert_eq!(revs[3].author, "Ada Lovelace <ada@example.com>");
    assert_eq!(revs[3].message, "first");
    assert_eq!(revs[1].message, "gone");
    assert!(!revs[0].author.is_empty() && !revs[0].message.is_empty());
    assert!(revs.iter().all(|r| r.time.is_some() && !r.id.is_empty()));
    let ids: std::collections::HashSet<_> = revs.iter().map(|r| &r.id).collect();
    assert_eq!(ids.len(), 4, "revision ids repeat: {revs:?}");
    // Pages.
    let first = o.versions("obj://doc.txt").limit(3).await.unwrap();
    assert_eq!(first, revs[..3]);
    let rest = o
        .versions("obj://doc.txt")
        .start_after(first[2].id.clone())
        .await
        .unwrap();
    assert_eq!(rest, revs[3..]);
    assert!(o.versions("obj://never").await.unwrap().is_empty());
}

pub async fn reads_at_a_revision(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://r", "old").metadata([("k", "1")]).await.unwrap();
    o.put("obj://r", "new").metadata([("k", "2")]).await.unwrap();
    o.del("obj://r").await.unwrap();
    let revs = o.versions("obj://r").await.unwrap();
    let (deleted, new, old) = (&revs[0].id, &revs[1].id, &revs[2].id);
    let got = o.get("obj://r").version(old.clone()).await.unwrap();
    assert_eq!(&got.data[..], b"old");
    assert_eq!(got.meta.metadata["k"], "1");
    assert_eq!(got.meta.path, "r");
    assert_eq!(got.meta.gen, revs[2].gen);
    let head = o.head("obj://r").version(new.clone()).await.unwrap();
    assert_eq!((head.size, head.gen.as_str()), (3, revs[1].gen.as_str()));
    let ranged = o
        .get("obj://r")
        .version(new.clone())
        .range(1, Some(1))
        .await
        .unwrap();
    assert_eq!(&ranged.data[..], b"e");
    let reader = o.get("obj://r").version(old.clone()).load();
    assert_eq!(&reader.read_all().unwrap()[..], b"old");
    // Deleted at that revision; gone now.
    let e = o.get("obj://r").version(deleted.clone()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(o.get("obj://r").await.unwrap_err().kind(), ErrorKind::NotFound);
    // A later revision (of another object) shows the object as it was then.
    o.put("obj://r2", "x").await.unwrap();
    let later = o.versions("obj://r2").await.unwrap()[0].id.clone();
    let e = o.get("obj://r").version(later).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // An unknown revision is refused, naming it.
    let e = o.get("obj://r").version("no-such-rev").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("no-such-rev"), "{e}");
    // A condition at a revision compares with that revision's generation.
    let e = o
        .get("obj://r")
        .version(old.clone())
        .condition("if-match", revs[1].gen.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
}

pub async fn listing_at_a_revision(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://l/a", "1").await.unwrap();
    o.put("obj://l/b/c", "22").await.unwrap();
    let at = o.versions("obj://l/b/c").await.unwrap()[0].id.clone();
    o.del("obj://l/a").await.unwrap();
    o.put("obj://l/d", "333").await.unwrap();
    let paths = |entries: Vec<ListEntry>| entries.iter().map(|e| e.path().to_string()).collect::<Vec<_>>();
    assert_eq!(
        paths(o.list("obj://l/").version(at.clone()).await.unwrap()),
        ["l/a", "l/b/c"]
    );
    assert_eq!(paths(o.list("obj://l/").await.unwrap()), ["l/b/c", "l/d"]);
    assert_eq!(
        paths(
            o.list("obj://l/")
                .version(at.clone())
                .delimiter("/")
                .await
                .unwrap()
        ),
        ["l/a", "l/b/"]
    );
    let then = o.list("obj://l/").version(at).await.unwrap();
    match &then[1] {
        ListEntry::Object(m) => assert_eq!(m.size, 2),
        e => panic!("{e:?}"),
    }
}

pub async fn tags_name_revisions(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://t", "v1").await.unwrap();
    let tag = o
        .tag_create("obj://", "release-1")
        .description("the first release")
        .author("Grace <grace@example.com>")
        .await
        .unwrap();
    assert_eq!(tag.name, "release-1");
    assert_eq!(tag.description, "the first release");
    assert_eq!(tag.author, "Grace <grace@example.com>");
    assert!(tag.time.is_some() && !tag.revision.is_empty());
    o.put("obj://t", "v2").await.unwrap();
    assert_eq!(
        &o.get("obj://t").version("release-1").await.unwrap().data[..],
        b"v1"
    );
    // Tag an older revision by id.
    let first = o.versions("obj://t").await.unwrap()[1].id.clone();
    o.tag_create("obj://", "older").revision(first).await.unwrap();
    assert_eq!(&o.get("obj://t").version("older").await.unwrap().data[..], b"v1");
    let e = o.tag_create("obj://", "release-1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let e = o.tag_create("obj://", "bad name").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let e = o
        .tag_create("obj://", "x")
        .revision("no-such-rev")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Read, update, list, delete.
    assert_eq!(o.tag_get("obj://", "release-1").await.unwrap(), tag);
    let renamed = o
        .tag_update("obj://", "release-1")
        .rename("v1.0")
        .description("renamed")
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_str()),
        ("v1.0", "renamed")
    );
    assert_eq!(renamed.revision, tag.revision);
    assert_eq!(&o.get("obj://t").version("v1.0").await.unwrap().data[..], b"v1");
    let names: Vec<String> = o
        .tags("obj://")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["older", "v1.0"]);
    o.tag_delete("obj://", "older").await.unwrap();
    let e = o.tag_get("obj://", "older").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = o.tag_delete("obj://", "older").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = o.tag_update("obj://", "v1.0").revision("1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

pub async fn revert_makes_a_new_revision(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://rv", "first").metadata([("m", "1")]).await.unwrap();
    o.put("obj://rv", "second").metadata([("m", "2")]).await.unwrap();
    let first = o.versions("obj://rv").await.unwrap()[1].id.clone();
    let meta = o
        .revert("obj://rv", first.clone())
        .option("author", "Rev <rev@example.com>")
        .await
        .unwrap();
    let now = o.get("obj://rv").await.unwrap();
    assert_eq!(&now.data[..], b"first");
    assert_eq!(now.meta.metadata["m"], "1");
    assert_eq!(now.meta.gen, meta.gen);
    let revs = o.versions("obj://rv").await.unwrap();
    assert_eq!(revs.len(), 3, "history is kept: {revs:?}");
    assert_eq!(revs[0].author, "Rev <rev@example.com>");
    assert!(revs[0].message.contains(&first), "{}", revs[0].message);
    // Reverting to before the object existed deletes it.
    o.put("obj://before", "x").await.unwrap();
    let before = o.versions("obj://before").await.unwrap()[0].id.clone();
    o.put("obj://rv2", "made later").await.unwrap();
    o.revert("obj://rv2", before).await.unwrap();
    assert_eq!(o.get("obj://rv2").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert!(o.versions("obj://rv2").await.unwrap()[0].deleted);
    let e = o.revert("obj://rv", "no-such-rev").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(
        o.versions("obj://rv").await.unwrap().len(),
        3,
        "a refused revert wrote"
    );
}

pub async fn diffs_of_json_text_and_bytes(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://d.json", r#"{"name":"a","tags":["x"],"n":1}"#)
        .await
        .unwrap();
    o.put("obj://d.json", r#"{"name":"b","tags":["x","y"],"n":1}"#)
        .await
        .unwrap();
    let revs = o.versions("obj://d.json").await.unwrap();
    let d = o.diff("obj://d.json", revs[1].id.clone()).await.unwrap();
    assert_eq!(d.format, DiffFormat::JsonPatch);
    let patch: serde_json::Value = serde_json::from_str(&d.patch).unwrap();
    let ops = patch.as_array().unwrap();
    assert!(
        ops.contains(&json!({"op": "replace", "path": "/name", "value": "b"})),
        "{patch}"
    );
    assert!(ops.iter().any(|op| op["path"] == "/tags/1"), "{patch}");
    assert_eq!(d.from, Some((revs[1].size, revs[1].gen.clone())));
    assert_eq!(d.to, Some((revs[0].size, revs[0].gen.clone())));
    // Between two named revisions, the other way round.
    let back = o
        .diff("obj://d.json", revs[0].id.clone())
        .to(revs[1].id.clone())
        .await
        .unwrap();
    assert!(back.patch.contains(r#""value":"a""#), "{}", back.patch);
    o.put("obj://t.txt", "alpha\nbeta\n").await.unwrap();
    o.put("obj://t.txt", "alpha\ngamma\n").await.unwrap();
    let from = o.versions("obj://t.txt").await.unwrap()[1].id.clone();
    let d = o.diff("obj://t.txt", from).await.unwrap();
    assert_eq!(d.format, DiffFormat::Unified);
    assert!(d.patch.contains("-beta\n+gamma\n"), "{}", d.patch);
    o.put("obj://b.bin", vec![0u8, 159, 146, 150]).await.unwrap();
    o.put("obj://b.bin", vec![255u8]).await.unwrap();
    let from = o.versions("obj://b.bin").await.unwrap()[1].id.clone();
    let d = o.diff("obj://b.bin", from).await.unwrap();
    assert_eq!(d.format, DiffFormat::Sizes);
    assert_eq!((d.from.unwrap().0, d.to.unwrap().0), (4, 1));
    let e = o.diff("obj://b.bin", "no-such-rev").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

pub async fn a_bad_author_writes_nothing(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://a", "kept").await.unwrap();
    let e = o
        .put("obj://a", "lost")
        .option("author", "<nobody@example.com>")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("author"), "{e}");
    let e = o.del("obj://a").option("author", "a\nb").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(&o.get("obj://a").await.unwrap().data[..], b"kept");
    assert_eq!(o.versions("obj://a").await.unwrap().len(), 1);
}
