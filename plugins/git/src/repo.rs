//! The repository: objects as blobs in the branch's tree, every write one commit made in the
//! object database (no work tree, no index), the branch moved by compare-and-swap.
//!
//! Everything here is blocking (gix is synchronous); `object.rs` runs it on tokio's blocking
//! pool. A binding holds one [`gix::ThreadSafeRepository`] and takes a thread-local handle
//! per request.
//!
//! - **Layout.** An object at `a/b.json` is the blob at `a/b.json` in the branch's tree; its
//!   user metadata (when it has some) is the JSON blob at `.bindery/meta/a/b.json.json`, so
//!   each revision carries both. `.bindery/` is never listed and cannot be written.
//! - **Generation**: the blob's id. Like an S3 ETag it follows the content: writing the same
//!   bytes again keeps it (the write is still a commit).
//! - **Concurrency.** A write reads the tip, checks its conditions against it, writes blob,
//!   trees and commit, then moves the branch only if it still points at that tip (gix's
//!   `commit_as` with `ExistingMustMatch`, under the ref's lock file). When another writer (a
//!   `git commit` on the same branch, another process) moved it meanwhile, the write starts
//!   over on top of the new tip, checking its conditions again: a commit made meanwhile is
//!   never lost, and a condition that no longer holds fails with `ConditionFailed`.
//! - **Revisions** are commit ids; a version is anything git's rev-parse takes that names a
//!   commit (a full or abbreviated id, a tag, `main~2`), a tag's name first.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindery_core::version::{check_tag_name, OpTag, Revision, Signature, Tag, TagAction};
use bindery_core::{Conditions, Error, ErrorKind, ListEntry, ObjectMeta, Result};
use bytes::Bytes;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::PreviousValue;
use gix::ObjectId;

use crate::error::{map, GitError};

/// Where metadata sidecars live; reserved.
const RESERVED: &str = ".bindery";

/// How often a write starts over when the branch moved under it (or its lock was held).
const ATTEMPTS: u32 = 100;

/// One binding's repository and branch.
pub(crate) struct Repo {
    repo: gix::ThreadSafeRepository,
    /// `refs/heads/<branch>`.
    branch: String,
}

/// An object as a tree holds it: its blob and its metadata sidecar's blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    blob: ObjectId,
    meta: Option<ObjectId>,
}

impl Repo {
    /// Opens the repository at `dir` (bare or not), or makes a bare one there when the folder
    /// is missing or empty.
    pub(crate) fn open(dir: &Path, branch: &str) -> Result<Repo> {
        let empty = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(Error::io(e, &format!("read the folder '{}'", dir.display()))),
        };
        let repo = if empty {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(e, &format!("create '{}'", dir.display())))?;
            gix::init_bare(dir)
                .map_err(|e| map(e, &format!("make a git repository in '{}'", dir.display())))?
        } else {
            gix::open(dir).map_err(|e| {
                Error::invalid_input(format!(
                    "'{}' is not a git repository, and not empty ({}): point the binding's url at a \
                     repository, or at a missing or empty folder to make one",
                    dir.display(),
                    GitError(&e)
                ))
            })?
        };
        let name = format!("refs/heads/{branch}");
        gix::refs::FullName::try_from(name.as_str()).map_err(|e| {
            Error::invalid_input(format!("branch '{branch}' is not a branch name git takes: {e}"))
        })?;
        Ok(Repo {
            repo: repo.into_sync(),
            branch: name,
        })
    }

    fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    /// The branch's tip, if it has commits.
    fn tip(&self, repo: &gix::Repository) -> Result<Option<ObjectId>> {
        match repo
            .try_find_reference(self.branch.as_str())
            .map_err(|e| map(e, "read the branch"))?
        {
            None => Ok(None),
            Some(mut r) => Ok(Some(
                r.peel_to_id().map_err(|e| map(e, "read the branch"))?.detach(),
            )),
        }
    }

    /// The branch's tip as a commit id, if it has commits.
    pub(crate) fn tip_id(&self) -> Result<Option<String>> {
        Ok(self.tip(&self.local())?.map(|id| id.to_string()))
    }

    /// The commit a read is at: the tip, or the commit `version` names.
    fn commit_at(&self, repo: &gix::Repository, version: Option<&str>) -> Result<Option<ObjectId>> {
        match version {
            None => self.tip(repo),
            Some(v) => resolve(repo, v).map(Some),
        }
    }

    /// The tree of `commit` (the empty tree for none).
    fn tree_of(repo: &gix::Repository, commit: Option<ObjectId>) -> Result<ObjectId> {
        match commit {
            None => Ok(ObjectId::empty_tree(repo.object_hash())),
            Some(c) => Ok(repo
                .find_commit(c)
                .and_then(|c| c.tree_id())
                .map_err(|e| map(e, "read a commit"))?
                .detach()),
        }
    }

    /// The object at `path` in `tree`; `InvalidInput` where a tree stands at `path`.
    fn entry(repo: &gix::Repository, tree: ObjectId, path: &str) -> Result<Option<Entry>> {
        let tree = repo.find_tree(tree).map_err(|e| map(e, "read a tree"))?;
        let blob = match tree
            .lookup_entry_by_path(path)
            .map_err(|e| map(e, &format!("look up '{path}'")))?
        {
            None => return Ok(None),
            Some(e) if e.mode().is_blob() => e.object_id(),
            Some(_) => return Ok(None),
        };
        let meta = tree
            .lookup_entry_by_path(sidecar(path))
            .map_err(|e| map(e, &format!("look up the metadata of '{path}'")))?
            .filter(|e| e.mode().is_blob())
            .map(|e| e.object_id());
        Ok(Some(Entry { blob, meta }))
    }

    /// What is known of the object at `path` of `commit` (its data too when `data`).
    fn object(
        &self,
        repo: &gix::Repository,
        commit: Option<ObjectId>,
        path: &str,
        data: bool,
    ) -> Result<Option<(ObjectMeta, Bytes)>> {
        let tree = Self::tree_of(repo, commit)?;
        let Some(entry) = Self::entry(repo, tree, path)? else {
            return Ok(None);
        };
        let (size, bytes) = if data {
            let mut blob = repo
                .find_blob(entry.blob)
                .map_err(|e| map(e, &format!("read '{path}'")))?;
            let bytes = Bytes::from(blob.take_data());
            (bytes.len() as u64, bytes)
        } else {
            let header = repo
                .find_header(entry.blob)
                .map_err(|e| map(e, &format!("read '{path}'")))?;
            (header.size(), Bytes::new())
        };
        let metadata = match entry.meta {
            None => BTreeMap::new(),
            Some(id) => {
                let blob = repo
                    .find_blob(id)
                    .map_err(|e| map(e, &format!("read the metadata of '{path}'")))?;
                serde_json::from_slice(&blob.data).map_err(|e| {
                    Error::internal(format!(
                        "the metadata of '{path}' in {RESERVED}/meta is not a JSON map: {e}"
                    ))
                })?
            }
        };
        let meta = ObjectMeta {
            path: path.to_string(),
            size,
            gen: entry.blob.to_string(),
            modified: None,
            metadata,
        };
        Ok(Some((meta, bytes)))
    }

    /// Reads the object at `path`, at the tip or at `version`, after checking `conditions`.
    pub(crate) fn get(
        &self,
        path: &str,
        version: Option<&str>,
        conditions: &Conditions,
        data: bool,
    ) -> Result<(ObjectMeta, Bytes)> {
        let repo = self.local();
        let commit = self.commit_at(&repo, version)?;
        let found = self.object(&repo, commit, path, data)?;
        conditions.check(found.as_ref().map(|(m, _)| m.gen.as_str()))?;
        found.ok_or_else(|| Error::not_found("no such object"))
    }

    /// The objects under `prefix` (at the tip or at `version`), in path order, without
    /// metadata.
    pub(crate) fn list(&self, prefix: &str, version: Option<&str>) -> Result<Vec<ListEntry>> {
        let repo = self.local();
        let Some(commit) = self.commit_at(&repo, version)? else {
            return Ok(Vec::new());
        };
        let root = repo
            .find_tree(Self::tree_of(&repo, Some(commit))?)
            .map_err(|e| map(e, "read a tree"))?;
        // The deepest folder holding every path under the prefix.
        let dir = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let tree = if dir.is_empty() {
            root
        } else {
            match root
                .lookup_entry_by_path(dir)
                .map_err(|e| map(e, "look up a folder"))?
            {
                Some(e) if e.mode().is_tree() => {
                    repo.find_tree(e.object_id()).map_err(|e| map(e, "read a tree"))?
                }
                _ => return Ok(Vec::new()),
            }
        };
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| map(e, "walk a tree"))?;
        let mut out = Vec::new();
        for e in recorder.records {
            if !e.mode.is_blob() {
                continue;
            }
            let rel = e.filepath.to_str_lossy();
            let path = if dir.is_empty() {
                rel.into_owned()
            } else {
                format!("{dir}/{rel}")
            };
            if !path.starts_with(prefix) || reserved(&path) {
                continue;
            }
            let size = repo
                .find_header(e.oid)
                .map_err(|err| map(err, &format!("read '{path}'")))?
                .size();
            out.push(ListEntry::Object(ObjectMeta {
                path,
                size,
                gen: e.oid.to_string(),
                ..ObjectMeta::default()
            }));
        }
        out.sort_by(|a, b| a.path().cmp(b.path()));
        Ok(out)
    }

    /// Writes `data` (with `metadata`) at `path` (`None`: deletes it) as one commit signed
    /// `signature`, after checking `conditions` against the tip the commit goes on; answers
    /// the new generation, or `None` for a delete that found nothing (no commit is made).
    pub(crate) fn write(
        &self,
        path: &str,
        change: Option<(&[u8], &BTreeMap<String, String>)>,
        conditions: &Conditions,
        signature: &Signature,
    ) -> Result<Option<ObjectId>> {
        check_writable(path)?;
        let repo = self.local();
        let blobs = match change {
            None => None,
            Some((data, metadata)) => {
                let blob = repo
                    .write_blob(data)
                    .map_err(|e| map(e, "write a blob"))?
                    .detach();
                let meta = if metadata.is_empty() {
                    None
                } else {
                    let json = serde_json::to_vec(metadata)
                        .map_err(|e| Error::internal(format!("metadata as JSON: {e}")))?;
                    Some(
                        repo.write_blob(json)
                            .map_err(|e| map(e, "write a blob"))?
                            .detach(),
                    )
                };
                Some(Entry { blob, meta })
            }
        };
        let (name, email) = signature.name_email();
        let person = gix::actor::Signature {
            name: name.into(),
            email: email.into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            let tip = self.tip(&repo)?;
            let tree = Self::tree_of(&repo, tip)?;
            let current = Self::entry(&repo, tree, path)?;
            conditions.check(current.map(|e| e.blob.to_string()).as_deref())?;
            let new_tree = match blobs {
                Some(entry) => {
                    check_no_clash(&repo, tree, path)?;
                    let mut editor = repo.edit_tree(tree).map_err(|e| map(e, "edit a tree"))?;
                    editor
                        .upsert(path, EntryKind::Blob, entry.blob)
                        .map_err(|e| refuse_path(e, path))?;
                    let had_meta = current.is_some_and(|e| e.meta.is_some());
                    match entry.meta {
                        Some(meta) => {
                            editor
                                .upsert(sidecar(path).as_str(), EntryKind::Blob, meta)
                                .map_err(|e| refuse_path(e, path))?;
                        }
                        None if had_meta => {
                            editor
                                .remove(sidecar(path).as_str())
                                .map_err(|e| refuse_path(e, path))?;
                        }
                        None => {}
                    }
                    editor.write().map_err(|e| map(e, "write a tree"))?.detach()
                }
                None => {
                    if current.is_none() {
                        return Ok(None);
                    }
                    let mut editor = repo.edit_tree(tree).map_err(|e| map(e, "edit a tree"))?;
                    editor.remove(path).map_err(|e| refuse_path(e, path))?;
                    if current.is_some_and(|e| e.meta.is_some()) {
                        editor
                            .remove(sidecar(path).as_str())
                            .map_err(|e| refuse_path(e, path))?;
                    }
                    editor.write().map_err(|e| map(e, "write a tree"))?.detach()
                }
            };
            let sig = person.to_ref(&mut time);
            match repo.commit_as(
                sig,
                sig,
                self.branch.as_str(),
                signature.message.as_str(),
                new_tree,
                tip,
            ) {
                Ok(_) => {
                    return Ok(Some(
                        blobs.map_or_else(|| ObjectId::null(repo.object_hash()), |e| e.blob),
                    ))
                }
                Err(e) => {
                    // Another writer moved the branch (start over on its commit), or holds its
                    // lock (wait a little).
                    last_error = Some(GitError(&e).to_string());
                    if self.tip(&repo)? == tip {
                        std::thread::sleep(Duration::from_millis(u64::from(attempt.min(20)) + 1));
                    }
                }
            }
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "the branch kept moving or stayed locked through {ATTEMPTS} attempts to commit; last: {}",
                last_error.unwrap_or_default()
            ),
        ))
    }

    /// The commits that changed `path`, newest first, after `start_after` (a commit id), at
    /// most `limit`.
    pub(crate) fn versions(
        &self,
        path: &str,
        start_after: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<Revision>> {
        let repo = self.local();
        let Some(tip) = self.tip(&repo)? else {
            return Ok(Vec::new());
        };
        let after = start_after.map(|id| resolve(&repo, id)).transpose()?;
        let walk = repo
            .rev_walk([tip])
            .sorting(gix::revision::walk::Sorting::TopoOrder)
            .all()
            .map_err(|e| map(e, "walk the history"))?;
        let mut skipping = after.is_some();
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| map(e, "walk the history"))?;
            let commit = repo.find_commit(info.id).map_err(|e| map(e, "read a commit"))?;
            let tree = commit.tree_id().map_err(|e| map(e, "read a commit"))?.detach();
            let now = Self::entry(&repo, tree, path)?;
            let before = match info.parent_ids.first() {
                None => None,
                Some(parent) => Self::entry(&repo, Self::tree_of(&repo, Some(*parent))?, path)?,
            };
            if now == before {
                continue;
            }
            if skipping {
                skipping = Some(info.id) != after;
                continue;
            }
            if limit.is_some_and(|n| out.len() as u64 >= n) {
                break;
            }
            let decoded = commit.decode().map_err(|e| map(e, "read a commit"))?;
            let author = decoded.author().map_err(|e| map(e, "read a commit"))?;
            let size = match now {
                None => 0,
                Some(e) => repo
                    .find_header(e.blob)
                    .map_err(|e| map(e, "read a blob"))?
                    .size(),
            };
            out.push(Revision {
                id: info.id.to_string(),
                time: author.time().ok().map(system_time),
                author: person(author.name, author.email),
                message: decoded.message.to_str_lossy().trim_end().to_string(),
                size,
                gen: now.map(|e| e.blob.to_string()).unwrap_or_default(),
                deleted: now.is_none(),
            });
        }
        Ok(out)
    }

    /// A tags request. Tags are annotated tags (`refs/tags/NAME` → a tag object: tagger,
    /// message = description); lightweight tags made by `git tag NAME` read with an empty
    /// description and author.
    pub(crate) fn tags(&self, op: OpTag, default_author: &Signature) -> Result<Vec<Tag>> {
        let repo = self.local();
        let missing = |name: &str| Error::not_found(format!("no tag '{name}'"));
        match op.action {
            TagAction::Create(tag) => {
                check_tag_name(&tag.name)?;
                let target = if tag.revision.is_empty() {
                    self.tip(&repo)?.ok_or_else(|| {
                        Error::invalid_input("nothing to tag: the branch has no commits yet")
                    })?
                } else {
                    resolve(&repo, &tag.revision)?
                };
                let author = if tag.author.is_empty() {
                    default_author.author.clone()
                } else {
                    bindery_core::version::split_author(&tag.author)?;
                    tag.author.clone()
                };
                let tagger = signature_of(&author, gix::date::Time::now_local_or_utc());
                make_tag(
                    &repo,
                    &tag.name,
                    target,
                    &tagger,
                    &tag.description,
                    PreviousValue::MustNotExist,
                )?;
                Ok(vec![
                    read_tag(&repo, &tag.name)?.ok_or_else(|| missing(&tag.name))?
                ])
            }
            TagAction::Get(name) => Ok(vec![read_tag(&repo, &name)?.ok_or_else(|| missing(&name))?]),
            TagAction::Update {
                name,
                rename,
                description,
            } => {
                let old = read_tag(&repo, &name)?.ok_or_else(|| missing(&name))?;
                let new_name = rename.unwrap_or_else(|| name.clone());
                check_tag_name(&new_name)?;
                let target = resolve(&repo, &old.revision)?;
                let tagger = signature_of(
                    if old.author.is_empty() {
                        &default_author.author
                    } else {
                        &old.author
                    },
                    old.time
                        .map(|t| gix::date::Time::new(seconds(t), 0))
                        .unwrap_or_else(gix::date::Time::now_local_or_utc),
                );
                let description = description.unwrap_or(old.description);
                if new_name == name {
                    make_tag(&repo, &name, target, &tagger, &description, PreviousValue::Any)?;
                } else {
                    make_tag(
                        &repo,
                        &new_name,
                        target,
                        &tagger,
                        &description,
                        PreviousValue::MustNotExist,
                    )?;
                    delete_tag(&repo, &name)?;
                }
                Ok(vec![
                    read_tag(&repo, &new_name)?.ok_or_else(|| missing(&new_name))?
                ])
            }
            TagAction::Delete(name) => {
                let tag = read_tag(&repo, &name)?.ok_or_else(|| missing(&name))?;
                delete_tag(&repo, &name)?;
                Ok(vec![tag])
            }
            TagAction::List => {
                let refs = repo.references().map_err(|e| map(e, "read the tags"))?;
                let mut names = Vec::new();
                for r in refs.tags().map_err(|e| map(e, "read the tags"))? {
                    let r = r.map_err(|e| Error::internal(format!("read the tags: {e}")))?;
                    names.push(r.name().shorten().to_str_lossy().into_owned());
                }
                let mut out = Vec::new();
                for name in names {
                    out.extend(read_tag(&repo, &name)?);
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
        }
    }
}

/// The commit `version` names: a tag's name first, then anything git's rev-parse takes.
fn resolve(repo: &gix::Repository, version: &str) -> Result<ObjectId> {
    let unknown = || Error::invalid_input(format!("no revision or tag '{version}' in the repository"));
    if version.is_empty() || version.starts_with('-') {
        return Err(unknown());
    }
    let tag = format!("refs/tags/{version}");
    if let Ok(Some(mut r)) = repo.try_find_reference(tag.as_str()) {
        return r
            .peel_to_commit()
            .map(|c| c.id)
            .map_err(|_| Error::invalid_input(format!("tag '{version}' does not name a commit")));
    }
    let id = repo.rev_parse_single(version).map_err(|_| unknown())?;
    id.object()
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id)
        .map_err(|_| Error::invalid_input(format!("revision '{version}' is not a commit")))
}

/// The sidecar of `path`'s metadata.
fn sidecar(path: &str) -> String {
    format!("{RESERVED}/meta/{path}.json")
}

/// Whether `path` is bindery's own.
fn reserved(path: &str) -> bool {
    path == RESERVED || path.starts_with(&format!("{RESERVED}/"))
}

/// Refuses writes to what git cannot hold as a file or bindery keeps for itself.
fn check_writable(path: &str) -> Result<()> {
    if reserved(path) {
        return Err(Error::invalid_input(format!(
            "'{path}' is under {RESERVED}/, where the git driver keeps objects' metadata"
        )));
    }
    if path.is_empty() || path.ends_with('/') {
        return Err(Error::invalid_input(format!(
            "'{path}' names a folder, not an object"
        )));
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part.eq_ignore_ascii_case(".git"))
    {
        return Err(Error::invalid_input(format!(
            "'{path}' cannot be a path in a git tree (an empty part, or '.git')"
        )));
    }
    Ok(())
}

/// Refuses a put at `path` where an object is one of its folders, or objects are below it:
/// a tree holds a name once, as a file or as a folder.
fn check_no_clash(repo: &gix::Repository, tree: ObjectId, path: &str) -> Result<()> {
    let tree = repo.find_tree(tree).map_err(|e| map(e, "read a tree"))?;
    let mut at = 0;
    while let Some(i) = path[at..].find('/') {
        let parent = &path[..at + i];
        if let Some(e) = tree
            .lookup_entry_by_path(parent)
            .map_err(|e| map(e, "look up a folder"))?
        {
            if !e.mode().is_tree() {
                return Err(Error::invalid_input(format!(
                    "cannot put '{path}': '{parent}' is an object, and a git tree cannot hold both"
                )));
            }
        }
        at += i + 1;
    }
    if let Some(e) = tree
        .lookup_entry_by_path(path)
        .map_err(|e| map(e, "look up a path"))?
    {
        if e.mode().is_tree() {
            return Err(Error::invalid_input(format!(
                "cannot put '{path}': objects exist below it, and a git tree cannot hold both"
            )));
        }
    }
    Ok(())
}

/// A tree edit gix refused (a name it does not allow in a tree).
fn refuse_path(e: gix::Error, path: &str) -> Error {
    Error::invalid_input(format!("cannot write '{path}' in a git tree: {}", GitError(&e)))
}

fn person(name: &gix::bstr::BStr, email: &gix::bstr::BStr) -> String {
    format!("{} <{}>", name.to_str_lossy(), email.to_str_lossy())
}

fn system_time(t: gix::date::Time) -> SystemTime {
    if t.seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.seconds as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(t.seconds.unsigned_abs())
    }
}

fn seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// A git signature of `author` (`Name <email>`, checked) at `time`.
fn signature_of(author: &str, time: gix::date::Time) -> gix::actor::Signature {
    let (name, email) = bindery_core::version::split_author(author).unwrap_or((author, ""));
    gix::actor::Signature {
        name: name.into(),
        email: email.into(),
        time,
    }
}

/// Writes an annotated tag `name` on commit `target` and points `refs/tags/NAME` at it, with
/// `constraint` on what the ref held.
fn make_tag(
    repo: &gix::Repository,
    name: &str,
    target: ObjectId,
    tagger: &gix::actor::Signature,
    description: &str,
    constraint: PreviousValue,
) -> Result<()> {
    let mut time = gix::date::parse::TimeBuf::default();
    let message = if description.is_empty() || description.ends_with('\n') {
        description.to_string()
    } else {
        format!("{description}\n")
    };
    let must_be_new = matches!(constraint, PreviousValue::MustNotExist);
    repo.tag(
        name,
        target,
        gix::objs::Kind::Commit,
        Some(tagger.to_ref(&mut time)),
        message,
        constraint,
    )
    .map_err(|e| {
        if must_be_new
            && matches!(
                repo.try_find_reference(format!("refs/tags/{name}").as_str()),
                Ok(Some(_))
            )
        {
            Error::new(ErrorKind::AlreadyExists, format!("tag '{name}' exists"))
        } else {
            map(e, &format!("make tag '{name}'"))
        }
    })?;
    Ok(())
}

fn delete_tag(repo: &gix::Repository, name: &str) -> Result<()> {
    let r = repo
        .find_reference(format!("refs/tags/{name}").as_str())
        .map_err(|_| Error::not_found(format!("no tag '{name}'")))?;
    r.delete().map_err(|e| map(e, &format!("delete tag '{name}'")))
}

/// The tag `name`, if there is one.
fn read_tag(repo: &gix::Repository, name: &str) -> Result<Option<Tag>> {
    let Some(mut r) = repo
        .try_find_reference(format!("refs/tags/{name}").as_str())
        .map_err(|e| map(e, "read a tag"))?
    else {
        return Ok(None);
    };
    let id = r.id().detach();
    let commit = r
        .peel_to_commit()
        .map_err(|_| Error::invalid_input(format!("tag '{name}' does not name a commit")))?
        .id;
    let object = repo.find_object(id).map_err(|e| map(e, "read a tag"))?;
    let mut tag = Tag {
        name: name.to_string(),
        revision: commit.to_string(),
        ..Tag::default()
    };
    if object.kind == gix::objs::Kind::Tag {
        let t = object.into_tag();
        let decoded = t.decode().map_err(|e| map(e, "read a tag"))?;
        tag.description = decoded.message.to_str_lossy().trim_end().to_string();
        if let Some(tagger) = decoded.tagger().map_err(|e| map(e, "read a tag"))? {
            tag.author = person(tagger.name, tagger.email);
            tag.time = tagger.time().ok().map(system_time);
        }
    }
    Ok(Some(tag))
}
