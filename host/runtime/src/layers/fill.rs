//! The gap-filling layer: what a request asks and the driver cannot do itself, the host does
//! on the driver's answer, for built-in and plugin drivers alike (the capability says what the
//! driver does; this layer takes the rest off the request and does it on the frames).
//!
//! - **Tables** (`read`): every read is checked against the table's schema (a `schema`
//!   request through the layers inside) so a misspelt column is `InvalidInput` whichever
//!   driver serves it; then key lookup becomes a filter without `read_with_keys`, the filter
//!   (and the projection with it, since the filter may name columns the projection leaves
//!   out) is applied with arrow compute without `read_with_filter`, the projection without
//!   `read_with_select`, and the limit without `read_with_limit` or after a host-side filter.
//!   A read with `sql` has its filter, projection and limit applied to the query's result.
//! - **Streams** (`consume`): `where_` and `select` over JSON messages without
//!   `consume_with_filter`.
//! - **Objects**: `get` of a byte range without `get_with_range` reads the object and
//!   slices its chunks (no copy); `list` with a delimiter, start-after or limit the driver
//!   lacks is shaped here ([`shape_listing`]): when the delimiter or start-after is filled,
//!   the limit is too (it counts the shaped entries).
//!
//! A request needing nothing filled passes through untouched, its frames too.

use bindery_core::filter::{BinOp, Expr, Filter};
use bindery_core::table::compute::{self, Finish};
use bindery_core::table::items::{check_read, key_filter};
use bindery_core::table::page::{self, Order, PageToken};
use bindery_core::table::serve::batch_frames;
use bindery_core::{
    filter_message, list_frames, shape_listing, BatchStream, ByteRange, Capability, DataRequest, Details,
    Error, FrameStream, Head, OpList, OpRead, OpSchema, ResponseMessage, Result, TableSchema,
};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::Layer;

/// Fills in, around the layer inside, what its driver's capability lacks.
pub(crate) struct Fill<L> {
    inner: L,
    capability: Capability,
}

impl<L> Fill<L> {
    pub(crate) fn new(inner: L, capability: Capability) -> Fill<L> {
        Fill { inner, capability }
    }
}

impl<L: Layer> Layer for Fill<L> {
    async fn call(&self, request: DataRequest) -> Result<FrameStream> {
        let cap = &self.capability;
        let DataRequest { path, details } = request;
        match details {
            Details::TableRead(op) => self.read(path, op).await,
            Details::StreamConsume(mut op)
                if !cap.consume_with_filter && (op.filter.is_some() || !op.select.is_empty()) =>
            {
                let filter = op.filter.take();
                let select = std::mem::take(&mut op.select);
                let frames = self
                    .inner
                    .call(DataRequest {
                        path,
                        details: Details::StreamConsume(op),
                    })
                    .await?;
                Ok(filter_consumed(frames, filter, select))
            }
            Details::ObjectGet(mut op) if !cap.get_with_range && op.range.is_some() => {
                let range = op.range.take();
                let frames = self
                    .inner
                    .call(DataRequest {
                        path,
                        details: Details::ObjectGet(op),
                    })
                    .await?;
                match range {
                    Some(range) => slice_body(frames, range).await,
                    None => Ok(frames),
                }
            }
            Details::ObjectList(op) => {
                let (driver_op, host_op) = split_listing(op, cap);
                let details = Details::ObjectList(driver_op);
                let Some(host_op) = host_op else {
                    return self.inner.call(DataRequest { path, details }).await;
                };
                let frames = self
                    .inner
                    .call(DataRequest {
                        path: path.clone(),
                        details,
                    })
                    .await?;
                let entries = frames
                    .map_ok(|f| match f.head {
                        Head::Entries(page) => stream::iter(page.into_iter().map(Ok)).left_stream(),
                        _ => stream::empty().right_stream(),
                    })
                    .try_flatten()
                    .boxed();
                Ok(list_frames(shape_listing(entries, &path, &host_op)))
            }
            details => self.inner.call(DataRequest { path, details }).await,
        }
    }
}

impl<L: Layer> Fill<L> {
    /// A table read: checked against the schema, and what the driver lacks done on its
    /// batches.
    async fn read(&self, path: String, mut op: OpRead) -> Result<FrameStream> {
        let cap = &self.capability;
        let mut finish = Finish::default();
        let mut paging = None;
        if op.sql.is_some() {
            // A query's result is whatever it selects: filter, order, select and limit apply
            // to it here.
            if !op.keys.is_empty() {
                return Err(Error::invalid_input("a read with sql cannot also name keys"));
            }
            if op.page || op.after.is_some() {
                return Err(Error::invalid_input(
                    "a read with sql cannot be paged (its rows have no key to resume at); page the table itself, or add LIMIT and OFFSET to the query",
                ));
            }
            finish.filter = op.filter.take().map(|f| f.expr);
            finish.order = std::mem::take(&mut op.order_by);
            finish.select = std::mem::take(&mut op.select);
            finish.limit = op.limit.take();
        } else {
            let schema = self.schema(&path, &op).await?;
            check_read(&schema, &op, &path)?;
            paging = page_plan(&schema, &mut op, &path)?;
            if !op.order_by.is_empty() && !cap.read_with_order {
                // The sort needs every row passing the filter, and the ordering columns: the
                // projection and the limit come after it.
                finish.order = std::mem::take(&mut op.order_by);
                finish.select.append(&mut op.select);
                finish.limit = op.limit.take();
            }
            if !op.keys.is_empty() && !cap.read_with_keys {
                let keys = key_filter(&schema, &op.keys, &path)?;
                op.filter = Some(and(op.filter.take(), keys));
                op.keys.clear();
            }
            if op.filter.is_some() && !cap.read_with_filter {
                // The filter may name columns the select leaves out: both happen here.
                finish.filter = op.filter.take().map(|f| f.expr);
                finish.select.append(&mut op.select);
            }
            if !op.select.is_empty() && !cap.read_with_select {
                finish.select.append(&mut op.select);
            }
            if op.limit.is_some() && (!cap.read_with_limit || finish.filter.is_some()) {
                finish.limit = op.limit.take();
            }
        }
        let mut frames = self
            .inner
            .call(DataRequest {
                path: path.clone(),
                details: Details::TableRead(op),
            })
            .await?;
        if !finish.is_empty() {
            frames = finished(frames, finish, &path).await?;
        }
        Ok(match paging {
            Some(p) => p.frames(frames),
            None => frames,
        })
    }

    /// The table's schema, asked of the layers inside.
    async fn schema(&self, path: &str, op: &OpRead) -> Result<TableSchema> {
        let request = DataRequest {
            path: path.to_string(),
            details: Details::TableSchema(OpSchema {
                version: None,
                options: op.options.clone(),
            }),
        };
        let mut frames = self.inner.call(request).await?;
        match frames.next().await {
            Some(Ok(f)) => match f.head {
                Head::Batch(b) => TableSchema::from_arrow(&b.schema()),
                _ => Err(Error::internal("a table's schema came without its columns")),
            },
            Some(Err(e)) => Err(e),
            None => Err(Error::internal("a table's schema came back empty")),
        }
    }
}

/// `a AND b`, or `b` alone.
fn and(a: Option<Filter>, b: Expr) -> Filter {
    let expr = match a {
        Some(f) => Expr::Binary(Box::new(b), BinOp::And, Box::new(f.expr)),
        None => b,
    };
    Filter {
        text: compute::describe(&expr),
        expr,
    }
}

/// What a paged read does on its frames (see [`bindery_core::table::page`]).
struct Paging {
    /// The read's total order.
    order: Vec<Order>,
    /// A token follows only a page that stopped at its limit.
    limit: Option<u64>,
    /// The columns asked for, when the ordering columns were added to them (empty: as read).
    select: Vec<String>,
}

/// Makes a paged read (or one continuing a page token) a read the layers inside know: ordered
/// totally, after the token's row by a filter, with its ordering columns selected.
fn page_plan(schema: &TableSchema, op: &mut OpRead, path: &str) -> Result<Option<Paging>> {
    if !op.page && op.after.is_none() {
        return Ok(None);
    }
    let order = page::total_order(schema, &op.order_by, path)?;
    if let Some(text) = op.after.take() {
        let token = PageToken::decode(&text)?;
        token.check(schema, &order, path)?;
        op.filter = Some(and(op.filter.take(), page::after_filter(&order, &token.after)));
    }
    op.order_by = order.clone();
    op.page = false;
    let mut select = Vec::new();
    if !op.select.is_empty() {
        let missing: Vec<String> = order
            .iter()
            .filter(|o| !op.select.contains(&o.column))
            .map(|o| o.column.clone())
            .collect();
        if !missing.is_empty() {
            select = op.select.clone();
            op.select.extend(missing);
        }
    }
    Ok(Some(Paging {
        order,
        limit: op.limit,
        select,
    }))
}

impl Paging {
    /// The frames with the added ordering columns dropped again and, when the page stopped at
    /// its limit, the next page's token as the last frame.
    fn frames(self, frames: FrameStream) -> FrameStream {
        let Paging { order, limit, select } = self;
        let mut rows = 0u64;
        let mut last: Option<PageToken> = None;
        frames
            .flat_map(move |f| {
                let out = match f.and_then(|f| page_frame(f, &order, &select, &mut rows, &mut last)) {
                    Ok(mut f) => match (f.is_last && limit.is_some_and(|n| rows >= n), last.take()) {
                        (true, Some(t)) if matches!(f.head, Head::None) => {
                            f.head = Head::Page(t.encode());
                            vec![Ok(f)]
                        }
                        (true, Some(t)) => {
                            f.is_last = false;
                            let page = ResponseMessage {
                                head: Head::Page(t.encode()),
                                is_last: true,
                                ..ResponseMessage::default()
                            };
                            vec![Ok(f), Ok(page)]
                        }
                        (_, t) => {
                            last = t;
                            vec![Ok(f)]
                        }
                    },
                    Err(e) => vec![Err(e)],
                };
                stream::iter(out)
            })
            .boxed()
    }
}

/// One frame of a paged read: its last row noted, its batch cut to the columns asked for.
fn page_frame(
    mut f: ResponseMessage,
    order: &[Order],
    select: &[String],
    rows: &mut u64,
    last: &mut Option<PageToken>,
) -> Result<ResponseMessage> {
    if let Head::Batch(b) = &mut f.head {
        if b.num_rows() > 0 {
            *rows += b.num_rows() as u64;
            *last = PageToken::after_last_row(order, b)?;
        }
        if !select.is_empty() {
            let indices = select
                .iter()
                .map(|c| b.schema_ref().index_of(c))
                .collect::<std::result::Result<Vec<_>, _>>()
                .and_then(|ix| b.project(&ix))
                .map_err(|e| Error::internal(format!("a paged read lost a column: {e}")))?;
            *b = indices;
        }
    }
    Ok(f)
}

/// A read's frames with `finish` done on their batches.
async fn finished(mut frames: FrameStream, finish: Finish, path: &str) -> Result<FrameStream> {
    let input = match frames.next().await {
        Some(Ok(f)) => match f.head {
            Head::Batch(b) => b.schema(),
            _ => return Err(Error::internal("a table read began without its schema")),
        },
        Some(Err(e)) => return Err(e),
        None => return Err(Error::internal("a table read ended before its first frame")),
    };
    let batches: BatchStream = frames
        .try_filter_map(|f| {
            futures::future::ready(Ok(match f.head {
                Head::Batch(b) => Some(b),
                _ => None,
            }))
        })
        .boxed();
    let schema = finish.schema(&input, path)?;
    Ok(batch_frames(schema, finish.apply(&input, batches, path)?))
}

/// What of a listing the driver does, and what the host does after it (`None`: nothing).
fn split_listing(mut op: OpList, cap: &Capability) -> (OpList, Option<OpList>) {
    let fill_delimiter = op.delimiter.is_some() && !cap.list_with_delimiter;
    let fill_start = op.start_after.is_some() && !cap.list_with_start_after;
    let fill_limit = op.limit.is_some() && (!cap.list_with_limit || fill_delimiter || fill_start);
    if !(fill_delimiter || fill_start || fill_limit) {
        return (op, None);
    }
    let host = OpList {
        delimiter: if fill_delimiter { op.delimiter.take() } else { None },
        // Checked again after collapsing, even where the driver skipped: a common prefix
        // can sort at or before the start-after of entries it holds.
        start_after: if fill_start {
            op.start_after.take()
        } else {
            op.start_after.clone()
        },
        limit: if fill_limit { op.limit.take() } else { None },
        version: None,
        options: Default::default(),
    };
    (op, Some(host))
}

/// Consumed frames with `where_` and `select` applied to their messages. A frame all of
/// whose messages were filtered out is dropped, unless it is the first (it says the consume
/// has started) or the last.
fn filter_consumed(frames: FrameStream, filter: Option<Filter>, select: Vec<String>) -> FrameStream {
    let mut first = true;
    frames
        .try_filter_map(move |mut f| {
            let was_first = std::mem::replace(&mut first, false);
            let keep = match &mut f.head {
                Head::Messages(ms) if !ms.is_empty() => {
                    *ms = std::mem::take(ms)
                        .into_iter()
                        .filter_map(|m| filter_message(m, filter.as_ref(), &select))
                        .collect();
                    !ms.is_empty() || f.is_last || was_first
                }
                _ => true,
            };
            futures::future::ready(Ok(keep.then_some(f)))
        })
        .boxed()
}

/// A whole object's frames cut to `range`: the first frame's metadata gives the size the
/// range is resolved against (a range past the end is refused before any frame), the chunks
/// are sliced (shared, not copied), and reading stops once the range is complete.
async fn slice_body(mut frames: FrameStream, range: ByteRange) -> Result<FrameStream> {
    let first = match frames.next().await {
        Some(f) => f?,
        None => return Err(Error::internal("a get ended before its first frame")),
    };
    let size = match &first.head {
        Head::Object(meta) => meta.size,
        _ => return Err(Error::internal("a get began without the object's metadata")),
    };
    let wanted = range.resolve(size)?;
    let frames = stream::once(async move { Ok(first) }).chain(frames);
    struct Cut {
        frames: FrameStream,
        skip: u64,
        left: u64,
        done: bool,
    }
    let state = Cut {
        frames: frames.boxed(),
        skip: wanted.start,
        left: wanted.end - wanted.start,
        done: false,
    };
    Ok(stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            let mut frame = match s.frames.next().await? {
                Ok(f) => f,
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            };
            let chunk = std::mem::take(&mut frame.buffer);
            let n = chunk.len() as u64;
            let from = s.skip.min(n);
            s.skip -= from;
            let take = (n - from).min(s.left);
            frame.buffer = chunk.slice(from as usize..(from + take) as usize);
            s.left -= take;
            frame.is_last |= s.left == 0;
            s.done = frame.is_last;
            if frame.buffer.is_empty() && !frame.is_last && matches!(frame.head, Head::None) {
                continue;
            }
            return Some((Ok(frame), s));
        }
    })
    .boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_fills_only_what_the_driver_lacks() {
        let op = OpList {
            delimiter: Some("/".into()),
            limit: Some(3),
            start_after: Some("p/a".into()),
            ..OpList::default()
        };
        let (driver, host) = split_listing(op.clone(), &Capability::FULL_OBJECT);
        assert_eq!(driver, op);
        assert!(host.is_none());
        // Without delimiters: the delimiter and the limit are the host's, start-after both.
        let cap = Capability {
            list_with_delimiter: false,
            ..Capability::FULL_OBJECT
        };
        let (driver, host) = split_listing(op.clone(), &cap);
        let host = host.unwrap();
        assert_eq!(
            (driver.delimiter, driver.limit, driver.start_after.as_deref()),
            (None, None, Some("p/a"))
        );
        assert_eq!(
            (host.delimiter.as_deref(), host.limit, host.start_after.as_deref()),
            (Some("/"), Some(3), Some("p/a"))
        );
        // Only a limit missing: the driver still skips and collapses.
        let cap = Capability {
            list_with_limit: false,
            ..Capability::FULL_OBJECT
        };
        let (driver, host) = split_listing(op, &cap);
        assert_eq!((driver.delimiter.as_deref(), driver.limit), (Some("/"), None));
        assert_eq!(host.unwrap().limit, Some(3));
    }
}
