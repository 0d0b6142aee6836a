//! A writer killed with SIGKILL in the middle of a put leaves either the old object or the
//! new one, never a torn one; what it acknowledged is there; its temporary files go at the
//! next start.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bindery::{Context, ErrorKind};
use bindery_tests::{crash_byte, next_random as next, run_then_kill, spec_text};

const SIZE: usize = 3 * 1024 * 1024 + 123;
const ROUNDS: u64 = 25;

#[test]
fn a_killed_writer_never_leaves_a_torn_object() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("function.yaml");
    std::fs::write(&spec, spec_text("fs", "      url: ./data\n")).unwrap();
    let mut rng = 0x5eed_u64;
    let mut current: Option<u64> = None; // the seq the object holds, once verified
    let mut kills_mid_write = 0;
    let mut temp_files_left = 0;
    for round in 0..ROUNDS {
        let first = round * 1_000_000;
        // Kill it at a random point of its writes (counted from its first acknowledgement).
        let acked: Vec<u64> = run_then_kill(
            bindery_tests::test_bin("fs-crash-writer"),
            &[
                spec.to_str().unwrap(),
                "obj://victim",
                &SIZE.to_string(),
                &first.to_string(),
            ],
            Duration::from_millis(20 + next(&mut rng) % 200),
        )
        .iter()
        .filter_map(|l| l.parse().ok())
        .collect();
        let last_acked = acked.last().copied();

        let tmp = dir.path().join("data/.bindery/tmp");
        if std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0) > 0 {
            temp_files_left += 1;
        }
        let ctx = Context::open(&spec).unwrap();
        let allowed: Vec<Option<u64>> = match last_acked {
            Some(s) => vec![Some(s), Some(s + 1)],
            None => vec![current, Some(first)],
        };
        let got = match ctx.object().get("obj://victim").do_() {
            Ok(obj) => {
                assert_eq!(
                    obj.data.len(),
                    SIZE,
                    "round {round}: a torn object of {} bytes",
                    obj.data.len()
                );
                let seq: u64 = obj.meta.metadata["seq"].parse().unwrap();
                let fill = crash_byte(seq);
                assert!(
                    obj.data.iter().all(|b| *b == fill),
                    "round {round}: the data of write {seq} is mixed with another's"
                );
                Some(seq)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => panic!("round {round}: {e}"),
        };
        assert!(
            allowed.contains(&got),
            "round {round}: found write {got:?}, acknowledged up to {last_acked:?}"
        );
        if got != last_acked && got.is_some() {
            kills_mid_write += 1; // killed after the rename, before the acknowledgement
        }
        let listed = ctx.object().list("obj://").do_().unwrap();
        assert!(listed.len() <= 1, "round {round}: stray objects {listed:?}");
        let stale: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(
            stale.is_empty(),
            "round {round}: temporary files of the dead writer remain: {stale:?}"
        );
        current = got;
        drop(ctx);
    }
    eprintln!(
        "{ROUNDS} kills; {temp_files_left} left a temporary file (removed at the next start); \
         {kills_mid_write} landed between a write's rename and its acknowledgement"
    );
    assert!(
        current.is_some(),
        "no write was ever acknowledged: the kills came too early to test anything"
    );
}

#[test]
fn the_crash_writer_acknowledges_whole_writes() {
    // The check above is only meaningful if the writer really writes; make sure it does.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("function.yaml");
    std::fs::write(&spec, spec_text("fs", "      url: ./data\n")).unwrap();
    let mut child = Command::new(bindery_tests::test_bin("fs-crash-writer"))
        .args([spec.to_str().unwrap(), "obj://v", "1000", "7"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(first, "7");
    let ctx = Context::open(&spec).unwrap();
    let obj = ctx.object().get("obj://v").do_().unwrap();
    assert_eq!(obj.data.len(), 1000);
}
