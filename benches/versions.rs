//! Versions on the `git` driver (issue 23), each against a baseline in the same run:
//! - 4 KiB puts, each one commit, against the same commits made with gix directly (a blob,
//!   the tree edited, a commit moving the branch by compare-and-swap): what the driver adds
//!   on top of the crate it uses;
//! - a 4 KiB read at an older revision, against `git show REV:PATH` (a process per read, as
//!   a script would do it) and against gix directly (resolve the revision, look the path up,
//!   read the blob).
//!
//! Run with `benches/run versions` (or `cargo bench -p bindery-benches --bench versions`).

use std::path::Path;
use std::time::Instant;

use bindery::Context;
use bindery_benches::{table_header, Case};
use gix::objs::tree::EntryKind;

const ROUNDS: usize = 5;
const PUTS: usize = 200;
const READS: usize = 500;
const SHOWS: usize = 100;

fn context(dir: &Path, repo: &str) -> Context {
    let spec = dir.join("function.yaml");
    std::fs::write(
        &spec,
        format!(
            "spec:\n  dataBindings:\n    docs:\n      kind: object\n      driver: git\n      url: {repo}\n"
        ),
    )
    .unwrap();
    Context::open(&spec).unwrap()
}

/// `n` commits of 4 KiB blobs at `p{i}` made with gix directly on `repo`'s `main`.
fn gix_commits(repo: &gix::Repository, data: &[u8], n: usize) {
    let sig = gix::actor::Signature {
        name: "bench".into(),
        email: "bench@localhost".into(),
        time: gix::date::Time::now_local_or_utc(),
    };
    let mut time = gix::date::parse::TimeBuf::default();
    for i in 0..n {
        let tip = repo
            .try_find_reference("refs/heads/main")
            .unwrap()
            .map(|mut r| r.peel_to_id().unwrap().detach());
        let tree = match tip {
            Some(c) => repo.find_commit(c).unwrap().tree_id().unwrap().detach(),
            None => gix::ObjectId::empty_tree(repo.object_hash()),
        };
        let blob = repo.write_blob(data).unwrap().detach();
        let mut editor = repo.edit_tree(tree).unwrap();
        editor
            .upsert(format!("p{i}").as_str(), EntryKind::Blob, blob)
            .unwrap();
        let new_tree = editor.write().unwrap().detach();
        let s = sig.to_ref(&mut time);
        repo.commit_as(s, s, "refs/heads/main", format!("put p{i}"), new_tree, tip)
            .unwrap();
    }
}

fn main() {
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    table_header("Versions (git): 4 KiB objects");
    let (mut puts, mut shows, mut direct) = (Case::default(), Case::default(), Case::default());
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), "./repo");
        let o = ctx.object();
        let t = Instant::now();
        for i in 0..PUTS {
            o.put(format!("docs://p{i}"), data.clone()).do_().unwrap();
        }
        let ours = PUTS as f64 / t.elapsed().as_secs_f64();
        let raw = gix::init_bare(dir.path().join("raw")).unwrap();
        let t = Instant::now();
        gix_commits(&raw, &data, PUTS);
        let theirs = PUTS as f64 / t.elapsed().as_secs_f64();
        puts.add(ours, theirs);

        // Reads of p0 at the revision that wrote it (PUTS - 1 commits ago).
        let rev = o.versions("docs://p0").do_().unwrap()[0].id.clone();
        let t = Instant::now();
        for _ in 0..READS {
            let got = o.get("docs://p0").version(rev.as_str()).do_().unwrap();
            assert_eq!(got.data.len(), data.len());
        }
        let ours = READS as f64 / t.elapsed().as_secs_f64();
        let repo = dir.path().join("repo");
        let t = Instant::now();
        for _ in 0..SHOWS {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["show", &format!("{rev}:p0")])
                .output()
                .unwrap();
            assert_eq!(out.stdout.len(), data.len());
        }
        let show = SHOWS as f64 / t.elapsed().as_secs_f64();
        shows.add(ours, show);
        let gix_repo = gix::open(&repo).unwrap();
        let t = Instant::now();
        for _ in 0..READS {
            let id = gix_repo.rev_parse_single(rev.as_str()).unwrap();
            let commit = id.object().unwrap().peel_to_commit().unwrap();
            let entry = commit
                .tree()
                .unwrap()
                .lookup_entry_by_path("p0")
                .unwrap()
                .unwrap();
            let blob = gix_repo.find_blob(entry.object_id()).unwrap();
            assert_eq!(blob.data.len(), data.len());
        }
        let gix_rate = READS as f64 / t.elapsed().as_secs_f64();
        direct.add(ours, gix_rate);
        if round == 0 {
            eprintln!("versions bench: {PUTS} puts, {READS} reads a round");
        }
    }
    puts.report(
        "git: 4 KiB put, one commit each",
        "commits/s",
        "the same commits with gix 0.91",
    );
    shows.report(
        "git: 4 KiB get at a revision 199 commits back",
        "reads/s",
        "`git show REV:PATH`, a process each",
    );
    direct.report(
        "git: the same get at a revision",
        "reads/s",
        "gix 0.91: rev-parse, tree lookup, blob",
    );
}
