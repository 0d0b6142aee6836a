//! The versions requests and answers (`schemas/bindery.capnp`: `Versions`, `Revision`, `Tag`,
//! `TagRequest`, `DiffRequest`, `Diff`) and the `version` a get, head or list reads at.

use bindery_core::version::{
    Diff, DiffFormat, OpDiff, OpRevert, OpTag, OpVersions, Revision, Tag, TagAction,
};
use bindery_core::{Details, Options, Result};

use super::{from_nanos, text, to_nanos, Ctx};
use crate::schema as s;

/// The revision a get, head or list reads at, or the version of a table schema asked for.
pub(super) fn version_of(details: &Details) -> Option<String> {
    match details {
        Details::ObjectGet(o) => o.version.clone(),
        Details::ObjectHead(o) => o.version.clone(),
        Details::ObjectList(o) => o.version.clone(),
        Details::TableSchema(o) => o.version.map(|n| n.to_string()),
        _ => None,
    }
}

/// Encodes the details of a versions request (`versions`, `tags`, `revert`, `diff`).
pub(super) fn put_details(d: s::data_request::details::Builder<'_>, details: &Details) {
    match details {
        Details::ObjectVersions(op) => {
            let mut v = d.init_object_versions();
            if let Some(n) = op.limit {
                v.set_has_limit(true);
                v.set_limit(n);
            }
            if let Some(after) = &op.start_after {
                v.set_start_after(after.as_str());
            }
        }
        Details::ObjectTags(op) => {
            let mut t = d.init_object_tags();
            match &op.action {
                TagAction::Create(tag) => put_tag(t.init_create(), tag),
                TagAction::Get(name) => t.set_get(name.as_str()),
                TagAction::Update {
                    name,
                    rename,
                    description,
                } => {
                    let mut u = t.init_update();
                    u.set_name(name.as_str());
                    if let Some(r) = rename {
                        u.set_rename(r.as_str());
                    }
                    if let Some(d) = description {
                        u.set_description(d.as_str());
                    }
                }
                TagAction::Delete(name) => t.set_delete(name.as_str()),
                TagAction::List => t.set_list(()),
            }
        }
        Details::ObjectRevert(op) => {
            let mut d = d;
            d.set_object_revert(op.revision.as_str());
        }
        Details::ObjectDiff(op) => {
            let mut r = d.init_object_diff();
            r.set_from(op.from.as_str());
            if let Some(to) = &op.to {
                r.set_to(to.as_str());
            }
        }
        // `encode_request` sends only these here.
        _ => {}
    }
}

fn optional(has: bool, t: capnp::Result<capnp::text::Reader<'_>>) -> Result<Option<String>> {
    if has {
        Ok(Some(text(t)?))
    } else {
        Ok(None)
    }
}

/// The revision a decoded get, head or list reads at.
pub(super) fn get_version(r: &s::data_request::Reader<'_>) -> Result<Option<String>> {
    optional(r.has_version(), r.get_version())
}

pub(super) fn get_versions(v: capnp::Result<s::versions::Reader<'_>>, options: Options) -> Result<Details> {
    let v = v.c()?;
    Ok(Details::ObjectVersions(OpVersions {
        limit: v.get_has_limit().then(|| v.get_limit()),
        start_after: optional(v.has_start_after(), v.get_start_after())?,
        options,
    }))
}

pub(super) fn get_tag_request(
    t: capnp::Result<s::tag_request::Reader<'_>>,
    options: Options,
) -> Result<Details> {
    use s::tag_request::Which;
    let action = match t.c()?.which().c()? {
        Which::Create(tag) => TagAction::Create(get_tag(tag.c()?)?),
        Which::Get(name) => TagAction::Get(text(name)?),
        Which::Update(u) => {
            let u = u.c()?;
            TagAction::Update {
                name: text(u.get_name())?,
                rename: optional(u.has_rename(), u.get_rename())?,
                description: optional(u.has_description(), u.get_description())?,
            }
        }
        Which::Delete(name) => TagAction::Delete(text(name)?),
        Which::List(()) => TagAction::List,
    };
    Ok(Details::ObjectTags(OpTag { action, options }))
}

pub(super) fn get_revert(
    revision: capnp::Result<capnp::text::Reader<'_>>,
    options: Options,
) -> Result<Details> {
    Ok(Details::ObjectRevert(OpRevert {
        revision: text(revision)?,
        options,
    }))
}

pub(super) fn get_diff_request(
    d: capnp::Result<s::diff_request::Reader<'_>>,
    options: Options,
) -> Result<Details> {
    let d = d.c()?;
    Ok(Details::ObjectDiff(OpDiff {
        from: text(d.get_from())?,
        to: optional(d.has_to(), d.get_to())?,
        options,
    }))
}

fn put_tag(mut b: s::tag::Builder<'_>, t: &Tag) {
    b.set_name(t.name.as_str());
    b.set_revision(t.revision.as_str());
    b.set_description(t.description.as_str());
    b.set_author(t.author.as_str());
    if let Some(time) = t.time {
        b.set_has_time(true);
        b.set_time_nanos(to_nanos(time));
    }
}

fn get_tag(r: s::tag::Reader<'_>) -> Result<Tag> {
    Ok(Tag {
        name: text(r.get_name())?,
        revision: text(r.get_revision())?,
        description: text(r.get_description())?,
        author: text(r.get_author())?,
        time: r.get_has_time().then(|| from_nanos(r.get_time_nanos())),
    })
}

pub(super) fn put_tags(mut list: capnp::struct_list::Builder<'_, s::tag::Owned>, tags: &[Tag]) {
    for (i, t) in tags.iter().enumerate() {
        put_tag(list.reborrow().get(i as u32), t);
    }
}

pub(super) fn get_tags(
    list: capnp::Result<capnp::struct_list::Reader<'_, s::tag::Owned>>,
) -> Result<Vec<Tag>> {
    list.c()?.iter().map(get_tag).collect()
}

pub(super) fn put_revisions(
    mut list: capnp::struct_list::Builder<'_, s::revision::Owned>,
    revisions: &[Revision],
) {
    for (i, r) in revisions.iter().enumerate() {
        let mut b = list.reborrow().get(i as u32);
        b.set_id(r.id.as_str());
        if let Some(t) = r.time {
            b.set_has_time(true);
            b.set_time_nanos(to_nanos(t));
        }
        b.set_author(r.author.as_str());
        b.set_message(r.message.as_str());
        b.set_size(r.size);
        b.set_gen(r.gen.as_str());
        b.set_deleted(r.deleted);
    }
}

pub(super) fn get_revisions(
    list: capnp::Result<capnp::struct_list::Reader<'_, s::revision::Owned>>,
) -> Result<Vec<Revision>> {
    list.c()?
        .iter()
        .map(|r| {
            Ok(Revision {
                id: text(r.get_id())?,
                time: r.get_has_time().then(|| from_nanos(r.get_time_nanos())),
                author: text(r.get_author())?,
                message: text(r.get_message())?,
                size: r.get_size(),
                gen: text(r.get_gen())?,
                deleted: r.get_deleted(),
            })
        })
        .collect()
}

pub(super) fn put_diff(mut b: s::diff::Builder<'_>, d: &Diff) {
    use s::diff::Format;
    b.set_format(match d.format {
        DiffFormat::JsonPatch => Format::JsonPatch,
        DiffFormat::Unified => Format::Unified,
        DiffFormat::Sizes => Format::Sizes,
    });
    b.set_patch(d.patch.as_str());
    if let Some((size, gen)) = &d.from {
        b.set_has_from(true);
        b.set_from_size(*size);
        b.set_from_gen(gen.as_str());
    }
    if let Some((size, gen)) = &d.to {
        b.set_has_to(true);
        b.set_to_size(*size);
        b.set_to_gen(gen.as_str());
    }
}

pub(super) fn get_diff(r: capnp::Result<s::diff::Reader<'_>>) -> Result<Diff> {
    use s::diff::Format;
    let r = r.c()?;
    Ok(Diff {
        format: match r.get_format().c()? {
            Format::JsonPatch => DiffFormat::JsonPatch,
            Format::Unified => DiffFormat::Unified,
            Format::Sizes => DiffFormat::Sizes,
        },
        patch: text(r.get_patch())?,
        from: if r.get_has_from() {
            Some((r.get_from_size(), text(r.get_from_gen())?))
        } else {
            None
        },
        to: if r.get_has_to() {
            Some((r.get_to_size(), text(r.get_to_gen())?))
        } else {
            None
        },
    })
}
