//! The fs watch sees what other programs do to the folder: shell commands writing,
//! appending, renaming and removing files, a folder moved in and out, an editor's write and
//! rename, and a burst of 10,000 files at once. Bindery's own files never show.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bindery::{Change, ChangeKind, Context};
use bindery_tests::spec_text;
use bindery_tests::watch_suite::until;

/// A context on an fs binding (prefix `suite`) and the folder its objects are in.
async fn setup() -> (Context, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("function.yaml");
    std::fs::write(&spec, spec_text("fs", "      url: ./data\n")).unwrap();
    let ctx = Context::connect(&spec).await.unwrap();
    let folder = dir.path().join("data/suite");
    std::fs::create_dir_all(&folder).unwrap();
    (ctx, folder, dir)
}

fn sh(folder: &Path, script: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(folder)
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}

fn kinds(cs: &[Change]) -> Vec<(ChangeKind, String)> {
    cs.iter().map(|c| (c.kind, c.path.clone())).collect()
}

/// Per path, the kinds of its changes in order.
fn by_path(cs: &[Change]) -> BTreeMap<String, Vec<ChangeKind>> {
    let mut out: BTreeMap<String, Vec<ChangeKind>> = BTreeMap::new();
    for c in cs {
        out.entry(c.path.clone()).or_default().push(c.kind);
    }
    out
}

fn last_is(cs: &[Change], path: &str, kind: ChangeKind) -> bool {
    cs.iter()
        .rev()
        .find(|c| c.path == path)
        .is_some_and(|c| c.kind == kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_commands_report_as_what_they_did() {
    let (ctx, folder, _dir) = setup().await;
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.object().watch("obj://").load();
        w.ready();
        let t = Duration::from_secs(10);
        sh(&folder, "echo hello > a.txt");
        let got = until(&mut w, t, |cs| last_is(cs, "a.txt", ChangeKind::Created));
        assert_eq!(kinds(&got), [(ChangeKind::Created, "a.txt".to_string())]);
        assert_eq!(got[0].size, Some(6));

        sh(&folder, "echo more >> a.txt");
        let got = until(&mut w, t, |cs| !cs.is_empty());
        assert_eq!(kinds(&got), [(ChangeKind::Updated, "a.txt".to_string())]);
        assert_eq!(got[0].size, Some(11));

        // A rename is a deletion and a creation.
        sh(&folder, "mv a.txt b.txt");
        let got = until(&mut w, t, |cs| {
            last_is(cs, "a.txt", ChangeKind::Deleted) && last_is(cs, "b.txt", ChangeKind::Created)
        });
        assert_eq!(got.len(), 2, "{:?}", kinds(&got));

        // An editor's save: a new file written beside, then renamed over the old one.
        sh(&folder, "printf 'v2' > .b.txt.swp && mv .b.txt.swp b.txt");
        let got = until(&mut w, t, |cs| last_is(cs, "b.txt", ChangeKind::Updated));
        for (path, ks) in by_path(&got) {
            match path.as_str() {
                "b.txt" => assert_eq!(ks, [ChangeKind::Updated]),
                // Seen only if the write and the rename fell apart in time.
                ".b.txt.swp" => assert_eq!(ks, [ChangeKind::Created, ChangeKind::Deleted]),
                other => panic!("unexpected change of {other}: {:?}", kinds(&got)),
            }
        }
        assert_eq!(ctx.object().get("obj://b.txt").do_().unwrap().data, "v2");

        // A folder moved in reports each file; moved out, each file goes.
        let outside = folder.parent().unwrap().parent().unwrap().join("staging");
        std::fs::create_dir_all(outside.join("d/e")).unwrap();
        std::fs::write(outside.join("d/1"), "1").unwrap();
        std::fs::write(outside.join("d/e/2"), "2").unwrap();
        sh(&folder, &format!("mv {} ./d", outside.join("d").display()));
        let got = until(&mut w, t, |cs| by_path(cs).len() == 2);
        assert_eq!(
            by_path(&got),
            BTreeMap::from([
                ("d/1".to_string(), vec![ChangeKind::Created]),
                ("d/e/2".to_string(), vec![ChangeKind::Created])
            ])
        );
        sh(&folder, &format!("mv ./d {}", outside.join("d2").display()));
        let got = until(&mut w, t, |cs| by_path(cs).len() == 2);
        assert!(
            got.iter().all(|c| c.kind == ChangeKind::Deleted),
            "{:?}",
            kinds(&got)
        );

        sh(&folder, "rm b.txt");
        let got = until(&mut w, t, |cs| !cs.is_empty());
        assert_eq!(kinds(&got), [(ChangeKind::Deleted, "b.txt".to_string())]);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindery_s_own_writes_show_once_and_its_files_never() {
    let (ctx, _folder, _dir) = setup().await;
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.object().watch("obj://").load();
        w.ready();
        ctx.object().put("obj://p/q", vec![7u8; 100_000]).do_().unwrap();
        ctx.object()
            .put("obj://p/q", "small")
            .metadata([("k", "v")])
            .do_()
            .unwrap();
        ctx.object().del("obj://p/q").do_().unwrap();
        let got = until(&mut w, Duration::from_secs(10), |cs| cs.len() >= 3);
        assert_eq!(
            kinds(&got),
            [
                (ChangeKind::Created, "p/q".to_string()),
                (ChangeKind::Updated, "p/q".to_string()),
                (ChangeKind::Deleted, "p/q".to_string())
            ]
        );
        // Nothing more comes: inotify's own reports of these writes are no new changes,
        // and the temporary files and metadata under .bindery/ never show.
        assert!(w.poll(Duration::from_millis(500)).is_none());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_files_loses_none() {
    let (ctx, folder, _dir) = setup().await;
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.object().watch("obj://burst/").load();
        w.ready();
        std::fs::create_dir_all(folder.join("burst")).unwrap();
        sh(&folder.join("burst"), "seq -w 0 9999 | xargs touch");
        let mut created = BTreeSet::new();
        let got = until(&mut w, Duration::from_secs(120), |cs| {
            if let Some(c) = cs.last() {
                match c.kind {
                    ChangeKind::Created => {
                        created.insert(c.path.clone());
                    }
                    // A watcher that fell behind starts over from the current state.
                    ChangeKind::Resync => created.clear(),
                    _ => {}
                }
            }
            created.len() == 10_000
        });
        let expected: BTreeSet<String> = (0..10_000).map(|i| format!("burst/{i:04}")).collect();
        assert_eq!(created, expected);
        let resyncs = got.iter().filter(|c| c.kind == ChangeKind::Resync).count();
        eprintln!("10,000 files: {} changes, {resyncs} resyncs", got.len());
    })
    .await
    .unwrap();
}
