//! The quickstart runs as the README says, twice on the same data: the second run goes on
//! from the first's checkpoint, refuses its stale update, and appends to the lake.

use std::process::Command;

fn run(data: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .env("QUICKSTART_DATA", data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_quickstart_runs_twice_on_the_same_data() {
    let data = tempfile::tempdir().unwrap();
    let first = run(data.path());
    assert!(first.contains("upserted 3 users"), "{first}");
    assert!(first.contains("| ana  | NY   |"), "{first}");
    assert!(first.contains("3 users at level 1"), "{first}");
    assert!(
        first.contains("appended 3 visits to lake://visits; 2 visits of /ny pages in all"),
        "{first}"
    );
    let second = run(data.path());
    assert!(
        second.contains("stale update refused: ConditionFailed"),
        "{second}"
    );
    assert!(second.contains("4 visits of /ny pages in all"), "{second}");
}
