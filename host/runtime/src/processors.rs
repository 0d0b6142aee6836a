//! Processors: a binding's ordered pipeline, declared in the spec (`processors:`), that every
//! request passes before the driver and every response after it (as Kubernetes admission
//! control and Kafka Connect's transforms: ordered, each step seeing the previous step's
//! output, a failure policy per step).
//!
//! ```yaml
//! dataBindings:
//!   docs:
//!     driver: fs
//!     url: ./data
//!     processors:
//!       - kind: maxSize          # bytes a put or a message may have (the gateway answers 413)
//!         bytes: 1MiB
//!       - kind: contentTypes     # media types a put may have (the gateway answers 415)
//!         allow: [application/json, text/*]
//!       - kind: validate         # a JSON Schema (inline, or `schemaFile:` beside the spec)
//!         schema: { type: object, required: [id] }
//!       - kind: readOnly         # fields set on create and never changed
//!         fields: [id, created]
//!       - kind: defaults         # values for missing fields (dotted names reach inside)
//!         values: { status: new }
//!       - kind: dropNulls        # null fields are not stored
//!       - kind: redact           # fields masked on reads
//!         fields: [ssn]
//!         mask: "***"
//!       - kind: select           # keep only these fields
//!         fields: [id, name]
//!         on: [get]
//!       - kind: rename           # rename fields
//!         fields: { name: fullName }
//!         failurePolicy: ignore  # a failure is logged and the request goes on unchanged
//! ```
//!
//! Each processor applies to the operations in `on` (`put`, `get` for objects; `write`, `read`
//! for tables; `publish`, `consume` for streams); without `on`, to its kind's usual ones (the
//! checks and the fillers to writes, `redact` `select` and `rename` to reads). Documents are
//! JSON: an object's body, a stream message's value, a table row (a table read's `redact`,
//! `select` and `rename` work on columns). A processor that refuses answers `InvalidInput`
//! naming it (its position, kind and line in the spec) and why; nothing is written. With
//! `failurePolicy: ignore` a processor's refusal is logged (a warning) and the request goes on
//! as that processor found it.

use std::path::Path;
use std::sync::Arc;

use bindery_core::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use bindery_core::arrow::datatypes::{DataType, Field as ArrowField, Schema};
use bindery_core::{Error, ErrorKind, Kind};
use serde_json::{Map, Value};

use crate::yaml::{Loc, Marked, Node};

/// An operation processors apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// An object put (its body).
    Put,
    /// An object get (the body answered).
    Get,
    /// A table write (its rows).
    Write,
    /// A table read (the batches answered).
    Read,
    /// A stream publish (each message's value).
    Publish,
    /// A stream consume (each message's value answered).
    Consume,
}

impl Op {
    const ALL: [Op; 6] = [Op::Put, Op::Get, Op::Write, Op::Read, Op::Publish, Op::Consume];

    /// The name used in `on:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Write => "write",
            Op::Read => "read",
            Op::Publish => "publish",
            Op::Consume => "consume",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Op::Put | Op::Get => Kind::Object,
            Op::Write | Op::Read => Kind::Table,
            Op::Publish | Op::Consume => Kind::Stream,
        }
    }
}

/// What a processor's refusal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The request fails (the default).
    #[default]
    Fail,
    /// The refusal is logged and the request goes on.
    Ignore,
}

/// Why a processor refused, for a caller that answers by status (the gateway's 413 and 415):
/// the source of the refusal's [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The data is larger than `maxSize` allows.
    TooLarge,
    /// The data's media type is not one `contentTypes` allows.
    MediaType,
    /// Anything else (a document that fails its schema, a read-only field changed…).
    Invalid,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooLarge => "refused as too large",
            Refusal::MediaType => "refused for its media type",
            Refusal::Invalid => "refused as invalid",
        })
    }
}

impl std::error::Error for Refusal {}

/// A field of a document: a dotted name's segments (`address.city`).
type FieldPath = Vec<String>;

/// What one processor does.
enum Step {
    Validate(Box<jsonschema::Validator>),
    ReadOnly(Vec<FieldPath>),
    Defaults(Vec<(FieldPath, Value)>),
    DropNulls,
    MaxSize(u64),
    ContentTypes(Vec<String>),
    Redact { fields: Vec<FieldPath>, mask: Value },
    Select(Vec<FieldPath>),
    Rename(Vec<(FieldPath, FieldPath)>),
}

/// A built-in processor kind: its name, the operations it may apply to, those it applies to
/// without `on`, and its settings.
struct KindInfo {
    name: &'static str,
    allowed: &'static [Op],
    usual: &'static [Op],
    settings: &'static [&'static str],
}

const fn kind(
    name: &'static str,
    allowed: &'static [Op],
    usual: &'static [Op],
    settings: &'static [&'static str],
) -> KindInfo {
    KindInfo {
        name,
        allowed,
        usual,
        settings,
    }
}

/// The built-in processor kinds.
const KINDS: [KindInfo; 9] = [
    kind(
        "validate",
        &[Op::Put, Op::Get, Op::Write, Op::Publish, Op::Consume],
        &[Op::Put, Op::Write, Op::Publish],
        &["schema", "schemaFile"],
    ),
    kind("readOnly", &[Op::Put], &[Op::Put], &["fields"]),
    kind(
        "defaults",
        &[Op::Put, Op::Write, Op::Publish],
        &[Op::Put, Op::Write, Op::Publish],
        &["values"],
    ),
    kind(
        "dropNulls",
        &[Op::Put, Op::Write, Op::Publish],
        &[Op::Put, Op::Write, Op::Publish],
        &[],
    ),
    kind(
        "maxSize",
        &[Op::Put, Op::Publish],
        &[Op::Put, Op::Publish],
        &["bytes"],
    ),
    kind("contentTypes", &[Op::Put], &[Op::Put], &["allow"]),
    kind(
        "redact",
        &Op::ALL,
        &[Op::Get, Op::Read, Op::Consume],
        &["fields", "mask"],
    ),
    kind("select", &Op::ALL, &[Op::Get, Op::Read, Op::Consume], &["fields"]),
    kind("rename", &Op::ALL, &[Op::Get, Op::Read, Op::Consume], &["fields"]),
];

const COMMON_KEYS: [&str; 4] = ["kind", "name", "on", "failurePolicy"];

/// One processor of a binding's pipeline.
pub struct Processor {
    /// Its kind (`validate`).
    pub kind: &'static str,
    /// Its name: `name:` in the spec, else its kind.
    pub name: String,
    /// Its position in the pipeline, from 1.
    pub position: usize,
    /// Where the spec declares it.
    pub loc: Loc,
    /// The operations it applies to.
    pub on: Vec<Op>,
    /// What its refusal does.
    pub policy: FailurePolicy,
    step: Step,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("position", &self.position)
            .field("on", &self.on)
            .field("policy", &self.policy)
            .finish()
    }
}

/// A binding's processors, in order.
#[derive(Debug, Default, Clone)]
pub struct Pipeline {
    processors: Vec<Arc<Processor>>,
}

/// A processor's refusal, before it is named.
struct Refused {
    why: String,
    reason: Refusal,
}

fn invalid(why: impl Into<String>) -> Refused {
    Refused {
        why: why.into(),
        reason: Refusal::Invalid,
    }
}

impl Pipeline {
    /// Whether there are no processors.
    pub fn is_empty(&self) -> bool {
        self.processors.is_empty()
    }

    /// The processors, in order.
    pub fn processors(&self) -> impl Iterator<Item = &Processor> {
        self.processors.iter().map(|p| p.as_ref())
    }

    /// The processors that apply to `op`, in order.
    pub(crate) fn on(&self, op: Op) -> impl Iterator<Item = &Processor> {
        self.processors().filter(move |p| p.on.contains(&op))
    }

    /// Whether any processor applies to `op`.
    pub(crate) fn applies(&self, op: Op) -> bool {
        self.on(op).next().is_some()
    }

    /// Whether any processor applying to `op` works on documents (not only on sizes and media
    /// types).
    pub(crate) fn reads_documents(&self, op: Op) -> bool {
        self.on(op)
            .any(|p| !matches!(p.step, Step::MaxSize(_) | Step::ContentTypes(_)))
    }
}

impl Processor {
    /// The error for a refusal: names the processor and the operation.
    fn refusal(&self, op: Op, what: &str, r: Refused) -> Error {
        let name = if self.name == self.kind {
            format!("processor {} ({})", self.position, self.kind)
        } else {
            format!("processor {} ('{}', {})", self.position, self.name, self.kind)
        };
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{name} at line {} of the spec refused the {}{what}: {}",
                self.loc.line,
                op.as_str(),
                r.why
            ),
        )
        .with_source(r.reason)
    }

    /// Runs the result of this processor through its failure policy: `Ok(true)` when the
    /// step's result stands, `Ok(false)` when it was ignored.
    fn settle<T>(&self, op: Op, what: &str, r: Result<T, Refused>) -> Result<Option<T>, Error> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(r) => {
                let e = self.refusal(op, what, r);
                match self.policy {
                    FailurePolicy::Fail => Err(e),
                    FailurePolicy::Ignore => {
                        tracing::warn!(error = %e, "A processor's refusal ignored (failurePolicy: ignore).");
                        Ok(None)
                    }
                }
            }
        }
    }

    /// The size a `maxSize` processor allows.
    pub(crate) fn max_size(&self) -> Option<u64> {
        match self.step {
            Step::MaxSize(n) => Some(n),
            _ => None,
        }
    }

    /// The refusal a streamed put ends with once it has grown to `seen` bytes, past this
    /// `maxSize` processor's size.
    pub(crate) fn too_large(&self, seen: u64) -> Error {
        let max = self.max_size().unwrap_or_default();
        self.refusal(
            Op::Put,
            "",
            Refused {
                why: format!("{seen} bytes or more is more than the {max} bytes maxSize allows"),
                reason: Refusal::TooLarge,
            },
        )
    }

    /// Checks a size against `maxSize` (other processors pass it).
    fn size(&self, size: u64) -> Result<(), Refused> {
        match self.step {
            Step::MaxSize(max) if size > max => Err(Refused {
                why: format!("{size} bytes is more than the {max} bytes maxSize allows"),
                reason: Refusal::TooLarge,
            }),
            _ => Ok(()),
        }
    }

    /// Checks a media type against `contentTypes` (other processors pass it).
    fn media_type(&self, content_type: Option<&str>) -> Result<(), Refused> {
        let Step::ContentTypes(allow) = &self.step else {
            return Ok(());
        };
        let refused = |why: String| Refused {
            why,
            reason: Refusal::MediaType,
        };
        let Some(ct) = content_type else {
            return Err(refused(format!(
                "it has no content type; allowed: {}",
                allow.join(", ")
            )));
        };
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let ok = allow.iter().any(|a| match a.strip_suffix("/*") {
            Some(top) => a == "*/*" || essence.split('/').next() == Some(top),
            None => *a == essence,
        });
        if ok {
            Ok(())
        } else {
            Err(refused(format!(
                "its content type '{ct}' is not allowed; allowed: {}",
                allow.join(", ")
            )))
        }
    }

    /// Applies this processor to a document. `old` is the stored document a write replaces
    /// (for `readOnly`). Answers whether the document changed.
    fn document(&self, doc: &mut Value, old: Option<&Value>) -> Result<bool, Refused> {
        match &self.step {
            Step::MaxSize(_) | Step::ContentTypes(_) => Ok(false),
            Step::Validate(v) => {
                let errors: Vec<String> = v
                    .iter_errors(doc)
                    .take(4)
                    .map(|e| {
                        let at = e.instance_path().as_str();
                        format!("at {}: {e}", if at.is_empty() { "/" } else { at })
                    })
                    .collect();
                if errors.is_empty() {
                    Ok(false)
                } else {
                    Err(invalid(format!(
                        "the document does not match the schema: {}",
                        errors.join("; ")
                    )))
                }
            }
            Step::ReadOnly(fields) => {
                let Some(old) = old else {
                    return Ok(false);
                };
                for f in fields {
                    if lookup(old, f) != lookup(doc, f) {
                        return Err(invalid(format!(
                            "field '{}' is read-only: it is set when the document is created and never changed",
                            f.join(".")
                        )));
                    }
                }
                Ok(false)
            }
            Step::Defaults(values) => {
                let object = as_object(doc)?;
                let mut changed = false;
                for (f, v) in values {
                    changed |= insert_missing(object, f, v);
                }
                Ok(changed)
            }
            Step::DropNulls => Ok(drop_nulls(doc)),
            Step::Redact { fields, mask } => {
                let mut changed = false;
                for f in fields {
                    if let Some(v) = lookup_mut(doc, f) {
                        *v = mask.clone();
                        changed = true;
                    }
                }
                Ok(changed)
            }
            Step::Select(fields) => {
                as_object(doc)?;
                let mut out = Map::new();
                for f in fields {
                    if let Some(v) = lookup(doc, f) {
                        insert_missing(&mut out, f, v);
                    }
                }
                *doc = Value::Object(out);
                Ok(true)
            }
            Step::Rename(pairs) => {
                as_object(doc)?;
                let mut changed = false;
                for (from, to) in pairs {
                    if let Some(v) = remove(doc, from) {
                        let object = as_object(doc)?;
                        set(object, to, v);
                        changed = true;
                    }
                }
                Ok(changed)
            }
        }
    }

    /// Applies this processor to a table read's batch, by column: `redact` masks a column
    /// (text columns with the mask, others with NULL), `select` keeps columns, `rename`
    /// renames them. Other processors pass a batch.
    fn batch(&self, batch: RecordBatch) -> Result<RecordBatch, Refused> {
        let schema = batch.schema();
        let column = |f: &FieldPath| f.join(".");
        let (fields, columns): (Vec<ArrowField>, Vec<ArrayRef>) = match &self.step {
            Step::Redact { fields, mask } => {
                let names: Vec<String> = fields.iter().map(column).collect();
                let text = match mask {
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                };
                schema
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, c)| {
                        if !names.contains(f.name()) {
                            return (f.as_ref().clone(), c.clone());
                        }
                        let n = c.len();
                        match (f.data_type(), text) {
                            (DataType::Utf8, Some(t)) => (
                                f.as_ref().clone(),
                                Arc::new(StringArray::from_iter(
                                    (0..n).map(|i| (!c.is_null(i)).then_some(t)),
                                )) as ArrayRef,
                            ),
                            (dt, _) => (
                                f.as_ref().clone().with_nullable(true),
                                bindery_core::arrow::array::new_null_array(dt, n),
                            ),
                        }
                    })
                    .unzip()
            }
            Step::Select(fields) => fields
                .iter()
                .filter_map(|f| {
                    let i = schema.index_of(&column(f)).ok()?;
                    Some((schema.field(i).clone(), batch.column(i).clone()))
                })
                .unzip(),
            Step::Rename(pairs) => schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(
                    |(f, c)| match pairs.iter().find(|(from, _)| column(from) == *f.name()) {
                        Some((_, to)) => (f.as_ref().clone().with_name(column(to)), c.clone()),
                        None => (f.as_ref().clone(), c.clone()),
                    },
                )
                .unzip(),
            _ => return Ok(batch),
        };
        let options =
            bindery_core::arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
            .map_err(|e| invalid(format!("cannot shape the rows: {e}")))
    }
}

/// Runs a document through `processors` in order, each under its failure policy, answering
/// whether any processor changed it. The document is `doc` when given, else `bytes` (parsed
/// into `doc` when a processor first needs it); after a change `doc` holds the result. `what`
/// names the document in messages (`" (message 3)"`); `old` is the stored document the write
/// replaces, for `readOnly`.
pub(crate) fn run_document<'a>(
    processors: impl Iterator<Item = &'a Processor>,
    op: Op,
    what: &str,
    bytes: &[u8],
    doc: &mut Option<Value>,
    old: Option<&Value>,
) -> Result<bool, Error> {
    let given = doc.is_some();
    let mut changed = false;
    for p in processors {
        if let Step::MaxSize(_) = p.step {
            let size = match doc.as_ref() {
                Some(d) if changed || given => serde_json::to_vec(d).map_or(0, |b| b.len()),
                _ => bytes.len(),
            };
            p.settle(op, what, p.size(size as u64))?;
            continue;
        }
        if doc.is_none() {
            match serde_json::from_slice::<Value>(bytes) {
                Ok(d) => *doc = Some(d),
                Err(e) => {
                    p.settle(
                        op,
                        what,
                        Err::<(), _>(invalid(format!("it is not a JSON document ({e})"))),
                    )?;
                    continue;
                }
            }
        }
        let Some(d) = doc.as_mut() else { continue };
        // A step that refuses part-way must not leave its half-done changes behind.
        let before = (p.policy == FailurePolicy::Ignore
            && !matches!(p.step, Step::Validate(_) | Step::ReadOnly(_)))
        .then(|| d.clone());
        match p.settle(op, what, p.document(d, old))? {
            Some(c) => changed |= c,
            None => {
                if let Some(b) = before {
                    *d = b;
                }
            }
        }
    }
    Ok(changed)
}

/// Runs a table read's batch through the processors of `read`, in order.
pub(crate) fn run_batch<'a>(
    processors: impl Iterator<Item = &'a Processor>,
    mut batch: RecordBatch,
) -> Result<RecordBatch, Error> {
    for p in processors {
        let kept = batch.clone();
        batch = p.settle(Op::Read, "", p.batch(batch))?.unwrap_or(kept);
    }
    Ok(batch)
}

/// Checks a put's size and media type against the `put` processors that check them (before
/// its body is read).
pub(crate) fn check_put(
    pipeline: &Pipeline,
    size: Option<u64>,
    content_type: Option<&str>,
) -> Result<(), Error> {
    for p in pipeline.on(Op::Put) {
        p.settle(Op::Put, "", p.media_type(content_type))?;
        if let Some(size) = size {
            p.settle(Op::Put, "", p.size(size))?;
        }
    }
    Ok(())
}

fn as_object(doc: &mut Value) -> Result<&mut Map<String, Value>, Refused> {
    match doc {
        Value::Object(m) => Ok(m),
        other => Err(invalid(format!(
            "the document is {}, not a JSON object",
            describe(other)
        ))),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn lookup<'a>(doc: &'a Value, f: &FieldPath) -> Option<&'a Value> {
    f.iter().try_fold(doc, |cur, seg| cur.as_object()?.get(seg))
}

fn lookup_mut<'a>(doc: &'a mut Value, f: &FieldPath) -> Option<&'a mut Value> {
    f.iter()
        .try_fold(doc, |cur, seg| cur.as_object_mut()?.get_mut(seg))
}

fn remove(doc: &mut Value, f: &FieldPath) -> Option<Value> {
    let (last, parent) = f.split_last()?;
    lookup_mut(doc, &parent.to_vec())?.as_object_mut()?.remove(last)
}

/// Sets `f` to `v`, making the objects on its way (a non-object on the way is replaced).
fn set(object: &mut Map<String, Value>, f: &FieldPath, v: Value) {
    let Some((last, parents)) = f.split_last() else {
        return;
    };
    let mut cur = object;
    for seg in parents {
        let next = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        cur = next.as_object_mut().expect("made an object above");
    }
    cur.insert(last.clone(), v);
}

/// Sets `f` to `v` where it is missing (not where a non-object is in the way); answers whether
/// it did.
fn insert_missing(object: &mut Map<String, Value>, f: &FieldPath, v: &Value) -> bool {
    let Some((last, parents)) = f.split_last() else {
        return false;
    };
    let mut cur = object;
    for seg in parents {
        let next = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        match next.as_object_mut() {
            Some(m) => cur = m,
            None => return false,
        }
    }
    if cur.contains_key(last) {
        return false;
    }
    cur.insert(last.clone(), v.clone());
    true
}

/// Removes null members of objects, at every depth (array elements stay: their positions
/// mean something). Answers whether anything was removed.
fn drop_nulls(doc: &mut Value) -> bool {
    match doc {
        Value::Object(m) => {
            let before = m.len();
            m.retain(|_, v| !v.is_null());
            let mut changed = m.len() != before;
            for v in m.values_mut() {
                changed |= drop_nulls(v);
            }
            changed
        }
        Value::Array(a) => a.iter_mut().fold(false, |c, v| drop_nulls(v) | c),
        _ => false,
    }
}

/// Parses a binding's `processors:` list. `base` is the spec's folder (for `schemaFile`).
/// Errors name the place in the spec.
pub(crate) fn parse(
    node: &Marked,
    binding: &str,
    kind: Kind,
    base: &Path,
) -> Result<Pipeline, (Loc, String)> {
    let Node::Seq(items) = &node.node else {
        if node.is_null() {
            return Ok(Pipeline::default());
        }
        return Err((
            node.loc,
            format!(
                "processors of binding '{binding}' must be a list (- kind: validate …), not {}",
                node.describe()
            ),
        ));
    };
    let mut processors = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        processors.push(Arc::new(parse_one(item, i + 1, binding, kind, base)?));
    }
    Ok(Pipeline { processors })
}

fn parse_one(
    node: &Marked,
    position: usize,
    binding: &str,
    kind: Kind,
    base: &Path,
) -> Result<Processor, (Loc, String)> {
    let at = |loc: Loc, m: String| (loc, format!("processor {position} of binding '{binding}': {m}"));
    let Node::Map(entries) = &node.node else {
        return Err(at(
            node.loc,
            format!("must be a mapping (kind: …), not {}", node.describe()),
        ));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    };
    let kinds = || KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
    let kind_node = get("kind").ok_or_else(|| at(node.loc, format!("has no `kind`; kinds: {}", kinds())))?;
    let name = scalar(kind_node).map_err(|m| at(kind_node.loc, format!("kind {m}")))?;
    let Some(&KindInfo {
        name: pkind,
        allowed,
        usual,
        settings,
    }) = KINDS.iter().find(|k| k.name == name)
    else {
        return Err(at(
            kind_node.loc,
            format!("unknown processor kind '{name}'; kinds: {}", kinds()),
        ));
    };
    for (k, _) in entries {
        let key = k.as_str().unwrap_or("");
        if !COMMON_KEYS.contains(&key) && !settings.contains(&key) {
            let mut known: Vec<&str> = COMMON_KEYS.to_vec();
            known.extend_from_slice(settings);
            return Err(at(
                k.loc,
                format!(
                    "unknown key '{key}' for a {pkind} processor; known keys: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let kind_ops: Vec<Op> = Op::ALL.into_iter().filter(|o| o.kind() == kind).collect();
    let ops_text = |ops: &[Op]| ops.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ");
    let on = match get("on") {
        None => {
            let on: Vec<Op> = usual.iter().copied().filter(|o| o.kind() == kind).collect();
            if on.is_empty() {
                return Err(at(
                    node.loc,
                    format!(
                        "a {pkind} processor does not apply to the operations of {kind} bindings ({})",
                        ops_text(&kind_ops)
                    ),
                ));
            }
            on
        }
        Some(n) => {
            let mut on = Vec::new();
            for item in list(n).map_err(|m| at(n.loc, format!("on {m}")))? {
                let s = scalar(item).map_err(|m| at(item.loc, format!("an operation {m}")))?;
                let Some(op) = Op::ALL.into_iter().find(|o| o.as_str() == s) else {
                    return Err(at(
                        item.loc,
                        format!(
                            "unknown operation '{s}' in `on`; {kind} bindings have: {}",
                            ops_text(&kind_ops)
                        ),
                    ));
                };
                if op.kind() != kind {
                    return Err(at(
                        item.loc,
                        format!(
                            "'{s}' is not an operation of {kind} bindings; theirs: {}",
                            ops_text(&kind_ops)
                        ),
                    ));
                }
                if !allowed.contains(&op) {
                    return Err(at(
                        item.loc,
                        format!(
                            "a {pkind} processor does not apply to {s}; it applies to: {}",
                            ops_text(allowed)
                        ),
                    ));
                }
                if !on.contains(&op) {
                    on.push(op);
                }
            }
            if on.is_empty() {
                return Err(at(n.loc, "`on` names no operation".to_string()));
            }
            on
        }
    };
    let policy = match get("failurePolicy") {
        None => FailurePolicy::Fail,
        Some(n) => match scalar(n)
            .map_err(|m| at(n.loc, format!("failurePolicy {m}")))?
            .as_str()
        {
            "fail" | "Fail" => FailurePolicy::Fail,
            "ignore" | "Ignore" => FailurePolicy::Ignore,
            other => {
                return Err(at(
                    n.loc,
                    format!("failurePolicy must be fail or ignore, not '{other}'"),
                ))
            }
        },
    };
    let display_name = match get("name") {
        Some(n) => scalar(n).map_err(|m| at(n.loc, format!("name {m}")))?,
        None => pkind.to_string(),
    };
    let need = |key: &str| get(key).ok_or_else(|| at(node.loc, format!("a {pkind} processor needs `{key}`")));
    let field_at = |n: &Marked| {
        scalar(n)
            .and_then(|s| field(&s))
            .map_err(|m| at(n.loc, format!("a field {m}")))
    };
    let fields = |key: &str| -> Result<Vec<FieldPath>, (Loc, String)> {
        let n = need(key)?;
        let items = list(n).map_err(|m| at(n.loc, format!("{key} {m}")))?;
        if items.is_empty() {
            return Err(at(n.loc, format!("{key} names no field")));
        }
        items.iter().map(field_at).collect()
    };
    let table_read = on.contains(&Op::Read);
    let step = match pkind {
        "validate" => {
            let schema = match (get("schema"), get("schemaFile")) {
                (Some(s), None) => s.to_json(),
                (None, Some(f)) => {
                    let file = base.join(scalar(f).map_err(|m| at(f.loc, format!("schemaFile {m}")))?);
                    let text = crate::spec::read_bounded(&file, 16 << 20, "schema file")
                        .map_err(|m| at(f.loc, m))?;
                    serde_json::from_str(&text)
                        .map_err(|e| at(f.loc, format!("schema file {} is not JSON: {e}", file.display())))?
                }
                (Some(_), Some(f)) => {
                    return Err(at(
                        f.loc,
                        "has both `schema` and `schemaFile`; keep one".to_string(),
                    ))
                }
                (None, None) => {
                    return Err(at(
                        node.loc,
                        "a validate processor needs `schema` (a JSON Schema) or `schemaFile`".to_string(),
                    ))
                }
            };
            let validator = jsonschema::validator_for(&schema)
                .map_err(|e| at(node.loc, format!("its schema is not a valid JSON Schema: {e}")))?;
            Step::Validate(Box::new(validator))
        }
        "readOnly" => Step::ReadOnly(fields("fields")?),
        "defaults" => {
            let n = need("values")?;
            let Node::Map(values) = &n.node else {
                return Err(at(
                    n.loc,
                    format!("values must be a mapping (field: value), not {}", n.describe()),
                ));
            };
            let mut out = Vec::new();
            for (k, v) in values {
                let f = field_at(k)?;
                out.push((f, v.to_json()));
            }
            Step::Defaults(out)
        }
        "dropNulls" => Step::DropNulls,
        "maxSize" => {
            let n = need("bytes")?;
            let s = scalar(n).map_err(|m| at(n.loc, format!("bytes {m}")))?;
            let size = bindery_core::config::parse_size(&s).ok_or_else(|| {
                at(
                    n.loc,
                    format!("bytes must be {}, not '{s}'", bindery_core::config::SIZE_FORM),
                )
            })?;
            Step::MaxSize(size)
        }
        "contentTypes" => {
            let n = need("allow")?;
            let items = list(n).map_err(|m| at(n.loc, format!("allow {m}")))?;
            let mut allow = Vec::new();
            for i in items {
                let s = scalar(i).map_err(|m| at(i.loc, format!("a media type {m}")))?;
                let s = s.trim().to_ascii_lowercase();
                let parts: Vec<&str> = s.split('/').collect();
                if parts.len() != 2
                    || parts.iter().any(|p| p.is_empty())
                    || (parts[0] == "*" && parts[1] != "*")
                {
                    return Err(at(
                        i.loc,
                        format!("'{s}' is not a media type (type/subtype, type/* or */*)"),
                    ));
                }
                allow.push(s);
            }
            if allow.is_empty() {
                return Err(at(n.loc, "allow names no media type".to_string()));
            }
            Step::ContentTypes(allow)
        }
        "redact" => Step::Redact {
            fields: fields("fields")?,
            mask: get("mask")
                .map(|m| m.to_json())
                .unwrap_or_else(|| Value::String("***".into())),
        },
        "select" => Step::Select(fields("fields")?),
        "rename" => {
            let n = need("fields")?;
            let Node::Map(pairs) = &n.node else {
                return Err(at(
                    n.loc,
                    format!("fields must be a mapping (from: to), not {}", n.describe()),
                ));
            };
            let mut out = Vec::new();
            for (k, v) in pairs {
                let from = field_at(k)?;
                let to = field_at(v)?;
                out.push((from, to));
            }
            Step::Rename(out)
        }
        _ => unreachable!("every kind of KINDS is parsed"),
    };
    if table_read {
        let nested = match &step {
            Step::Redact { fields, .. } | Step::Select(fields) => fields.iter().any(|f| f.len() > 1),
            Step::Rename(pairs) => pairs.iter().any(|(a, b)| a.len() > 1 || b.len() > 1),
            _ => false,
        };
        if nested {
            return Err(at(
                node.loc,
                "on a table's read, fields are column names (no dots)".to_string(),
            ));
        }
    }
    Ok(Processor {
        kind: pkind,
        name: display_name,
        position,
        loc: node.loc,
        on,
        policy,
        step,
    })
}

fn scalar(n: &Marked) -> Result<String, String> {
    match &n.node {
        Node::Scalar { value, .. } if !n.is_null() => Ok(value.clone()),
        _ => Err(format!("must be a string, not {}", n.describe())),
    }
}

fn list(n: &Marked) -> Result<&[Marked], String> {
    match &n.node {
        Node::Seq(items) => Ok(items),
        _ => Err(format!("must be a list, not {}", n.describe())),
    }
}

fn field(s: &str) -> Result<FieldPath, String> {
    let f: FieldPath = s.split('.').map(str::to_string).collect();
    if f.iter().any(String::is_empty) {
        return Err(format!(
            "'{s}' is not a field name (names, dotted to reach inside: address.city)"
        ));
    }
    Ok(f)
}
