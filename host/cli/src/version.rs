//! `bindery object versions|tag|revert|diff`, and the `--author` / `--message` of a put or rm,
//! on a binding that keeps versions (`git`, `memory`).

use std::time::UNIX_EPOCH;

use bindery::{DiffFormat, Objects, Revision, Tag};
use clap::{Args, Subcommand};

/// Who writes a revision and why.
#[derive(Args)]
pub struct SignArgs {
    /// The revision's author, `Name <email>` (the binding's `author` otherwise).
    #[arg(long)]
    author: Option<String>,
    /// The revision's message.
    #[arg(long)]
    message: Option<String>,
}

impl SignArgs {
    /// As request options.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(a) = &self.author {
            out.push(("author", a.clone()));
        }
        if let Some(m) = &self.message {
            out.push(("message", m.clone()));
        }
        out
    }
}

#[derive(Subcommand)]
pub enum VersionOp {
    /// Lists an object's revisions, newest first: id, time, author, size, message.
    Versions {
        /// `binding://path`.
        path: String,
        /// At most this many.
        #[arg(long)]
        limit: Option<u64>,
        /// Those after this revision id.
        #[arg(long)]
        start_after: Option<String>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Tags: names for revisions.
    #[command(subcommand)]
    Tag(TagOp),
    /// Writes a new revision with an object's data and metadata at REVISION (or deletes it,
    /// when it did not exist then).
    Revert {
        /// `binding://path`.
        path: String,
        /// A revision id or tag.
        revision: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Prints how an object differs between FROM and TO (now, without TO): a JSON Patch for
    /// JSON documents, a unified diff for text, sizes otherwise.
    Diff {
        /// `binding://path`.
        path: String,
        /// A revision id or tag.
        from: String,
        /// A revision id or tag (the object now when left out).
        to: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TagOp {
    /// Lists the tags, a JSON line each.
    Ls {
        /// `binding://`.
        binding: String,
    },
    /// Makes a tag on the newest revision, or on --revision.
    Create {
        /// `binding://`.
        binding: String,
        /// The tag's name.
        name: String,
        /// The revision (id or tag) it names.
        #[arg(long)]
        revision: Option<String>,
        /// What it marks.
        #[arg(long, default_value = "")]
        description: String,
        /// Who makes it, `Name <email>`.
        #[arg(long)]
        author: Option<String>,
    },
    /// Prints a tag as JSON.
    Show {
        /// `binding://`.
        binding: String,
        /// The tag's name.
        name: String,
    },
    /// Renames a tag or changes its description.
    Update {
        /// `binding://`.
        binding: String,
        /// The tag's name.
        name: String,
        /// Its new name.
        #[arg(long)]
        rename: Option<String>,
        /// Its new description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Deletes a tag.
    Rm {
        /// `binding://`.
        binding: String,
        /// The tag's name.
        name: String,
    },
}

fn millis(t: Option<std::time::SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
}

fn revision_json(r: &Revision) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "time_ms": millis(r.time), "author": r.author, "message": r.message,
        "size": r.size, "gen": r.gen, "deleted": r.deleted,
    })
}

fn tag_json(t: &Tag) -> serde_json::Value {
    serde_json::json!({
        "name": t.name, "revision": t.revision, "description": t.description,
        "author": t.author, "time_ms": millis(t.time),
    })
}

pub fn run(objects: &Objects, op: VersionOp) -> Result<(), String> {
    let fail = |e: bindery::Error| e.to_string();
    match op {
        VersionOp::Versions {
            path,
            limit,
            start_after,
            json,
        } => {
            let mut req = objects.versions(&path);
            if let Some(n) = limit {
                req = req.limit(n);
            }
            if let Some(s) = start_after {
                req = req.start_after(s);
            }
            for r in req.do_().map_err(fail)? {
                if json {
                    println!("{}", revision_json(&r));
                } else {
                    let size = if r.deleted {
                        "deleted".to_string()
                    } else {
                        r.size.to_string()
                    };
                    let first_line = r.message.lines().next().unwrap_or("");
                    println!("{}  {:>10}  {}  {}", r.id, size, r.author, first_line);
                }
            }
        }
        VersionOp::Tag(op) => {
            let tag = match op {
                TagOp::Ls { binding } => {
                    for t in objects.tags(&binding).do_().map_err(fail)? {
                        println!("{}", tag_json(&t));
                    }
                    return Ok(());
                }
                TagOp::Create {
                    binding,
                    name,
                    revision,
                    description,
                    author,
                } => {
                    let mut req = objects.tag_create(&binding, name).description(description);
                    if let Some(r) = revision {
                        req = req.revision(r);
                    }
                    if let Some(a) = author {
                        req = req.author(a);
                    }
                    req.do_()
                }
                TagOp::Show { binding, name } => objects.tag_get(&binding, name).do_(),
                TagOp::Update {
                    binding,
                    name,
                    rename,
                    description,
                } => {
                    let mut req = objects.tag_update(&binding, name);
                    if let Some(r) = rename {
                        req = req.rename(r);
                    }
                    if let Some(d) = description {
                        req = req.description(d);
                    }
                    req.do_()
                }
                TagOp::Rm { binding, name } => objects.tag_delete(&binding, name).do_(),
            };
            println!("{}", tag_json(&tag.map_err(fail)?));
        }
        VersionOp::Revert { path, revision, sign } => {
            let mut req = objects.revert(&path, revision);
            for (k, v) in sign.options() {
                req = req.option(k, v);
            }
            println!("{}", crate::object::meta_json(&req.do_().map_err(fail)?));
        }
        VersionOp::Diff { path, from, to } => {
            let mut req = objects.diff(&path, from);
            if let Some(to) = to {
                req = req.to(to);
            }
            let d = req.do_().map_err(fail)?;
            match d.format {
                DiffFormat::JsonPatch => {
                    let patch: serde_json::Value =
                        serde_json::from_str(&d.patch).map_err(|e| e.to_string())?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&patch).map_err(|e| e.to_string())?
                    );
                }
                DiffFormat::Unified => print!("{}", d.patch),
                DiffFormat::Sizes => {
                    let side = |s: &Option<(u64, String)>| match s {
                        Some((size, gen)) => format!("{size} bytes (gen {gen})"),
                        None => "absent".to_string(),
                    };
                    println!("binary: {} -> {}", side(&d.from), side(&d.to));
                }
            }
        }
    }
    Ok(())
}
