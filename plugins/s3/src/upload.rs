//! Multipart uploads: a body cut into parts, a bounded number of them in flight.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bindery_core::{Bytes, Error, ObjectMeta, OpPut, PutBody, Result};
use bytes::BytesMut;

use crate::error::map_sdk_error;
use crate::object::{with_headers, written, Inner, PutHeaders};

/// Attempts per part before the upload fails.
const PART_ATTEMPTS: u32 = 3;

/// Cuts a body into parts of one size (the last may be shorter), copying only where a part
/// spans chunks: a chunk at least a part long is sliced, not copied.
pub(crate) struct Cutter {
    size: usize,
    held: VecDeque<Bytes>,
    held_len: usize,
}

impl Cutter {
    pub(crate) fn new(size: usize) -> Cutter {
        Cutter {
            size,
            held: VecDeque::new(),
            held_len: 0,
        }
    }

    /// Bytes held, not yet cut off.
    pub(crate) fn held(&self) -> usize {
        self.held_len
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.held_len += chunk.len();
            self.held.push_back(chunk);
        }
    }

    /// The next part: a full one, or with `last` whatever is held (`None` when nothing is).
    pub(crate) fn take(&mut self, last: bool) -> Option<Bytes> {
        if self.held_len == 0 || (!last && self.held_len < self.size) {
            return None;
        }
        let n = if last { self.held_len } else { self.size };
        self.held_len -= n;
        let front = self.held.front_mut()?;
        if front.len() >= n {
            let part = front.split_to(n);
            if front.is_empty() {
                self.held.pop_front();
            }
            return Some(part);
        }
        let mut buf = BytesMut::with_capacity(n);
        while buf.len() < n {
            let Some(front) = self.held.front_mut() else { break };
            let k = (n - buf.len()).min(front.len());
            buf.extend_from_slice(&front.split_to(k));
            if front.is_empty() {
                self.held.pop_front();
            }
        }
        Some(buf.freeze())
    }
}

/// Aborts the upload when dropped before it completed (an error, or the request dropped).
struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let req = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id);
        let key = self.key.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = req.send().await {
                    tracing::warn!(key = %key, error = %map_sdk_error(e, "abort upload"), "an unfinished multipart upload was not aborted");
                }
            });
        }
    }
}

async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    id: String,
    n: i32,
    data: Bytes,
) -> Result<CompletedPart> {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let res = client
            .upload_part()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&id)
            .part_number(n)
            .content_length(data.len() as i64)
            .body(SdkStream::from(data.clone()))
            .send()
            .await;
        match res {
            Ok(out) => {
                return Ok(CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build())
            }
            Err(e) => {
                let e = map_sdk_error(e, &format!("put '{key}': upload part {n}"));
                if !e.is_retryable() || attempt == PART_ATTEMPTS {
                    return Err(e);
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

/// Uploads a body (its first bytes already in `cutter`) as a multipart upload.
pub(crate) async fn multipart(
    inner: &Inner,
    path: &str,
    mut cutter: Cutter,
    mut body: PutBody,
    op: &OpPut,
    headers: PutHeaders,
) -> Result<ObjectMeta> {
    let client = &inner.client;
    let start = client.create_multipart_upload().bucket(&inner.bucket).key(path);
    let created = with_headers!(start, headers)
        .send()
        .await
        .map_err(|e| map_sdk_error(e, &format!("put '{path}': start a multipart upload")))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| Error::internal(format!("put '{path}': the server gave no upload id")))?
        .to_string();
    let mut guard = AbortGuard {
        client: client.clone(),
        bucket: inner.bucket.clone(),
        key: path.to_string(),
        upload_id: upload_id.clone(),
        armed: true,
    };
    let part_size = inner.settings.part_size as usize;
    // Dropping the set (on an error, or when this request is dropped) stops its uploads.
    let mut running = tokio::task::JoinSet::new();
    let mut done: Vec<CompletedPart> = Vec::new();
    let mut size = 0u64;
    let mut number = 0i32;
    let mut ended = false;
    loop {
        while !ended && cutter.held() < part_size {
            match body.next_chunk().await {
                Some(chunk) => cutter.push(chunk?),
                None => ended = true,
            }
        }
        let Some(part) = cutter.take(ended) else { break };
        if running.len() >= inner.settings.concurrency {
            if let Some(r) = running.join_next().await {
                done.push(
                    r.map_err(|e| Error::internal(format!("put '{path}': a part's task failed: {e}")))??,
                );
            }
        }
        number += 1;
        size += part.len() as u64;
        running.spawn(upload_part(
            client.clone(),
            inner.bucket.clone(),
            path.to_string(),
            upload_id.clone(),
            number,
            part,
        ));
    }
    while let Some(r) = running.join_next().await {
        done.push(r.map_err(|e| Error::internal(format!("put '{path}': a part's task failed: {e}")))??);
    }
    done.sort_by_key(|p| p.part_number());
    let mut req = client
        .complete_multipart_upload()
        .bucket(&inner.bucket)
        .key(path)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build());
    if let Some(m) = &op.conditions.if_match {
        req = req.if_match(crate::object::etag_of(m));
    }
    if op.conditions.if_none_match.is_some() {
        req = req.if_none_match("*");
    }
    let out = req
        .send()
        .await
        .map_err(|e| map_sdk_error(e, &format!("put '{path}': complete the multipart upload")))?;
    guard.armed = false;
    Ok(written(path, size, out.e_tag(), &headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_to_size_slicing_large_chunks() {
        let big = Bytes::from(vec![7u8; 25]);
        let ptr = big.as_ptr();
        let mut c = Cutter::new(10);
        c.push(big);
        let first = c.take(false).unwrap();
        assert_eq!((first.len(), first.as_ptr()), (10, ptr), "sliced, not copied");
        assert_eq!(c.take(false).unwrap().len(), 10);
        assert!(c.take(false).is_none(), "5 bytes are not a full part");
        c.push(Bytes::from_static(b"abc"));
        c.push(Bytes::new());
        c.push(Bytes::from_static(b"defg"));
        let joined = c.take(false).unwrap();
        assert_eq!(&joined[..], b"\x07\x07\x07\x07\x07abcde");
        assert_eq!(&c.take(true).unwrap()[..], b"fg");
        assert!(c.take(true).is_none());
        assert_eq!(c.held(), 0);
    }
}
