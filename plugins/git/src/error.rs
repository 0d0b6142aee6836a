//! Maps gix's errors to bindery error kinds by gix's own classification of them.

use bindery_core::{Error, ErrorKind};

/// A gix error with its causes, for messages: `outer: cause: root cause`.
pub(crate) struct GitError<'a>(pub(crate) &'a gix::Error);

impl std::fmt::Display for GitError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        for e in self.0.iter_errors() {
            let text = e.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
        }
        f.write_str(&parts.join(": "))
    }
}

/// Maps a gix error met while doing `what` (`read a tree`) to a bindery error.
pub(crate) fn map(err: gix::Error, what: &str) -> Error {
    let class = || err.classify();
    let kind = if class().is_not_found() {
        ErrorKind::NotFound
    } else if class().is_permission_denied() {
        ErrorKind::PermissionDenied
    } else if class().is_conflict() || class().is_retryable() || class().is_resource_exhausted() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Internal
    };
    Error::new(kind, format!("git: {what}: {}", GitError(&err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_causes_and_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let missing = gix::open(dir.path().join("nowhere")).unwrap_err();
        let e = map(missing, "open the repository");
        assert!(e.message().starts_with("git: open the repository: "), "{e}");
        assert!(e.message().contains("nowhere"), "{e}");
        let repo = gix::init_bare(dir.path().join("r")).unwrap();
        let e = map(
            repo.find_commit(gix::ObjectId::null(gix::hash::Kind::Sha1))
                .unwrap_err(),
            "read a commit",
        );
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
}
