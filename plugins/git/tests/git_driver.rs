//! The git driver with the git command line: what bindery commits, git reads (`git log`,
//! `git show REV:path`, `git tag -n`, `git fsck`); what git commits, bindery reads; and writers
//! in several processes (bindery and git's plumbing) committing at once lose nothing; a watch
//! reports the objects each git commit changed.

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use bindery::{ChangeKind, Context, ErrorKind};
use bindery_tests::test_bin;

/// `git ARGS` in `repo`, which must succeed; its standard output.
fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=Git User", "-c", "user.email=git@example.com"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A context with one `docs` binding on the git repository `repo` (under `dir`).
fn context(dir: &Path, repo: &str, extra: &str) -> Context {
    let spec = dir.join("function.yaml");
    std::fs::write(
        &spec,
        format!("spec:\n  dataBindings:\n    docs:\n      kind: object\n      driver: git\n      url: {repo}\n{extra}"),
    )
    .unwrap();
    Context::open(&spec).unwrap()
}

#[test]
fn what_bindery_commits_the_git_command_line_reads() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(
        dir.path(),
        "./repo",
        "      options:\n        author: Ada <ada@example.com>\n",
    );
    let repo = dir.path().join("repo");
    let o = ctx.object();
    o.put("docs://data/package.json", r#"{"name":"one"}"#)
        .metadata([("content-type", "application/json")])
        .option("message", "add the package")
        .do_()
        .unwrap();
    o.put("docs://data/package.json", r#"{"name":"two"}"#)
        .option("author", "Grace <grace@example.com>")
        .do_()
        .unwrap();
    o.put("docs://notes.txt", "hello\n").do_().unwrap();
    o.del("docs://notes.txt").do_().unwrap();
    let first = o.versions("docs://data/package.json").do_().unwrap()[1]
        .id
        .clone();
    o.tag_create("docs://", "v1")
        .revision(first.clone())
        .description("the first package")
        .do_()
        .unwrap();
    o.revert("docs://data/package.json", "v1").do_().unwrap();

    // A bare repository was made; its history is bindery's five commits, newest first.
    assert_eq!(git(&repo, &["rev-parse", "--is-bare-repository"]).trim(), "true");
    let log = git(&repo, &["log", "--format=%an <%ae>|%s", "main"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "Ada <ada@example.com>|revert data/package.json to v1",
            "Ada <ada@example.com>|delete notes.txt",
            "Ada <ada@example.com>|put notes.txt",
            "Grace <grace@example.com>|put data/package.json",
            "Ada <ada@example.com>|add the package",
        ]
    );
    assert_eq!(
        git(&repo, &["show", "main:data/package.json"]),
        r#"{"name":"one"}"#
    );
    assert_eq!(
        git(&repo, &["show", "main~3:data/package.json"]),
        r#"{"name":"two"}"#
    );
    assert_eq!(
        git(&repo, &["show", &format!("{first}:data/package.json")]),
        r#"{"name":"one"}"#
    );
    assert_eq!(git(&repo, &["show", "v1:data/package.json"]), r#"{"name":"one"}"#);
    // The tag is annotated: its description is its message.
    assert_eq!(git(&repo, &["cat-file", "-t", "v1"]).trim(), "tag");
    let tags = git(&repo, &["tag", "-n"]);
    assert!(
        tags.starts_with("v1") && tags.contains("the first package"),
        "{tags}"
    );
    // Metadata rides in the tree beside the object; the generation is the blob id.
    let meta = git(&repo, &["show", "main:.bindery/meta/data/package.json.json"]);
    assert_eq!(meta, r#"{"content-type":"application/json"}"#);
    let blob = git(&repo, &["rev-parse", "main:data/package.json"]);
    assert_eq!(o.head("docs://data/package.json").do_().unwrap().gen, blob.trim());
    // Nothing git's own checks object to.
    let fsck = Command::new("git")
        .args(["-C", repo.to_str().unwrap(), "fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
    assert!(
        fsck.status.success() && fsck.stdout.is_empty(),
        "git fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

#[test]
fn what_the_git_command_line_commits_bindery_reads() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("work");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(repo.join("d")).unwrap();
    std::fs::write(repo.join("d/a.txt"), "first\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first commit"]);
    git(&repo, &["tag", "light"]);
    std::fs::write(repo.join("d/a.txt"), "second\n").unwrap();
    std::fs::write(repo.join("b.txt"), "b\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "second commit"]);
    git(&repo, &["tag", "-a", "annotated", "-m", "marked by git"]);

    let ctx = context(dir.path(), "./work", "");
    let o = ctx.object();
    assert_eq!(&o.get("docs://d/a.txt").do_().unwrap().data[..], b"second\n");
    let revs = o.versions("docs://d/a.txt").do_().unwrap();
    assert_eq!(revs.len(), 2);
    assert_eq!(revs[0].author, "Git User <git@example.com>");
    assert_eq!(
        (revs[0].message.as_str(), revs[1].message.as_str()),
        ("second commit", "first commit")
    );
    assert_eq!(revs[0].id, git(&repo, &["rev-parse", "HEAD"]).trim());
    // Any revision git names: a lightweight tag, an annotated one, `main~1`, a short id.
    for rev in ["light", "main~1", &revs[1].id[..10]] {
        assert_eq!(
            &o.get("docs://d/a.txt").version(rev).do_().unwrap().data[..],
            b"first\n",
            "{rev}"
        );
    }
    assert_eq!(
        &o.get("docs://d/a.txt").version("annotated").do_().unwrap().data[..],
        b"second\n"
    );
    let listed: Vec<String> = o
        .list("docs://")
        .version("light")
        .do_()
        .unwrap()
        .iter()
        .map(|e| e.path().to_string())
        .collect();
    assert_eq!(listed, ["d/a.txt"]);
    let tags = o.tags("docs://").do_().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(
        (tags[0].name.as_str(), tags[0].description.as_str()),
        ("annotated", "marked by git")
    );
    assert_eq!(tags[0].author, "Git User <git@example.com>");
    assert_eq!(
        (tags[1].name.as_str(), tags[1].description.as_str()),
        ("light", "")
    );
    assert_eq!(tags[1].revision, revs[1].id);
    // bindery's commit goes on top of git's, which git then sees.
    o.put("docs://c.txt", "from bindery").do_().unwrap();
    assert_eq!(git(&repo, &["show", "main:c.txt"]), "from bindery");
    assert_eq!(
        git(&repo, &["log", "--format=%s", "-1", "main"]).trim(),
        "put c.txt"
    );
    assert_eq!(git(&repo, &["rev-parse", "main~1"]).trim(), revs[0].id);
}

#[test]
fn writers_in_several_processes_lose_nothing() {
    const EACH: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "./repo", "");
    let repo = dir.path().join("repo");
    ctx.object().put("docs://seed", "0").do_().unwrap();
    let spec = dir.path().join("function.yaml");
    let putters: Vec<_> = ["p1-", "p2-"]
        .iter()
        .map(|prefix| {
            Command::new(test_bin("object-putter"))
                .arg(&spec)
                .arg(prefix)
                .arg(EACH.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // git's plumbing commits too, moving the branch by compare-and-swap as bindery does.
    let script = format!(
        r#"set -e
for i in $(seq 1 {EACH}); do
  while :; do
    old=$(git rev-parse refs/heads/main)
    blob=$(printf 'cli %s' "$i" | git hash-object -w --stdin)
    tree=$( (git ls-tree "$old"; printf '100644 blob %s\tcli-%s\n' "$blob" "$i") | git mktree)
    new=$(git commit-tree "$tree" -p "$old" -m "cli $i")
    git update-ref refs/heads/main "$new" "$old" 2>/dev/null && break
  done
done"#
    );
    let cli = Command::new("bash")
        .args(["-c", &script])
        .current_dir(&repo)
        .env("GIT_AUTHOR_NAME", "cli")
        .env("GIT_AUTHOR_EMAIL", "cli@example.com")
        .env("GIT_COMMITTER_NAME", "cli")
        .env("GIT_COMMITTER_EMAIL", "cli@example.com")
        .spawn()
        .unwrap();
    let wg = bindery::WaitGroup::new();
    for i in 0..EACH {
        ctx.object()
            .put(format!("docs://here-{i}"), i.to_string())
            .do_async(&wg)
            .unwrap();
    }
    let waited = ctx.wait(&wg);
    assert!(waited.first_error().is_none(), "{:?}", waited.first_error());
    for p in putters {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "a putter failed");
    }
    assert!(
        cli.wait_with_output().unwrap().status.success(),
        "git's writer failed"
    );
    // Every write is there, each its own commit.
    let names = git(&repo, &["ls-tree", "--name-only", "main"]);
    let count = |p: &str| names.lines().filter(|n| n.starts_with(p)).count();
    assert_eq!(
        (count("p1-"), count("p2-"), count("cli-"), count("here-")),
        (EACH, EACH, EACH, EACH),
        "{names}"
    );
    let commits = git(&repo, &["rev-list", "--count", "main"]);
    assert_eq!(commits.trim(), (1 + 4 * EACH).to_string());
    let listed = ctx.object().list("docs://").do_().unwrap();
    assert_eq!(listed.len(), 1 + 4 * EACH);
}

#[test]
fn conditions_hold_against_commits_made_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "./repo", "");
    let repo = dir.path().join("repo");
    let o = ctx.object();
    let first = o.put("docs://k", "one").do_().unwrap();
    // Another writer changes the object.
    let script = r#"old=$(git rev-parse main)
blob=$(printf 'two' | git hash-object -w --stdin)
tree=$(printf '100644 blob %s\tk\n' "$blob" | git mktree)
new=$(git -c user.name=x -c user.email=x@x commit-tree "$tree" -p "$old" -m other)
git update-ref refs/heads/main "$new" "$old""#;
    assert!(Command::new("bash")
        .args(["-c", script])
        .current_dir(&repo)
        .status()
        .unwrap()
        .success());
    let e = o
        .put("docs://k", "three")
        .condition("if-match", first.gen.clone())
        .do_()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert_eq!(&o.get("docs://k").do_().unwrap().data[..], b"two");
    let e = o
        .put("docs://k", "x")
        .condition("if-none-match", "*")
        .do_()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert_eq!(
        git(&repo, &["rev-list", "--count", "main"]).trim(),
        "2",
        "a refused write committed"
    );
}

#[test]
fn paths_git_cannot_hold_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "./repo", "");
    let o = ctx.object();
    o.put("docs://a", "file").do_().unwrap();
    for (path, why) in [
        ("docs://a/b", "'a' is an object"),
        ("docs://.bindery/meta/x", ".bindery/"),
        ("docs://x/.git/config", "'.git'"),
    ] {
        let e = o.put(path, "x").do_().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{path}: {e}");
        assert!(e.to_string().contains(why), "{path}: {e}");
    }
    o.put("docs://d/e", "x").do_().unwrap();
    let e = o.put("docs://d", "x").do_().unwrap_err();
    assert!(e.to_string().contains("objects exist below it"), "{e}");
    assert_eq!(o.versions("docs://a").do_().unwrap().len(), 1);
    // A folder that is neither a repository nor empty is refused at start-up.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("stray.txt"), "x").unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        format!(
            "spec:\n  dataBindings:\n    docs:\n      kind: object\n      driver: git\n      url: {}\n",
            other.path().display()
        ),
    )
    .unwrap();
    let e = Context::open(dir.path().join("bad.yaml")).unwrap_err();
    assert!(
        e.to_string().contains("is not a git repository, and not empty"),
        "{e}"
    );
}

/// The changes a watch reports, as (kind, path, generation), until `n` came.
fn changes(w: &mut bindery::Watcher, n: usize) -> Vec<(ChangeKind, String, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        match w.poll(Duration::from_secs(10)) {
            Some(Ok(c)) => got.push((c.kind, c.path, c.gen)),
            Some(Err(e)) => panic!("the watch failed after {got:?}: {e}"),
            None => panic!("only {got:?} of {n} changes within 10 s"),
        }
    }
    got
}

#[test]
fn commits_made_by_the_git_command_line_are_watched() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("work");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    std::fs::write(repo.join("b.txt"), "b\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);

    let ctx = context(
        dir.path(),
        "./work",
        "      options:\n        watch.interval_ms: 50\n",
    );
    // The current state first, then the commits git makes: one that changes a, adds c and
    // removes b; then two commits between two looks, reported as their net change.
    let mut w = ctx.object().watch("docs://").initial(true).load();
    let blob = |rev: &str| git(&repo, &["rev-parse", rev]).trim().to_string();
    let first = changes(&mut w, 3);
    assert_eq!(
        first,
        [
            (ChangeKind::Created, "a.txt".into(), blob("main:a.txt")),
            (ChangeKind::Created, "b.txt".into(), blob("main:b.txt")),
            (ChangeKind::Synced, String::new(), String::new()),
        ]
    );
    std::fs::write(repo.join("a.txt"), "a, again\n").unwrap();
    std::fs::write(repo.join("c.txt"), "c\n").unwrap();
    git(&repo, &["rm", "-q", "b.txt"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "second"]);
    let mut second = changes(&mut w, 3);
    second.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        second,
        [
            (ChangeKind::Updated, "a.txt".into(), blob("main:a.txt")),
            (ChangeKind::Deleted, "b.txt".into(), String::new()),
            (ChangeKind::Created, "c.txt".into(), blob("main:c.txt")),
        ]
    );
    // bindery's own write is reported as soon as it is acknowledged, with its generation.
    let put = ctx.object().put("docs://d.txt", "d").do_().unwrap();
    assert_eq!(
        changes(&mut w, 1),
        [(ChangeKind::Created, "d.txt".into(), put.gen.clone())]
    );
    // A watch resumes after a cursor: what git committed while nobody watched.
    let cursor = {
        let mut again = ctx.object().watch("docs://").load();
        again.ready();
        ctx.object().put("docs://e.txt", "e").do_().unwrap();
        let c = again.poll(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!((c.kind, c.path.as_str()), (ChangeKind::Created, "e.txt"));
        c.cursor
    };
    git(&repo, &["reset", "-q", "--hard", "main"]);
    std::fs::remove_file(repo.join("c.txt")).unwrap();
    git(&repo, &["commit", "-q", "-am", "third"]);
    let mut resumed = ctx.object().watch("docs://").from_("cursor", &cursor).load();
    assert_eq!(
        changes(&mut resumed, 1),
        [(ChangeKind::Deleted, "c.txt".into(), String::new())]
    );
    assert!(resumed.poll(Duration::from_millis(300)).is_none());
}
