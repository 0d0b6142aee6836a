//! The processors layer: the binding's pipeline ([`crate::processors`]) run on what the
//! caller asked, before the host fills anything in for the driver, and on what the driver
//! answered, after.
//!
//! - **put**: the size and media type are checked before the body is read (a streamed body
//!   that grows past `maxSize` ends with the refusal, and the driver's put with it, leaving
//!   nothing). When a processor works on documents the body is read whole (at most
//!   [`MAX_DOCUMENT`] bytes), run through the pipeline, and put as it came out. With a
//!   `readOnly` processor the stored document is read first, and the put is made conditional
//!   on it (`if-match` its generation, or `if-none-match: *` when there is none) unless the
//!   caller gave a condition: a write that raced this one answers `ConditionFailed`.
//! - **get**: the object is read whole, run through the pipeline and answered as one frame
//!   (its size the processed size); a byte range is refused when the pipeline works on gets.
//! - **publish**: each message's value; a refusal of any refuses the whole publish.
//! - **consume**: each message's value as it arrives.
//! - **write**: each row (JSON rows as given; Arrow batches as JSON rows, written back as
//!   JSON rows only when a processor changed them).
//! - **read**: each batch, by column.

use std::sync::Arc;

use arc_swap::ArcSwap;
use bindery_core::{
    Bytes, Capability, DataRequest, Details, Encoding, Error, ErrorKind, FrameStream, Head, Items, OpGet,
    OpPut, PutBody, ResponseMessage, Result,
};
use futures::{stream, StreamExt};

use super::Layer;
use crate::processors::{self, Op, Pipeline, Processor};

/// The largest body the processors read whole (a larger one is refused when a processor works
/// on put documents; set `maxSize` lower to refuse sooner).
pub(crate) const MAX_DOCUMENT: u64 = 256 << 20;

/// Runs the binding's processors around the layer inside. The pipeline is swapped whole when
/// the spec is read again (`Host::reload_processors`); a request keeps the one it began with.
pub(crate) struct Process<L> {
    inner: L,
    pipeline: Arc<ArcSwap<Pipeline>>,
    capability: Capability,
}

impl<L> Process<L> {
    pub(crate) fn new(inner: L, pipeline: Arc<ArcSwap<Pipeline>>, capability: Capability) -> Process<L> {
        Process {
            inner,
            pipeline,
            capability,
        }
    }
}

impl<L: Layer> Layer for Process<L> {
    async fn call(&self, request: DataRequest) -> Result<FrameStream> {
        let pipeline = self.pipeline.load_full();
        if pipeline.is_empty() {
            return self.inner.call(request).await;
        }
        let DataRequest { path, details } = request;
        let call = |details| {
            self.inner.call(DataRequest {
                path: path.clone(),
                details,
            })
        };
        match details {
            Details::ObjectPut(mut op, body) if pipeline.applies(Op::Put) => {
                let body = self.put(&pipeline, &path, &mut op, body).await?;
                call(Details::ObjectPut(op, body)).await
            }
            Details::ObjectGet(op) if pipeline.applies(Op::Get) => {
                if op.range.is_some() {
                    return Err(Error::invalid_input(
                        "a byte range cannot be read from this binding: its processors work on whole documents on get",
                    ));
                }
                let frames = call(Details::ObjectGet(op)).await?;
                processed_get(&pipeline, frames).await
            }
            Details::StreamPublish(mut op) if pipeline.applies(Op::Publish) => {
                let many = op.messages.len() > 1;
                for (i, m) in op.messages.iter_mut().enumerate() {
                    let what = if many {
                        format!(" (message {})", i + 1)
                    } else {
                        String::new()
                    };
                    if let Some(v) = processed(pipeline.on(Op::Publish), Op::Publish, &what, &m.value, None)?
                    {
                        m.value = v;
                    }
                }
                call(Details::StreamPublish(op)).await
            }
            Details::StreamConsume(op) if pipeline.applies(Op::Consume) => {
                let frames = call(Details::StreamConsume(op)).await?;
                Ok(frames
                    .map(move |f| {
                        let mut f = f?;
                        if let Head::Messages(messages) = &mut f.head {
                            for m in messages {
                                let what = format!(" (message {})", m.position_string());
                                if let Some(v) =
                                    processed(pipeline.on(Op::Consume), Op::Consume, &what, &m.value, None)?
                                {
                                    m.value = v;
                                }
                            }
                        }
                        Ok(f)
                    })
                    .boxed())
            }
            Details::TableWrite(mut op) if pipeline.applies(Op::Write) => {
                op.items = processed_rows(&pipeline, std::mem::take(&mut op.items))?;
                call(Details::TableWrite(op)).await
            }
            Details::TableRead(op) if pipeline.applies(Op::Read) => {
                let frames = call(Details::TableRead(op)).await?;
                Ok(frames
                    .map(move |f| {
                        let mut f = f?;
                        if let Head::Batch(b) = &mut f.head {
                            *b = processors::run_batch(pipeline.on(Op::Read), b.clone())?;
                        }
                        Ok(f)
                    })
                    .boxed())
            }
            details => call(details).await,
        }
    }
}

impl<L: Layer> Process<L> {
    /// A put's body through the pipeline (see the module's description).
    async fn put(&self, pipeline: &Pipeline, path: &str, op: &mut OpPut, body: PutBody) -> Result<PutBody> {
        let content_type = op.metadata.get("content-type").map(String::as_str);
        processors::check_put(pipeline, body.known_size(), content_type)?;
        // The smallest size a `maxSize` that fails allows: a streamed body is cut off there.
        let limit = pipeline
            .on(Op::Put)
            .filter(|p| p.policy == processors::FailurePolicy::Fail)
            .filter(|p| p.max_size().is_some())
            .min_by_key(|p| p.max_size());
        let body = match (body.known_size(), limit) {
            (None, Some(p)) => limited(body, p),
            _ => body,
        };
        if !pipeline.reads_documents(Op::Put) {
            return Ok(body);
        }
        let bytes = match body.known_size() {
            Some(n) if n > MAX_DOCUMENT => return Err(too_big_for_processors(n)),
            Some(_) => body.collect().await?,
            None => read_at_most(body, MAX_DOCUMENT).await?,
        };
        let old = if pipeline.on(Op::Put).any(|p| p.kind == "readOnly") {
            self.stored(path, op).await?
        } else {
            None
        };
        let bytes = processed(pipeline.on(Op::Put), Op::Put, "", &bytes, old.as_ref())?.unwrap_or(bytes);
        Ok(PutBody::from_chunks([bytes]))
    }

    /// The stored document a put replaces (for `readOnly`), `None` when there is none; makes
    /// the put conditional on it when the caller gave no condition and the driver can.
    async fn stored(&self, path: &str, op: &mut OpPut) -> Result<Option<serde_json::Value>> {
        let get = OpGet {
            whole: true,
            ..OpGet::default()
        };
        let frames = self
            .inner
            .call(DataRequest {
                path: path.to_string(),
                details: Details::ObjectGet(get),
            })
            .await;
        let collected = match frames {
            Ok(frames) => collect(frames).await,
            Err(e) => Err(e),
        };
        let unconditional = op.conditions.if_match.is_none() && op.conditions.if_none_match.is_none();
        match collected {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if unconditional && self.capability.put_with_if_none_match {
                    op.conditions.if_none_match = Some("*".to_string());
                }
                Ok(None)
            }
            Err(e) => Err(e),
            Ok((head, bytes)) => {
                if let (true, true, Head::Object(meta)) =
                    (unconditional, self.capability.put_with_if_match, &head)
                {
                    op.conditions.if_match = Some(meta.gen.clone());
                }
                // A stored object that is not JSON has no fields: a read-only field the put
                // sets is a change.
                Ok(Some(
                    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
                ))
            }
        }
    }
}

/// A get's frames read whole, run through the pipeline, and answered as one frame.
async fn processed_get(pipeline: &Pipeline, frames: FrameStream) -> Result<FrameStream> {
    let (mut head, bytes) = collect(frames).await?;
    let bytes = processed(pipeline.on(Op::Get), Op::Get, "", &bytes, None)?.unwrap_or(bytes);
    let size = bytes.len() as u64;
    if let Head::Object(meta) = &mut head {
        meta.size = size;
    }
    let frame = ResponseMessage {
        size,
        encoding: Encoding::Raw,
        is_last: true,
        head,
        buffer: bytes,
        ..ResponseMessage::default()
    };
    Ok(stream::once(async move { Ok(frame) }).boxed())
}

/// A response's head (its first that has one) and its buffers joined.
async fn collect(mut frames: FrameStream) -> Result<(Head, Bytes)> {
    let mut head = Head::None;
    let mut parts: Vec<Bytes> = Vec::new();
    while let Some(f) = frames.next().await {
        let f = f?;
        if matches!(head, Head::None) {
            head = f.head;
        }
        if !f.buffer.is_empty() {
            parts.push(f.buffer);
        }
        if f.is_last {
            break;
        }
    }
    let bytes = match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => Bytes::from(parts.concat()),
    };
    Ok((head, bytes))
}

/// A table write's rows through the pipeline: each a document. JSON rows go on as they came
/// out; batches go on as JSON rows only when a processor changed one.
fn processed_rows(pipeline: &Pipeline, items: Items) -> Result<Items> {
    let (rows, batches) = match items {
        Items::None => return Ok(Items::None),
        Items::Json(rows) => (rows, None),
        Items::Batches(batches) => {
            let mut rows = Vec::new();
            for b in &batches {
                for text in bindery_core::table::build::row_texts(b)? {
                    rows.push(
                        serde_json::from_str(&text)
                            .map_err(|e| Error::internal(format!("a row as JSON did not parse: {e}")))?,
                    );
                }
            }
            (rows, Some(batches))
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut changed = false;
    for (i, row) in rows.into_iter().enumerate() {
        let what = format!(" (row {})", i + 1);
        let mut doc = Some(serde_json::Value::Object(row));
        changed |= processors::run_document(pipeline.on(Op::Write), Op::Write, &what, &[], &mut doc, None)?;
        match doc {
            Some(serde_json::Value::Object(m)) => out.push(m),
            other => {
                return Err(Error::invalid_input(format!(
                    "row {} is {} after the binding's processors, not a JSON object",
                    i + 1,
                    other.unwrap_or_default()
                )))
            }
        }
    }
    Ok(match batches {
        Some(batches) if !changed => Items::Batches(batches),
        _ => Items::Json(out),
    })
}

/// A document's bytes through `processors`: the new bytes when one changed it.
fn processed<'a>(
    processors: impl Iterator<Item = &'a Processor>,
    op: Op,
    what: &str,
    bytes: &[u8],
    old: Option<&serde_json::Value>,
) -> Result<Option<Bytes>> {
    let mut doc = None;
    match (
        processors::run_document(processors, op, what, bytes, &mut doc, old)?,
        doc,
    ) {
        (true, Some(v)) => json_bytes(&v).map(Some),
        _ => Ok(None),
    }
}

fn json_bytes(v: &serde_json::Value) -> Result<Bytes> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| Error::internal(format!("cannot write the processed document: {e}")))
}

fn too_big_for_processors(size: u64) -> Error {
    Error::invalid_input(format!(
        "{size} bytes is more than the {MAX_DOCUMENT} bytes the binding's processors read as one document"
    ))
    .with_source(processors::Refusal::TooLarge)
}

/// A streamed body that ends with the `maxSize` processor `p`'s refusal once it passes its
/// size.
fn limited(body: PutBody, p: &Processor) -> PutBody {
    let max = p.max_size().unwrap_or(u64::MAX);
    let refusal = p.too_large(max.saturating_add(1));
    let chunks = stream::unfold(
        (body, 0u64, Some(refusal)),
        move |(mut body, seen, refusal)| async move {
            let refusal = refusal?;
            match body.next_chunk().await? {
                Err(e) => Some((Err(e), (body, seen, None))),
                Ok(chunk) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > max {
                        Some((Err(refusal), (body, seen, None)))
                    } else {
                        Some((Ok(chunk), (body, seen, Some(refusal))))
                    }
                }
            }
        },
    );
    PutBody::from_stream(chunks.boxed())
}

/// A streamed body read whole, refused past `cap` bytes.
async fn read_at_most(mut body: PutBody, cap: u64) -> Result<Bytes> {
    let mut buf = Vec::new();
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk?;
        if buf.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_big_for_processors(buf.len() as u64 + chunk.len() as u64));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}
