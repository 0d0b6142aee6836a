//! The s3 driver's objects: the object operations on one bucket.

use bindery_core::Connect;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{ByteStream as SdkStream, DateTime};
use aws_sdk_s3::Client;
use bindery_core::watch::{ChangeStream, OpWatch};
use bindery_core::{
    async_trait, ByteRange, Bytes, Capability, Conditions, Error, ErrorKind, GetResponse, Instance,
    ListEntry, ListStream, ObjectDriver, ObjectMeta, OpGet, OpList, OpPut, OpStat, PutBody, Result,
};
use bytes::BytesMut;
use futures::stream::{self, StreamExt};

use crate::config::{ConditionalWrites, Settings};
use crate::error::map_sdk_error;
use crate::upload::{self, Cutter};
use crate::S3Driver;

/// A streamed get answers in chunks of up to this many bytes.
const CHUNK: usize = 1 << 20;
/// Metadata keys that are HTTP headers of their own rather than `x-amz-meta-*`.
const HEADER_KEYS: [&str; 5] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
];
/// Content types servers give objects stored without one; not reported as metadata.
const DEFAULT_TYPES: [&str; 2] = ["binary/octet-stream", "application/octet-stream"];

/// One connected s3 binding.
pub struct S3Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) bucket: String,
    pub(crate) settings: Settings,
    capability: Capability,
    /// Whether CompleteMultipartUpload enforces `If-Match` / `If-None-Match`.
    multipart_conditions: bool,
    /// The watched prefixes.
    pub(crate) watches: crate::watch::Watches,
}

/// What the connect-time probe found the server enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Enforced {
    put_if_none_match: bool,
    put_if_match: bool,
    delete_if_match: bool,
    multipart: bool,
}

impl Enforced {
    fn all(on: bool) -> Enforced {
        Enforced {
            put_if_none_match: on,
            put_if_match: on,
            delete_if_match: on,
            multipart: on,
        }
    }
}

/// An ETag as the generation: without its quotes. (Not the version id: servers without
/// versioning send one too, Garage on puts only, so it would not match between put and get.)
pub(crate) fn gen_of(etag: Option<&str>) -> String {
    etag.unwrap_or("").trim_matches('"').to_string()
}

/// A generation as S3 wants it in `If-Match`: the ETag, quoted.
pub(crate) fn etag_of(gen: &str) -> String {
    if gen == "*" {
        return gen.to_string();
    }
    format!("\"{}\"", gen.trim_matches('"'))
}

fn time_of(t: Option<&DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

/// The object's metadata as bindery shows it: user metadata plus the standard headers set.
fn metadata_of(
    user: Option<&HashMap<String, String>>,
    headers: [(&str, Option<&str>); 5],
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = user
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    for (k, v) in headers {
        if let Some(v) = v.filter(|v| !(k == "content-type" && DEFAULT_TYPES.contains(v))) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

/// Splits bindery metadata into the standard headers and user metadata, refusing what S3
/// cannot carry.
#[derive(Debug)]
pub(crate) struct PutHeaders {
    pub(crate) user: HashMap<String, String>,
    pub(crate) standard: BTreeMap<&'static str, String>,
}

impl PutHeaders {
    fn from(metadata: &BTreeMap<String, String>) -> Result<PutHeaders> {
        let mut out = PutHeaders {
            user: HashMap::new(),
            standard: BTreeMap::new(),
        };
        for (k, v) in metadata {
            let key = k.to_ascii_lowercase();
            let printable = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
            if key.is_empty() || !printable(&key) || key.contains([' ', ':']) {
                return Err(Error::invalid_input(format!(
                    "metadata key '{k}': S3 takes keys of printable ASCII without spaces or ':'"
                )));
            }
            if !printable(v) {
                return Err(Error::invalid_input(format!(
                    "metadata '{k}': S3 takes printable ASCII values only (encode others, e.g. as base64)"
                )));
            }
            match HEADER_KEYS.iter().find(|h| **h == key) {
                Some(h) => {
                    out.standard.insert(h, v.clone());
                }
                None => {
                    out.user.insert(key, v.clone());
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.standard.get(key).cloned()
    }

    /// The metadata as stored: every key lowercase.
    fn stored(&self) -> BTreeMap<String, String> {
        let standard = self.standard.iter().map(|(k, v)| (k.to_string(), v.clone()));
        self.user
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(standard)
            .collect()
    }
}

/// Sets the metadata of a put or of a multipart upload's start (S3 takes it on either).
macro_rules! with_headers {
    ($req:expr, $headers:expr) => {{
        let h = &$headers;
        $req.set_metadata(Some(h.user.clone()).filter(|m| !m.is_empty()))
            .set_content_type(h.get("content-type"))
            .set_content_encoding(h.get("content-encoding"))
            .set_content_disposition(h.get("content-disposition"))
            .set_content_language(h.get("content-language"))
            .set_cache_control(h.get("cache-control"))
    }};
}
pub(crate) use with_headers;

/// What is known of an object just written with `headers`.
pub(crate) fn written(path: &str, size: u64, etag: Option<&str>, headers: &PutHeaders) -> ObjectMeta {
    ObjectMeta {
        path: path.to_string(),
        size,
        gen: gen_of(etag),
        modified: Some(SystemTime::now()),
        metadata: headers.stored(),
    }
}

/// What is known of a got object, from the headers of a get or head answer.
struct Answer<'a> {
    etag: Option<&'a str>,
    size: u64,
    modified: Option<&'a DateTime>,
    user: Option<&'a HashMap<String, String>>,
    headers: [(&'a str, Option<&'a str>); 5],
}

impl Answer<'_> {
    fn meta(&self, path: &str) -> ObjectMeta {
        ObjectMeta {
            path: path.to_string(),
            size: self.size,
            gen: gen_of(self.etag),
            modified: time_of(self.modified),
            metadata: metadata_of(self.user, self.headers),
        }
    }
}

macro_rules! answer {
    ($out:expr, $size:expr) => {
        Answer {
            etag: $out.e_tag(),
            size: $size,
            modified: $out.last_modified(),
            user: $out.metadata(),
            headers: [
                ("content-type", $out.content_type()),
                ("content-encoding", $out.content_encoding()),
                ("content-disposition", $out.content_disposition()),
                ("content-language", $out.content_language()),
                ("cache-control", $out.cache_control()),
            ],
        }
    };
}

/// The whole object's size from a `Content-Range: bytes A-B/SIZE` header.
fn total_of(content_range: Option<&str>) -> Option<u64> {
    content_range?.rsplit_once('/')?.1.parse().ok()
}

/// Checks the answer's generation against the conditions (the server may not have).
fn check_conditions(conditions: &Conditions, gen: &str) -> Result<()> {
    let tag = gen.split_once('@').map_or(gen, |(t, _)| t);
    let strip = |c: &Option<String>| {
        c.as_ref().map(|v| {
            v.split_once('@')
                .map_or(v.as_str(), |(t, _)| t)
                .trim_matches('"')
                .to_string()
        })
    };
    Conditions {
        if_match: strip(&conditions.if_match),
        if_none_match: strip(&conditions.if_none_match),
    }
    .check(Some(tag))
}

impl S3Store {
    /// Connects to the bucket: checks it is there and usable, and learns which conditional
    /// writes the server enforces.
    pub(crate) async fn connect(client: Client, settings: Settings) -> Result<S3Store> {
        let bucket = settings.bucket.clone();
        let where_ = settings
            .endpoint
            .as_deref()
            .map_or_else(|| format!("s3://{bucket}"), |e| format!("{e}/{bucket}"));
        client.head_bucket().bucket(&bucket).send().await.map_err(|e| {
            let e = map_sdk_error(e, &format!("connect to bucket '{bucket}' at {where_}"));
            match e.kind() {
                ErrorKind::NotFound => Error::not_found(format!(
                    "bucket '{bucket}' does not exist at {where_} (create it first)"
                )),
                _ => e,
            }
        })?;
        let enforced = match settings.conditional_writes {
            ConditionalWrites::On => Enforced::all(true),
            ConditionalWrites::Off => Enforced::all(false),
            ConditionalWrites::Probe => probe(&client, &bucket).await?,
        };
        tracing::debug!(bucket = %bucket, ?enforced, "s3 binding connected");
        let mut capability = S3Driver::CAPABILITY;
        capability.put_with_if_none_match = enforced.put_if_none_match;
        capability.put_with_if_match = enforced.put_if_match;
        capability.delete_with_if_match = enforced.delete_if_match;
        Ok(S3Store {
            inner: Arc::new(Inner {
                client,
                bucket,
                settings,
                capability,
                multipart_conditions: enforced.multipart,
                watches: crate::watch::Watches::default(),
            }),
        })
    }

    /// A put of any size: one request, or a multipart upload.
    async fn put_any(&self, path: &str, mut body: PutBody, op: OpPut) -> Result<ObjectMeta> {
        if op.conditions.if_none_match.as_deref().is_some_and(|v| v != "*") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "S3 takes only '*' for if-none-match on a put (create only)",
            ));
        }
        let headers = PutHeaders::from(&op.metadata)?;
        let part_size = self.inner.settings.part_size as usize;
        let mut cutter = Cutter::new(part_size);
        let mut ended = false;
        while cutter.held() <= part_size {
            match body.next_chunk().await {
                Some(chunk) => cutter.push(chunk?),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            let data = cutter.take(true).unwrap_or_default();
            return self.put_single(path, data, &op, headers).await;
        }
        if !op.conditions.is_empty() && !self.inner.multipart_conditions {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "a conditional put larger than one part ({part_size} bytes) needs a server that enforces \
                     conditions on multipart uploads, and this one does not"
                ),
            ));
        }
        upload::multipart(&self.inner, path, cutter, body, &op, headers).await
    }

    async fn put_single(
        &self,
        path: &str,
        data: Bytes,
        op: &OpPut,
        headers: PutHeaders,
    ) -> Result<ObjectMeta> {
        let size = data.len() as u64;
        let req = self
            .inner
            .client
            .put_object()
            .bucket(&self.inner.bucket)
            .key(path)
            .content_length(size as i64)
            .body(SdkStream::from(data));
        let mut req = with_headers!(req, headers);
        if let Some(m) = &op.conditions.if_match {
            req = req.if_match(etag_of(m));
        }
        if op.conditions.if_none_match.is_some() {
            req = req.if_none_match("*");
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &format!("put '{path}'")))?;
        Ok(written(path, size, out.e_tag(), &headers))
    }

    /// A get answered from a head, for the ranges S3 cannot express (empty ones) or refuses
    /// on an empty object.
    async fn get_empty_range(&self, path: &str, range: ByteRange, op: OpGet) -> Result<GetResponse> {
        let meta = self
            .head(
                path,
                OpStat {
                    conditions: op.conditions,
                    version: op.version,
                    options: op.options,
                },
            )
            .await?;
        let span = range.resolve(meta.size)?;
        if !span.is_empty() {
            return Err(Error::internal(format!(
                "get '{path}': the server refused the range {span:?} of a {}-byte object",
                meta.size
            )));
        }
        Ok(GetResponse {
            meta,
            body: stream::empty().boxed(),
        })
    }
}

impl Instance for S3Store {
    fn capability(&self) -> Capability {
        self.inner.capability
    }

    fn object(&self) -> Option<&dyn ObjectDriver> {
        Some(self)
    }
}

/// Learns which conditional writes the server enforces, on a key of its own.
async fn probe(client: &Client, bucket: &str) -> Result<Enforced> {
    let key = format!(
        ".bindery-probe-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let what =
        format!("probe conditional writes on bucket '{bucket}' (set options.conditional_writes to skip)");
    client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(SdkStream::from_static(b"probe"))
        .send()
        .await
        .map_err(|e| map_sdk_error(e, &what))?;
    let refused =
        |r: std::result::Result<(), Error>| matches!(r, Err(e) if e.kind() == ErrorKind::ConditionFailed);
    let put_if_none_match = refused(
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .if_none_match("*")
            .body(SdkStream::from_static(b"probe, overwritten"))
            .send()
            .await
            .map(drop)
            .map_err(|e| map_sdk_error(e, &what)),
    );
    let wrong = "\"00000000000000000000000000000000\"";
    let put_if_match = refused(
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .if_match(wrong)
            .body(SdkStream::from_static(b"probe, overwritten"))
            .send()
            .await
            .map(drop)
            .map_err(|e| map_sdk_error(e, &what)),
    );
    let multipart = put_if_none_match && put_if_match && probe_multipart(client, bucket, &key).await;
    let delete_if_match = refused(
        client
            .delete_object()
            .bucket(bucket)
            .key(&key)
            .if_match(wrong)
            .send()
            .await
            .map(drop)
            .map_err(|e| map_sdk_error(e, &what)),
    );
    client
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| map_sdk_error(e, &what))?;
    Ok(Enforced {
        put_if_none_match,
        put_if_match,
        delete_if_match,
        multipart,
    })
}

/// Whether CompleteMultipartUpload refuses `If-None-Match: *` on an existing key.
async fn probe_multipart(client: &Client, bucket: &str, key: &str) -> bool {
    let Ok(created) = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    else {
        return false;
    };
    let Some(id) = created.upload_id() else {
        return false;
    };
    let part = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(1)
        .body(SdkStream::from_static(b"probe, overwritten"))
        .send()
        .await;
    let refused = match part {
        Ok(p) => {
            let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(p.e_tag().map(str::to_string))
                        .build(),
                )
                .build();
            let done = client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .multipart_upload(parts)
                .if_none_match("*")
                .send()
                .await;
            done.is_err_and(|e| map_sdk_error(e, "probe").kind() == ErrorKind::ConditionFailed)
        }
        Err(_) => false,
    };
    let _ = client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await;
    refused
}

#[async_trait]
impl ObjectDriver for S3Store {
    async fn get(&self, path: &str, op: OpGet) -> Result<GetResponse> {
        let inner = &self.inner;
        let mut req = inner.client.get_object().bucket(&inner.bucket).key(path);
        if let Some(r) = op.range {
            if r.length == Some(0) {
                return self.get_empty_range(path, r, op).await;
            }
            let end = r
                .length
                .map(|n| (r.offset + n - 1).to_string())
                .unwrap_or_default();
            req = req.range(format!("bytes={}-{end}", r.offset));
        }
        if let Some(m) = &op.conditions.if_match {
            req = req.if_match(etag_of(m));
        }
        if let Some(m) = &op.conditions.if_none_match {
            req = req.if_none_match(etag_of(m));
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) => {
                let e = map_sdk_error(e, &format!("get '{path}'"));
                // S3 refuses (416) any range of an empty object and ranges starting at the
                // end, where bindery's rules give an empty answer; the head decides.
                if let (Some(r), ErrorKind::InvalidInput) = (op.range, e.kind()) {
                    return self.get_empty_range(path, r, op).await;
                }
                return Err(e);
            }
        };
        let length = out.content_length().unwrap_or(0).max(0) as u64;
        let size = match op.range {
            Some(_) => total_of(out.content_range()).unwrap_or(length),
            None => length,
        };
        let meta = answer!(out, size).meta(path);
        check_conditions(&op.conditions, &meta.gen)?;
        let mut body = out.body;
        if op.whole {
            let mut buf = BytesMut::with_capacity(length as usize);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| read_error(path, e))?;
                if buf.is_empty() && chunk.len() as u64 == length {
                    // The whole answer arrived as one buffer: pass it on as it is.
                    return Ok(GetResponse {
                        meta,
                        body: stream::once(async move { Ok(chunk) }).boxed(),
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            let data = buf.freeze();
            return Ok(GetResponse {
                meta,
                body: stream::once(async move { Ok(data) }).boxed(),
            });
        }
        let path = path.to_string();
        let chunks = stream::unfold(Some(body), move |state| {
            let path = path.clone();
            async move {
                let mut body = state?;
                let mut buf = BytesMut::new();
                loop {
                    match body.next().await {
                        Some(Ok(chunk)) if buf.is_empty() && chunk.len() >= CHUNK => {
                            return Some((Ok(chunk), Some(body)));
                        }
                        Some(Ok(chunk)) => {
                            if buf.is_empty() {
                                buf.reserve(CHUNK);
                            }
                            buf.extend_from_slice(&chunk);
                            if buf.len() >= CHUNK {
                                return Some((Ok(buf.freeze()), Some(body)));
                            }
                        }
                        Some(Err(e)) => return Some((Err(read_error(&path, e)), None)),
                        None if buf.is_empty() => return None,
                        None => return Some((Ok(buf.freeze()), None)),
                    }
                }
            }
        });
        Ok(GetResponse {
            meta,
            body: chunks.boxed(),
        })
    }

    async fn put(&self, path: &str, body: PutBody, op: OpPut) -> Result<ObjectMeta> {
        let meta = self.put_any(path, body, op).await?;
        let state = (meta.gen.clone(), meta.size);
        self.inner.watches.record(path, Some(state)).await;
        Ok(meta)
    }

    async fn watch(&self, prefix: &str, op: OpWatch) -> Result<ChangeStream> {
        crate::watch::watch(&self.inner, prefix, op).await
    }

    async fn head(&self, path: &str, op: OpStat) -> Result<ObjectMeta> {
        let inner = &self.inner;
        let mut req = inner.client.head_object().bucket(&inner.bucket).key(path);
        if let Some(m) = &op.conditions.if_match {
            req = req.if_match(etag_of(m));
        }
        if let Some(m) = &op.conditions.if_none_match {
            req = req.if_none_match(etag_of(m));
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &format!("head '{path}'")))?;
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        let meta = answer!(out, size).meta(path);
        check_conditions(&op.conditions, &meta.gen)?;
        Ok(meta)
    }

    async fn delete(&self, path: &str, op: OpStat) -> Result<()> {
        let inner = &self.inner;
        let mut req = inner.client.delete_object().bucket(&inner.bucket).key(path);
        if let Some(m) = &op.conditions.if_match {
            req = req.if_match(etag_of(m));
        }
        if op.conditions.if_none_match.is_some() {
            return Err(Error::new(ErrorKind::Unsupported, "del takes if-match only"));
        }
        match req.send().await {
            Ok(_) => {
                self.inner.watches.record(path, None).await;
                Ok(())
            }
            Err(e) => {
                let e = map_sdk_error(e, &format!("del '{path}'"));
                // With if-match, a missing object fails the condition, as for every driver.
                match (e.kind(), &op.conditions.if_match) {
                    (ErrorKind::NotFound, Some(m)) => Err(Error::condition_failed(format!(
                        "if-match '{m}': the object does not exist"
                    ))),
                    _ => Err(e),
                }
            }
        }
    }

    async fn list(&self, prefix: &str, op: OpList) -> Result<ListStream> {
        let inner = self.inner.clone();
        let prefix = prefix.to_string();
        let delimiter = op.delimiter.clone().filter(|d| !d.is_empty());
        let limit = op.limit;
        // Pages are fetched as the caller reads: (continuation token, entries left to give).
        struct Page {
            token: Option<String>,
            first: bool,
            left: Option<u64>,
        }
        let start = Page {
            token: None,
            first: true,
            left: limit,
        };
        let start_after = op.start_after.clone();
        let pages = stream::unfold(Some(start), move |state| {
            let inner = inner.clone();
            let prefix = prefix.clone();
            let delimiter = delimiter.clone();
            let start_after = start_after.clone();
            async move {
                let page = state?;
                if page.left == Some(0) || (!page.first && page.token.is_none()) {
                    return None;
                }
                let max = page.left.map_or(1000, |n| n.min(1000)) as i32;
                let mut req = inner
                    .client
                    .list_objects_v2()
                    .bucket(&inner.bucket)
                    .prefix(&prefix)
                    .max_keys(max)
                    .set_delimiter(delimiter.clone())
                    .set_continuation_token(page.token.clone());
                if page.first {
                    req = req.set_start_after(start_after.clone());
                }
                let out = match req.send().await {
                    Ok(out) => out,
                    Err(e) => return Some((vec![Err(map_sdk_error(e, &format!("list '{prefix}'")))], None)),
                };
                let objects = out.contents().iter().map(|o| {
                    ListEntry::Object(ObjectMeta {
                        path: o.key().unwrap_or_default().to_string(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                        gen: gen_of(o.e_tag()),
                        modified: time_of(o.last_modified()),
                        metadata: BTreeMap::new(),
                    })
                });
                let prefixes = out
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(|p| ListEntry::Prefix(p.to_string()));
                // Each page holds keys and common prefixes of one key range, each sorted:
                // merged, they are in order.
                let mut entries: Vec<ListEntry> = objects.chain(prefixes).collect();
                entries.sort_by(|a, b| a.path().cmp(b.path()));
                if let Some(n) = page.left {
                    entries.truncate(n as usize);
                }
                let left = page.left.map(|n| n - entries.len() as u64);
                let token = out
                    .is_truncated()
                    .unwrap_or(false)
                    .then(|| out.next_continuation_token().map(str::to_string))
                    .flatten();
                let next = Page {
                    token,
                    first: false,
                    left,
                };
                let done = next.token.is_none();
                Some((entries.into_iter().map(Ok).collect(), (!done).then_some(next)))
            }
        });
        Ok(pages.flat_map(stream::iter).boxed())
    }
}

fn read_error(path: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::unavailable(format!("get '{path}': the answer broke off: {e}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_etags_without_quotes() {
        assert_eq!(gen_of(Some("\"abc-2\"")), "abc-2");
        assert_eq!(etag_of("abc-2"), "\"abc-2\"");
        assert_eq!(etag_of("\"abc\""), "\"abc\"");
        assert_eq!(etag_of("*"), "*");
        let mut c = Conditions::default();
        c.set("if-match", "\"abc\"").unwrap();
        assert!(
            check_conditions(&c, "abc").is_ok(),
            "quoted or not, the same ETag"
        );
        assert!(check_conditions(&c, "abd").is_err());
    }

    #[test]
    fn content_ranges_give_the_size() {
        assert_eq!(total_of(Some("bytes 100-149/10000")), Some(10_000));
        assert_eq!(total_of(Some("bytes */10")), Some(10));
        assert_eq!(total_of(None), None);
    }

    #[test]
    fn metadata_splits_into_headers_and_user_keys() {
        let md: BTreeMap<String, String> = [("Content-Type", "text/plain"), ("Owner", "ana")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let h = PutHeaders::from(&md).unwrap();
        assert_eq!(h.get("content-type").as_deref(), Some("text/plain"));
        assert_eq!(h.user.get("owner").map(String::as_str), Some("ana"));
        for (k, v) in [("ok", "ünïcode"), ("with space", "x"), ("", "x"), ("a:b", "x")] {
            let md = BTreeMap::from([(k.to_string(), v.to_string())]);
            let e = PutHeaders::from(&md).expect_err(k);
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{k}");
        }
        let back = metadata_of(
            Some(&HashMap::from([("owner".to_string(), "ana".to_string())])),
            [
                ("content-type", Some("binary/octet-stream")),
                ("content-encoding", Some("gzip")),
                ("content-disposition", None),
                ("content-language", None),
                ("cache-control", None),
            ],
        );
        assert_eq!(back.len(), 2, "{back:?}");
        assert_eq!(back.get("content-encoding").map(String::as_str), Some("gzip"));
    }
}
