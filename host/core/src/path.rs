//! Command paths and how they join the spec's `path` (DESIGN §3).
//!
//! A command path is `name://rest`, where `name` is a binding; without `name://` the first
//! binding of the spec is meant. The effective path is the binding's `path` joined with
//! `rest`:
//!
//! - for objects the spec path is a key prefix: `reports` + `q3.csv` is `reports/q3.csv`;
//! - for tables and streams the spec path may name the table or topic fully, and then the
//!   command path must be empty.
//!
//! Rules for a path (checked by [`validate`]):
//! - relative: it does not start with `/`;
//! - no empty segment (`a//b`), no `.` or `..` segment: a path never escapes its prefix;
//! - no NUL or other control character; at most [`MAX_PATH_LEN`] bytes;
//! - a trailing `/` only where a prefix is meant (listing).

use crate::error::{Error, Result};

/// The longest effective path accepted, in bytes (S3's key limit).
pub const MAX_PATH_LEN: usize = 1024;

/// Splits `name://rest` into the binding name and the rest; a path without `://` has no name.
pub fn split_binding(path: &str) -> (Option<&str>, &str) {
    match path.find("://") {
        Some(i) => (Some(&path[..i]), &path[i + 3..]),
        None => (None, path),
    }
}

/// Checks a path against the rules above. `prefix` allows a trailing `/` and the empty path.
pub fn validate(path: &str, prefix: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid_input(format!("invalid path '{path}': {why}")));
    if path.len() > MAX_PATH_LEN {
        return bad(&format!("longer than {MAX_PATH_LEN} bytes"));
    }
    if path.is_empty() {
        return if prefix { Ok(()) } else { bad("it is empty") };
    }
    if path.starts_with('/') {
        return bad("it starts with '/'; paths are relative to the binding");
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return bad(&format!("it contains the control character {c:?}"));
    }
    let body = match path.strip_suffix('/') {
        Some(b) if prefix => b,
        Some(_) => return bad("it ends with '/', which names a prefix, not an object"),
        None => path,
    };
    for seg in body.split('/') {
        match seg {
            "" => return bad("it has an empty segment ('//')"),
            "." | ".." => {
                return bad(&format!(
                    "'{seg}' segments are not allowed; a path never escapes its prefix"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Joins an object key prefix from the spec with a command path, validating the result.
///
/// The spec prefix is a folder: `reports` + `q3.csv` is `reports/q3.csv`, and listing the
/// binding's root (an empty command path) lists `reports/`. A get with an empty command
/// path reads the object the spec path names.
pub fn join_prefix(spec_prefix: &str, command: &str, prefix: bool) -> Result<String> {
    let spec = spec_prefix.trim_end_matches('/');
    let joined = match (spec.is_empty(), command.is_empty()) {
        (true, _) => command.to_string(),
        (false, true) if prefix => format!("{spec}/"),
        (false, true) => spec.to_string(),
        (false, false) => {
            validate(command, prefix)?;
            format!("{spec}/{command}")
        }
    };
    validate(&joined, prefix)?;
    Ok(joined)
}

/// Joins a spec path that may name a table or topic fully with a command path.
pub fn join_named(spec_path: &str, command: &str) -> Result<String> {
    match (spec_path.is_empty(), command.is_empty()) {
        (true, _) => {
            validate(command, false)?;
            Ok(command.to_string())
        }
        (false, true) => Ok(spec_path.to_string()),
        (false, false) => Err(Error::invalid_input(format!(
            "the binding's path '{spec_path}' already names the target, so the command path must be empty (got '{command}')"
        ))),
    }
}

/// Strips the spec prefix from a path the driver returned, giving the path the caller used.
pub fn strip_prefix<'a>(spec_prefix: &str, full: &'a str) -> &'a str {
    if spec_prefix.is_empty() {
        return full;
    }
    let rest = full.strip_prefix(spec_prefix).unwrap_or(full);
    if spec_prefix.ends_with('/') {
        rest
    } else {
        rest.strip_prefix('/').unwrap_or(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_binding_names() {
        assert_eq!(split_binding("db0://users"), (Some("db0"), "users"));
        assert_eq!(split_binding("users"), (None, "users"));
        assert_eq!(split_binding("obj://"), (Some("obj"), ""));
    }

    #[test]
    fn refuses_escapes_and_odd_segments() {
        for p in [
            "../x",
            "a/../../x",
            "a//b",
            "/abs",
            "./a",
            "a/./b",
            "a\0b",
            "a/..",
        ] {
            let e = validate(p, false).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{p}");
            assert!(e.to_string().contains(p.trim_end_matches('\0')) || p.contains('\0'));
        }
        assert!(validate("a/b/", false).is_err());
        assert!(validate("a/b/", true).is_ok());
        assert!(validate("", true).is_ok());
        assert!(validate("", false).is_err());
        assert!(validate("a..b/c.d", false).is_ok());
    }

    #[test]
    fn joins_prefixes() {
        assert_eq!(join_prefix("reports", "q3.csv", false).unwrap(), "reports/q3.csv");
        assert_eq!(
            join_prefix("reports/", "q3.csv", false).unwrap(),
            "reports/q3.csv"
        );
        assert_eq!(join_prefix("", "q3.csv", false).unwrap(), "q3.csv");
        assert_eq!(join_prefix("reports", "", true).unwrap(), "reports/");
        assert_eq!(
            join_prefix("reports/q3.csv", "", false).unwrap(),
            "reports/q3.csv"
        );
        assert!(join_prefix("reports", "../etc/passwd", false).is_err());
        assert_eq!(strip_prefix("reports", "reports/q3.csv"), "q3.csv");
        assert_eq!(strip_prefix("reports/", "reports/q3.csv"), "q3.csv");
    }

    #[test]
    fn named_paths_refuse_a_second_name() {
        assert_eq!(join_named("users", "").unwrap(), "users");
        assert_eq!(join_named("", "users").unwrap(), "users");
        let e = join_named("users", "orders").unwrap_err();
        assert!(e.to_string().contains("must be empty"), "{e}");
    }
}

/// A URL fit for a message or a log line: the password of a `user:password@` part is
/// replaced by `***` (`http://admin:***@host/`), and a lone `token@` by `***@`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else {
        return url.to_string();
    };
    let userinfo = &url[scheme_end..at];
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{}{shown}{}", &url[..scheme_end], &url[at..])
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            redact_url("http://admin:S3CR3T@h:1/p?q=a@b"),
            "http://admin:***@h:1/p?q=a@b"
        );
        assert_eq!(redact_url("https://tok@h/x"), "https://***@h/x");
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
        assert_eq!(redact_url("./data"), "./data");
    }
}
