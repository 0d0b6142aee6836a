//! Versions of objects (on bindings with the `versioning` capability: `git`, `memory`):
//! `versions`, reads at a revision (`get(…).version(rev)`, also `head` and `list`), tags,
//! `revert` and `diff`. See `bindery_core::version` for what each means.

use bindery_core::version::{Diff, OpDiff, OpRevert, OpTag, OpVersions, Revision, Tag, TagAction};
use bindery_core::{Details, Error, Head, Kind, ObjectMeta, Options, ResponseMessage, Result};

use crate::frames::Frames;
use crate::object::{finish_meta, head_meta, Objects};
use crate::request::Req;
use crate::wait::Done;

impl Objects {
    /// The revisions that changed an object (`name://path`), newest first; page with
    /// [`Versions::limit`] and [`Versions::start_after`].
    pub fn versions(&self, path: impl Into<String>) -> Versions {
        Versions {
            req: Req::new(self.ctx(), path),
            op: OpVersions::default(),
        }
    }

    /// Writes a new revision of an object with the data and metadata it had at `revision`
    /// (a revision id or a tag), or deletes it when it did not exist then. History is kept.
    pub fn revert(&self, path: impl Into<String>, revision: impl Into<String>) -> Revert {
        Revert {
            req: Req::new(self.ctx(), path),
            op: OpRevert {
                revision: revision.into(),
                options: Options::new(),
            },
        }
    }

    /// The difference of an object from revision `from` to the object now, or to
    /// [`DiffOf::to`]: a JSON Patch for JSON documents, a unified diff for text, sizes
    /// otherwise.
    pub fn diff(&self, path: impl Into<String>, from: impl Into<String>) -> DiffOf {
        DiffOf {
            req: Req::new(self.ctx(), path),
            op: OpDiff {
                from: from.into(),
                ..OpDiff::default()
            },
        }
    }

    /// Makes a tag on a binding (`name://`) naming its newest revision, or
    /// [`TagOne::revision`].
    pub fn tag_create(&self, binding: impl Into<String>, name: impl Into<String>) -> TagOne {
        self.tag_one(
            binding,
            TagAction::Create(Tag {
                name: name.into(),
                ..Tag::default()
            }),
        )
    }

    /// Reads a tag.
    pub fn tag_get(&self, binding: impl Into<String>, name: impl Into<String>) -> TagOne {
        self.tag_one(binding, TagAction::Get(name.into()))
    }

    /// Renames a tag ([`TagOne::rename`]) or changes its description.
    pub fn tag_update(&self, binding: impl Into<String>, name: impl Into<String>) -> TagOne {
        self.tag_one(
            binding,
            TagAction::Update {
                name: name.into(),
                rename: None,
                description: None,
            },
        )
    }

    /// Deletes a tag; answers the tag it deleted.
    pub fn tag_delete(&self, binding: impl Into<String>, name: impl Into<String>) -> TagOne {
        self.tag_one(binding, TagAction::Delete(name.into()))
    }

    /// Every tag of a binding, by name.
    pub fn tags(&self, binding: impl Into<String>) -> Tags {
        Tags {
            req: Req::new(self.ctx(), binding),
            op: OpTag {
                action: TagAction::List,
                options: Options::new(),
            },
        }
    }

    fn tag_one(&self, binding: impl Into<String>, action: TagAction) -> TagOne {
        TagOne {
            req: Req::new(self.ctx(), binding),
            op: OpTag {
                action,
                options: Options::new(),
            },
        }
    }
}

fn revisions(frames: Vec<ResponseMessage>) -> Result<Vec<Revision>> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Revisions(r)) => Ok(r),
        _ => Err(Error::internal("the driver answered versions without revisions")),
    }
}

fn finish_revisions(frames: Vec<ResponseMessage>) -> Result<Done> {
    revisions(frames).map(Done::Revisions)
}

fn tags(frames: Vec<ResponseMessage>) -> Result<Vec<Tag>> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Tags(t)) => Ok(t),
        _ => Err(Error::internal("the driver answered a tags request without tags")),
    }
}

fn finish_tags(frames: Vec<ResponseMessage>) -> Result<Done> {
    tags(frames).map(Done::Tags)
}

fn one_tag(frames: Vec<ResponseMessage>) -> Result<Tag> {
    tags(frames)?
        .pop()
        .ok_or_else(|| Error::internal("the driver answered a tags request without its tag"))
}

fn finish_tag(frames: Vec<ResponseMessage>) -> Result<Done> {
    one_tag(frames).map(Done::Tag)
}

fn diff(frames: Vec<ResponseMessage>) -> Result<Diff> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Diff(d)) => Ok(d),
        _ => Err(Error::internal("the driver answered a diff without one")),
    }
}

fn finish_diff(frames: Vec<ResponseMessage>) -> Result<Done> {
    diff(frames).map(Done::Diff)
}

runnable!(Versions, Vec<Revision>, revisions, finish_revisions);
runnable!(Revert, ObjectMeta, head_meta, finish_meta);
runnable!(DiffOf, Diff, diff, finish_diff);
runnable!(TagOne, Tag, one_tag, finish_tag);
runnable!(Tags, Vec<Tag>, tags, finish_tags);

/// Adds `option` to builders whose details hold `op.options`.
macro_rules! option_setter {
    ($($t:ty),*) => {$(
        impl $t {
            /// Adds an option, passed to the driver (`author`: `Name <email>`, `message`).
            pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.op.options.insert(key.into(), value.into());
                self
            }
        }
    )*};
}

option_setter!(Versions, Revert, DiffOf, TagOne, Tags);

/// `versions(path)`: an object's revisions, newest first.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Versions {
    req: Req,
    op: OpVersions,
}

impl Versions {
    /// At most `n` revisions.
    pub fn limit(mut self, n: u64) -> Self {
        self.op.limit = Some(n);
        self
    }

    /// Goes on after this revision id (the last of an earlier page).
    pub fn start_after(mut self, id: impl Into<String>) -> Self {
        self.op.start_after = Some(id.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Versions { req, op } = self;
        req.send(Kind::Object, "versions", false, || Details::ObjectVersions(op))
    }
}

/// `revert(path, revision)`: answers the object's new metadata (an empty generation when
/// the revert deleted it).
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Revert {
    req: Req,
    op: OpRevert,
}

impl Revert {
    fn send(self) -> Result<Frames> {
        let Revert { req, op } = self;
        req.send(Kind::Object, "revert", false, || Details::ObjectRevert(op))
    }
}

/// `diff(path, from)`: the difference from `from` to the object now, or to [`DiffOf::to`].
#[must_use = "a request does nothing until it is awaited or done"]
pub struct DiffOf {
    req: Req,
    op: OpDiff,
}

impl DiffOf {
    /// Compares with this revision (or tag) rather than with the object now.
    pub fn to(mut self, revision: impl Into<String>) -> Self {
        self.op.to = Some(revision.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let DiffOf { req, op } = self;
        req.send(Kind::Object, "diff", false, || Details::ObjectDiff(op))
    }
}

/// One tag: `tag_create`, `tag_get`, `tag_update`, `tag_delete`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct TagOne {
    req: Req,
    op: OpTag,
}

impl TagOne {
    /// `tag_create`: the revision (id or another tag) the tag names; the newest otherwise.
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        match &mut self.op.action {
            TagAction::Create(tag) => tag.revision = revision.into(),
            _ => self.misuse(
                "revision",
                "tag_create (a tag's revision never changes: delete it and create it again)",
            ),
        }
        self
    }

    /// `tag_create` and `tag_update`: what the tag marks.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        match &mut self.op.action {
            TagAction::Create(tag) => tag.description = description.into(),
            TagAction::Update { description: d, .. } => *d = Some(description.into()),
            _ => self.misuse("description", "tag_create and tag_update"),
        }
        self
    }

    /// `tag_create`: who makes the tag (`Name <email>`); the binding's author otherwise.
    pub fn author(mut self, author: impl Into<String>) -> Self {
        match &mut self.op.action {
            TagAction::Create(tag) => tag.author = author.into(),
            _ => self.misuse("author", "tag_create"),
        }
        self
    }

    /// `tag_update`: the tag's new name.
    pub fn rename(mut self, name: impl Into<String>) -> Self {
        match &mut self.op.action {
            TagAction::Update { rename, .. } => *rename = Some(name.into()),
            _ => self.misuse("rename", "tag_update"),
        }
        self
    }

    fn misuse(&mut self, setter: &str, applies: &str) {
        self.req.fail(Error::invalid_input(format!(
            "a tag's {setter} is set only with {applies}"
        )));
    }

    fn send(self) -> Result<Frames> {
        let TagOne { req, op } = self;
        req.send(Kind::Object, "tags", true, || Details::ObjectTags(op))
    }
}

/// `tags(binding)`: every tag.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Tags {
    req: Req,
    op: OpTag,
}

impl Tags {
    fn send(self) -> Result<Frames> {
        let Tags { req, op } = self;
        req.send(Kind::Object, "tags", true, || Details::ObjectTags(op))
    }
}
