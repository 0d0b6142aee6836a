//! Runs every input kept in `fuzz/corpus/<target>/` through its target (on stable, in CI):
//! what fuzzing once found stays fixed. An input that panics fails the test naming its file.

use std::path::Path;

#[test]
fn the_kept_corpus_replays_without_a_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut ran = 0;
    for (name, target) in bindery_fuzz::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus of {name} ({}): {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(
            !inputs.is_empty(),
            "target {name} has no corpus in {}",
            dir.display()
        );
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "target {name} failed on {}", input.display());
            ran += 1;
        }
    }
    println!("replayed {ran} inputs");
}
