//! Versions of objects: the revisions a binding with the `versioning` capability keeps, tags
//! naming revisions, and the diff of two revisions.
//!
//! A **revision** is one state of the binding's objects, told by its id (a commit id on `git`,
//! a number on `memory`): each put and delete makes one. `versions(path)` lists the revisions
//! that changed one object, newest first; `get(path).version(rev)` reads the object as it was
//! at `rev` (any revision, not only one that changed it, or a tag's name), and
//! `list(prefix).version(rev)` lists what existed then. A **tag** is a binding-wide name for a
//! revision with a description, its author and time (git's annotated tags). `revert(path, rev)`
//! writes a new revision whose content and metadata are those `path` had at `rev` (a deletion,
//! when it did not exist then); history is never rewritten. `diff(path, a, b)` compares two
//! revisions: JSON documents as an RFC 6902 JSON Patch, UTF-8 text as a unified diff, other
//! data by size and generation.
//!
//! Puts and deletes take their revision's author and message from the request's options
//! `author` (`Name <email>`) and `message`, else from the binding's options of those names,
//! else `bindery <bindery@localhost>` and a message saying what was done ([`Signature`]).

use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::object::ObjectMeta;
use crate::request::Options;

/// One revision of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Revision {
    /// The revision's id: what `version(…)` takes.
    pub id: String,
    /// When it was made.
    pub time: Option<SystemTime>,
    /// Who made it (`Name <email>`).
    pub author: String,
    /// Why.
    pub message: String,
    /// The object's size after it (0 for a deletion).
    pub size: u64,
    /// The object's generation after it (empty for a deletion).
    pub gen: String,
    /// Whether the revision deleted the object.
    pub deleted: bool,
}

/// A name for a revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tag {
    /// The tag's name.
    pub name: String,
    /// The revision it names.
    pub revision: String,
    /// What it marks.
    pub description: String,
    /// Who made it (`Name <email>`).
    pub author: String,
    /// When.
    pub time: Option<SystemTime>,
}

/// What a `tags` request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagAction {
    /// Makes a tag (`ConditionFailed` when one of that name exists). An empty revision names
    /// the newest; an empty author takes the binding's default.
    Create(Tag),
    /// Reads one (`NotFound` when there is none of that name).
    Get(String),
    /// Renames a tag or changes its description; the revision it names stays.
    Update {
        /// The tag.
        name: String,
        /// Its new name.
        rename: Option<String>,
        /// Its new description.
        description: Option<String>,
    },
    /// Deletes one (`NotFound` when there is none of that name).
    Delete(String),
    /// Every tag, by name.
    List,
}

/// `versions` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpVersions {
    /// At most this many revisions.
    pub limit: Option<u64>,
    /// Go on after this revision id (the last of an earlier page).
    pub start_after: Option<String>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// `tags` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTag {
    /// What to do.
    pub action: TagAction,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// `revert` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpRevert {
    /// The revision (or tag) whose state the object takes again.
    pub revision: String,
    /// Options given with `.option(k, v)` (`author`, `message`).
    pub options: Options,
}

/// `diff` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpDiff {
    /// The older revision (or tag).
    pub from: String,
    /// The newer one; the object as it is now when `None`.
    pub to: Option<String>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// How a [`Diff`] tells the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffFormat {
    /// Both sides are JSON documents: `patch` is an RFC 6902 JSON Patch (a JSON array).
    JsonPatch,
    /// Both sides are UTF-8 text: `patch` is a unified diff.
    Unified,
    /// Other data: no patch, only sizes and generations.
    #[default]
    Sizes,
}

impl DiffFormat {
    /// Every format, in the order of their numbers on the wire.
    pub const ALL: [DiffFormat; 3] = [DiffFormat::JsonPatch, DiffFormat::Unified, DiffFormat::Sizes];

    /// Its name: `json-patch`, `unified`, `sizes`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffFormat::JsonPatch => "json-patch",
            DiffFormat::Unified => "unified",
            DiffFormat::Sizes => "sizes",
        }
    }
}

/// One side of a diff: the object's size and generation there (`None`: it did not exist).
pub type Side = Option<(u64, String)>;

/// The difference between two revisions of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    /// How `patch` tells it.
    pub format: DiffFormat,
    /// The JSON Patch (a JSON array, as text) or the unified diff; empty for `Sizes` (and for
    /// two equal sides).
    pub patch: String,
    /// The older side.
    pub from: Side,
    /// The newer side.
    pub to: Side,
}

/// Compares two states of the object at `path` (`None`: it did not exist there). Two JSON
/// documents (objects or arrays; a missing side is `null`) give a JSON Patch, two UTF-8 texts
/// (a missing side is empty) a unified diff with `a/PATH` and `b/PATH` headers, anything else
/// sizes only.
pub fn diff(path: &str, from: Option<(&ObjectMeta, &[u8])>, to: Option<(&ObjectMeta, &[u8])>) -> Diff {
    let side = |s: Option<(&ObjectMeta, &[u8])>| s.map(|(m, _)| (m.size, m.gen.clone()));
    let mut out = Diff {
        from: side(from),
        to: side(to),
        ..Diff::default()
    };
    fn data<'a>(s: Option<(&ObjectMeta, &'a [u8])>) -> Option<&'a [u8]> {
        s.map(|(_, d)| d)
    }
    let json = |d: Option<&[u8]>| match d {
        None => Some(serde_json::Value::Null),
        Some(d) => serde_json::from_slice::<serde_json::Value>(d)
            .ok()
            .filter(|v| v.is_object() || v.is_array()),
    };
    if from.is_some() || to.is_some() {
        if let (Some(a), Some(b)) = (json(data(from)), json(data(to))) {
            out.format = DiffFormat::JsonPatch;
            out.patch = serde_json::to_string(&json_patch::diff(&a, &b)).unwrap_or_default();
            return out;
        }
    }
    fn text(d: Option<&[u8]>) -> Option<&str> {
        std::str::from_utf8(d.unwrap_or_default()).ok()
    }
    if let (Some(a), Some(b)) = (text(data(from)), text(data(to))) {
        out.format = DiffFormat::Unified;
        if a != b {
            out.patch = similar::TextDiff::from_lines(a, b)
                .unified_diff()
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string();
        }
    }
    out
}

/// Who makes a revision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `Name <email>`.
    pub author: String,
    /// The revision's message.
    pub message: String,
}

/// The author when neither the request nor the binding names one.
pub const DEFAULT_AUTHOR: &str = "bindery <bindery@localhost>";

impl Signature {
    /// The signature of a request with `options`: its `author` and `message`, else the
    /// binding's (`defaults`, its options), else [`DEFAULT_AUTHOR`] and `what` (`put PATH`).
    /// An author must be `Name <email>` or a plain name (taken as `Name <>`).
    pub fn of(options: &Options, defaults: &Options, what: impl FnOnce() -> String) -> Result<Signature> {
        let pick = |k: &str| options.get(k).or_else(|| defaults.get(k)).cloned();
        let author = pick("author").unwrap_or_else(|| DEFAULT_AUTHOR.to_string());
        split_author(&author)?;
        Ok(Signature {
            author,
            message: pick("message").unwrap_or_else(what),
        })
    }

    /// A binding's defaults from its option `author` (checked): what [`Signature::of`] takes
    /// as `defaults`.
    pub fn defaults(author: Option<&str>) -> Result<Options> {
        let mut defaults = Options::new();
        if let Some(author) = author {
            split_author(author)?;
            defaults.insert("author".into(), author.to_string());
        }
        Ok(defaults)
    }

    /// The author's name and email.
    pub fn name_email(&self) -> (&str, &str) {
        split_author(&self.author).unwrap_or((self.author.as_str(), ""))
    }
}

/// `Name <email>` as (name, email); a plain name has an empty email. Refuses what git could
/// not store: angle brackets or a line break in the name, or text after the email.
pub fn split_author(author: &str) -> Result<(&str, &str)> {
    let bad = |why: &str| Error::invalid_input(format!("author '{author}' is not `Name <email>`: {why}"));
    if author.contains(['\n', '\r', '\0']) {
        return Err(bad("it has a line break"));
    }
    let (name, email) = match author.split_once('<') {
        None => (author.trim(), ""),
        Some((name, rest)) => {
            let email = rest
                .strip_suffix('>')
                .ok_or_else(|| bad("nothing may follow the '>' of the email"))?;
            (name.trim(), email)
        }
    };
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if name.contains(['<', '>']) || email.contains(['<', '>']) {
        return Err(bad("'<' and '>' only enclose the email"));
    }
    Ok((name, email))
}

/// Checks a tag's name: what git takes as a tag (`refs/tags/NAME`): not empty, no space,
/// control character, `~ ^ : ? * [ \`, `..` or `@{`, not beginning with `-` or `.`, not ending
/// with `.lock`, `/` or `.`.
pub fn check_tag_name(name: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid_input(format!("tag name '{name}' is not allowed: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c))
    {
        return Err(bad(
            "it has a space, a control character or one of ~ ^ : ? * [ \\",
        ));
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return Err(bad("it has '..', '@{' or '//'"));
    }
    if name.starts_with(['-', '.', '/']) || name.ends_with(['/', '.']) || name.ends_with(".lock") {
        return Err(bad(
            "it begins with '-', '.' or '/', or ends with '/', '.' or '.lock'",
        ));
    }
    if name.split('/').any(|part| part.starts_with('.')) {
        return Err(bad("a part of it begins with '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: usize, gen: &str) -> ObjectMeta {
        ObjectMeta {
            size: size as u64,
            gen: gen.into(),
            ..Default::default()
        }
    }

    #[test]
    fn json_documents_diff_as_a_json_patch() {
        let (a, b) = (
            br#"{"name":"x","n":1}"#.as_slice(),
            br#"{"name":"y","n":1,"k":[1]}"#.as_slice(),
        );
        let d = diff(
            "d.json",
            Some((&meta(a.len(), "1"), a)),
            Some((&meta(b.len(), "2"), b)),
        );
        assert_eq!(d.format, DiffFormat::JsonPatch);
        let patch: serde_json::Value = serde_json::from_str(&d.patch).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(a).unwrap();
        json_patch::patch(
            &mut doc,
            &serde_json::from_value::<json_patch::Patch>(patch).unwrap(),
        )
        .unwrap();
        assert_eq!(doc, serde_json::from_slice::<serde_json::Value>(b).unwrap());
        assert_eq!(d.from, Some((a.len() as u64, "1".into())));
        // A document made: the whole document replaces null.
        let d = diff("d.json", None, Some((&meta(b.len(), "2"), b)));
        assert_eq!(d.format, DiffFormat::JsonPatch);
        assert!(d.patch.contains(r#""op":"replace""#), "{}", d.patch);
    }

    #[test]
    fn text_diffs_unified_and_bytes_by_size() {
        let (a, b) = (b"one\ntwo\n".as_slice(), b"one\nthree\n".as_slice());
        let d = diff("t.txt", Some((&meta(8, "1"), a)), Some((&meta(10, "2"), b)));
        assert_eq!(d.format, DiffFormat::Unified);
        assert!(d.patch.contains("--- a/t.txt\n+++ b/t.txt\n"), "{}", d.patch);
        assert!(d.patch.contains("-two\n+three\n"), "{}", d.patch);
        // A JSON scalar is text, not a document.
        let d = diff("n", Some((&meta(1, "1"), b"1")), Some((&meta(1, "2"), b"2")));
        assert_eq!(d.format, DiffFormat::Unified);
        let d = diff(
            "bin",
            Some((&meta(2, "1"), b"\xff\x00")),
            Some((&meta(1, "2"), b"a")),
        );
        assert_eq!(d.format, DiffFormat::Sizes);
        assert!(d.patch.is_empty());
        assert_eq!(d.to, Some((1, "2".into())));
    }

    #[test]
    fn authors_and_tag_names_are_checked() {
        let none = Options::new();
        let s = Signature::of(&none, &none, || "put a".into()).unwrap();
        assert_eq!((s.author.as_str(), s.message.as_str()), (DEFAULT_AUTHOR, "put a"));
        assert_eq!(s.name_email(), ("bindery", "bindery@localhost"));
        let mut binding = Options::new();
        binding.insert("author".into(), "Ada <ada@example.com>".into());
        let mut request = Options::new();
        request.insert("message".into(), "fix".into());
        let s = Signature::of(&request, &binding, || unreachable!()).unwrap();
        assert_eq!(s.name_email(), ("Ada", "ada@example.com"));
        assert_eq!(s.message, "fix");
        assert_eq!(split_author("Ada").unwrap(), ("Ada", ""));
        for bad in ["<a@b>", "Ada <a@b> x", "A<b <c>", "Ada\n <a@b>"] {
            assert!(split_author(bad).is_err(), "{bad}");
        }
        for ok in ["v1", "release/2026-12", "a.b"] {
            check_tag_name(ok).unwrap();
        }
        for bad in [
            "", "a b", "a..b", "-x", ".x", "x.lock", "x/", "a/.b", "a:b", "a~1",
        ] {
            let e = check_tag_name(bad).unwrap_err();
            assert!(e.to_string().contains("tag name"), "{e}");
        }
    }
}
