//! Encoding the core's types as the schema's messages, and back.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::{Duration, UNIX_EPOCH};

use bindery_core::arrow::array::RecordBatch;
use bindery_core::filter::{Assignments, Filter, Params, Value};
use bindery_core::table::{
    page::Order, Items, Key, OpAlter, OpCreateTable, OpDeleteRows, OpRead, OpSchema, OpWrite, TableSchema,
};
use bindery_core::watch::{Change, ChangeKind, OpWatch, WatchFrom};
use bindery_core::{
    BindingConfig, ByteRange, CallReply, Capability, Conditions, DataRequest, Details, DriverInfo, Encoding,
    Error, ErrorKind, Head, Kind, ListEntry, Message, ObjectMeta, OpCall, OpCheckpoint, OpConsume,
    OpCreateStream, OpGet, OpList, OpPublish, OpPut, OpStat, OptionDoc, Options, PutBody, ResponseMessage,
    Result, Secret, ShardInfo, StartAt,
};
use bytes::Bytes;
use capnp::message::{Builder, ReaderOptions};
use capnp::serialize;

use crate::schema as s;

mod versions;

/// Turns any error met while decoding an envelope into an `Internal` error.
trait Ctx<T> {
    fn c(self) -> Result<T>;
}

impl<T, E: Display> Ctx<T> for std::result::Result<T, E> {
    fn c(self) -> Result<T> {
        self.map_err(|e| Error::internal(format!("malformed plugin envelope: {e}")))
    }
}

fn words<A: capnp::message::Allocator>(m: &Builder<A>) -> Vec<u8> {
    serialize::write_message_to_words(m)
}

/// How many words a decode may visit per word of the envelope (plus [`TRAVERSAL_SLACK`]): a
/// decode reads each part of an envelope about once, so this bounds the work a hostile one
/// can cause (a list of zero-sized elements can claim millions of entries in a few bytes;
/// Cap'n Proto counts each as one word read). Found by the `envelope` fuzz target.
const TRAVERSAL_PER_WORD: u64 = 4;
/// Words any decode may visit besides [`TRAVERSAL_PER_WORD`] per word of the envelope.
const TRAVERSAL_SLACK: u64 = 4096;

fn reader(mut bytes: &[u8]) -> Result<capnp::message::Reader<serialize::BufferSegments<&[u8]>>> {
    let limit = (bytes.len() as u64 / 8) * TRAVERSAL_PER_WORD + TRAVERSAL_SLACK;
    let mut options = ReaderOptions::new();
    options.traversal_limit_in_words(Some(limit as usize));
    serialize::read_message_from_flat_slice(&mut bytes, options).c()
}

fn text(t: capnp::Result<capnp::text::Reader<'_>>) -> Result<String> {
    t.c()?.to_string().c()
}

fn put_map(
    mut list: capnp::struct_list::Builder<'_, s::key_value::Owned>,
    map: impl Iterator<Item = (String, String)>,
) {
    for (i, (k, v)) in map.enumerate() {
        let mut kv = list.reborrow().get(i as u32);
        kv.set_key(k.as_str());
        kv.set_value(v.as_str());
    }
}

fn get_map(
    list: capnp::Result<capnp::struct_list::Reader<'_, s::key_value::Owned>>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for kv in list.c()?.iter() {
        out.insert(text(kv.get_key())?, text(kv.get_value())?);
    }
    Ok(out)
}

fn kind_to(k: Kind) -> s::Kind {
    match k {
        Kind::Object => s::Kind::Object,
        Kind::Table => s::Kind::Table,
        Kind::Stream => s::Kind::Stream,
        Kind::Generic => s::Kind::Generic,
    }
}

fn kind_from(k: s::Kind) -> Kind {
    match k {
        s::Kind::Object => Kind::Object,
        s::Kind::Table => Kind::Table,
        s::Kind::Stream => Kind::Stream,
        s::Kind::Generic => Kind::Generic,
    }
}

fn error_kind_to(k: ErrorKind) -> s::ErrorKind {
    match k {
        ErrorKind::NotFound => s::ErrorKind::NotFound,
        ErrorKind::AlreadyExists => s::ErrorKind::AlreadyExists,
        ErrorKind::ConditionFailed => s::ErrorKind::ConditionFailed,
        ErrorKind::Unsupported => s::ErrorKind::Unsupported,
        ErrorKind::InvalidInput => s::ErrorKind::InvalidInput,
        ErrorKind::PermissionDenied => s::ErrorKind::PermissionDenied,
        ErrorKind::Unavailable => s::ErrorKind::Unavailable,
        ErrorKind::Timeout => s::ErrorKind::Timeout,
        ErrorKind::Cancelled => s::ErrorKind::Cancelled,
        _ => s::ErrorKind::Internal,
    }
}

fn error_kind_from(k: s::ErrorKind) -> ErrorKind {
    match k {
        s::ErrorKind::NotFound => ErrorKind::NotFound,
        s::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        s::ErrorKind::ConditionFailed => ErrorKind::ConditionFailed,
        s::ErrorKind::Unsupported => ErrorKind::Unsupported,
        s::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
        s::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        s::ErrorKind::Unavailable => ErrorKind::Unavailable,
        s::ErrorKind::Timeout => ErrorKind::Timeout,
        s::ErrorKind::Cancelled => ErrorKind::Cancelled,
        s::ErrorKind::Internal => ErrorKind::Internal,
    }
}

fn put_error(mut b: s::error_record::Builder<'_>, e: &Error) {
    b.set_kind(error_kind_to(e.kind()));
    b.set_message(e.message());
    b.set_retryable(e.is_retryable());
    if let Some(op) = e.operation() {
        b.set_operation(op);
    }
    if let Some(p) = e.path() {
        b.set_path(p);
    }
}

fn get_error(r: s::error_record::Reader<'_>) -> Result<Error> {
    let mut e = Error::new(error_kind_from(r.get_kind().c()?), text(r.get_message())?)
        .set_retryable(r.get_retryable());
    if r.has_operation() {
        e = e.with_operation(text(r.get_operation())?);
    }
    if r.has_path() {
        e = e.with_path(text(r.get_path())?);
    }
    Ok(e)
}

fn put_capability(mut b: s::capabilities::Builder<'_>, c: &Capability) {
    let flags = c.flags();
    let mut list = b.reborrow().init_flags(flags.len() as u32);
    for (i, f) in flags.iter().enumerate() {
        list.set(i as u32, *f);
    }
    let limits = c.limits();
    let mut list = b.init_limits(limits.len() as u32);
    for (i, (name, value)) in limits.iter().enumerate() {
        let mut l = list.reborrow().get(i as u32);
        l.set_name(*name);
        l.set_value(*value);
    }
}

fn get_capability(r: s::capabilities::Reader<'_>) -> Result<Capability> {
    let mut c = Capability::default();
    for f in r.get_flags().c()?.iter() {
        c.set_flag(f.c()?.to_str().c()?, true);
    }
    for l in r.get_limits().c()?.iter() {
        c.set_limit(l.get_name().c()?.to_str().c()?, l.get_value());
    }
    Ok(c)
}

/// Encodes a plugin's handshake.
pub fn encode_handshake(abi_version: u32, info: &DriverInfo) -> Vec<u8> {
    let mut m = Builder::new_default();
    let mut h = m.init_root::<s::handshake::Builder>();
    h.set_abi_version(abi_version);
    h.set_driver_name(info.name.as_str());
    h.set_driver_version(info.version.as_str());
    h.set_description(info.description.as_str());
    let mut kinds = h.reborrow().init_kinds(info.kinds.len() as u32);
    for (i, k) in info.kinds.iter().enumerate() {
        kinds.set(i as u32, kind_to(*k));
    }
    h.set_local_url(info.local_url);
    let mut options = h.reborrow().init_options(info.options.len() as u32);
    for (i, o) in info.options.iter().enumerate() {
        let mut d = options.reborrow().get(i as u32);
        d.set_key(o.key.as_str());
        d.set_help(o.help.as_str());
    }
    put_capability(h.init_capabilities(), &info.capability);
    words(&m)
}

/// Decodes a handshake: the ABI version it states and the driver's info.
pub fn decode_handshake(bytes: &[u8]) -> Result<(u32, DriverInfo)> {
    let msg = reader(bytes)?;
    let h = msg.get_root::<s::handshake::Reader>().c()?;
    let mut kinds = Vec::new();
    for k in h.get_kinds().c()?.iter() {
        kinds.push(kind_from(k.c()?));
    }
    let info = DriverInfo {
        name: text(h.get_driver_name())?,
        version: text(h.get_driver_version())?,
        description: text(h.get_description())?,
        kinds,
        capability: get_capability(h.get_capabilities().c()?)?,
        local_url: h.get_local_url(),
        options: h
            .get_options()
            .c()?
            .iter()
            .map(|d| {
                Ok(OptionDoc {
                    key: text(d.get_key())?,
                    help: text(d.get_help())?,
                })
            })
            .collect::<Result<_>>()?,
    };
    Ok((h.get_abi_version(), info))
}

/// Encodes a binding's config (secrets included: they go to the plugin that needs them).
pub fn encode_config(c: &BindingConfig) -> Vec<u8> {
    let mut m = Builder::new_default();
    let mut b = m.init_root::<s::binding_config::Builder>();
    b.set_name(c.name.as_str());
    b.set_kind(kind_to(c.kind));
    if let Some(url) = &c.url {
        b.set_url(url.as_str());
    }
    b.set_base_dir(c.base_dir.to_string_lossy().as_ref());
    put_map(
        b.reborrow().init_options(c.options.len() as u32),
        c.options.clone().into_iter(),
    );
    let secrets = c.secrets.iter().map(|(k, v)| (k.clone(), v.expose().to_string()));
    put_map(b.init_secrets(c.secrets.len() as u32), secrets);
    words(&m)
}

/// Decodes a binding's config.
pub fn decode_config(bytes: &[u8]) -> Result<BindingConfig> {
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::binding_config::Reader>().c()?;
    Ok(BindingConfig {
        name: text(r.get_name())?,
        kind: kind_from(r.get_kind().c()?),
        url: if r.has_url() {
            Some(text(r.get_url())?)
        } else {
            None
        },
        options: get_map(r.get_options())?,
        secrets: get_map(r.get_secrets())?
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        base_dir: text(r.get_base_dir())?.into(),
    })
}

/// Encodes the result of a connect.
pub fn encode_connect_result(result: &Result<Capability>) -> Vec<u8> {
    let mut m = Builder::new_default();
    let r = m.init_root::<s::connect_result::Builder>();
    match result {
        Ok(c) => put_capability(r.init_ok(), c),
        Err(e) => put_error(r.init_error(), e),
    }
    words(&m)
}

/// Decodes the result of a connect.
pub fn decode_connect_result(bytes: &[u8]) -> Result<Result<Capability>> {
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::connect_result::Reader>().c()?;
    Ok(match r.which().c()? {
        s::connect_result::Ok(c) => Ok(get_capability(c.c()?)?),
        s::connect_result::Error(e) => Err(get_error(e.c()?)?),
    })
}

fn put_conditions(mut b: s::conditions::Builder<'_>, c: &Conditions) {
    if let Some(v) = &c.if_match {
        b.set_if_match(v.as_str());
    }
    if let Some(v) = &c.if_none_match {
        b.set_if_none_match(v.as_str());
    }
}

fn get_conditions(r: s::conditions::Reader<'_>) -> Result<Conditions> {
    Ok(Conditions {
        if_match: if r.has_if_match() {
            Some(text(r.get_if_match())?)
        } else {
            None
        },
        if_none_match: if r.has_if_none_match() {
            Some(text(r.get_if_none_match())?)
        } else {
            None
        },
    })
}

fn put_value(mut b: s::value::Builder<'_>, v: &Value) {
    match v {
        Value::Null => b.set_null(()),
        Value::Bool(x) => b.set_bool(*x),
        Value::Int(i) => b.set_int(*i),
        Value::Float(f) => b.set_float(*f),
        Value::Str(t) => b.set_str(t.as_str()),
    }
}

fn get_value(r: s::value::Reader<'_>) -> Result<Value> {
    Ok(match r.which().c()? {
        s::value::Null(()) => Value::Null,
        s::value::Bool(x) => Value::Bool(x),
        s::value::Int(i) => Value::Int(i),
        s::value::Float(f) => Value::Float(f),
        s::value::Str(t) => Value::Str(text(t)?),
    })
}

fn put_keys(mut list: capnp::struct_list::Builder<'_, s::key::Owned>, keys: &[Key]) {
    for (i, key) in keys.iter().enumerate() {
        let mut values = list.reborrow().get(i as u32).init_values(key.len() as u32);
        for (j, v) in key.iter().enumerate() {
            put_value(values.reborrow().get(j as u32), v);
        }
    }
}

fn get_keys(list: capnp::Result<capnp::struct_list::Reader<'_, s::key::Owned>>) -> Result<Vec<Key>> {
    let mut out = Vec::new();
    for key in list.c()?.iter() {
        out.push(
            key.get_values()
                .c()?
                .iter()
                .map(get_value)
                .collect::<Result<_>>()?,
        );
    }
    Ok(out)
}

fn put_texts(mut list: capnp::text_list::Builder<'_>, items: &[String]) {
    for (i, t) in items.iter().enumerate() {
        list.set(i as u32, t.as_str());
    }
}

fn get_texts(list: capnp::Result<capnp::text_list::Reader<'_>>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for t in list.c()?.iter() {
        out.push(t.c()?.to_string().c()?);
    }
    Ok(out)
}

/// One column of the schema text form.
fn parse_column(text: &str) -> Result<bindery_core::Column> {
    let mut schema = TableSchema::parse(text)?;
    Ok(schema.columns.remove(0))
}

/// Encodes a request's envelope (a put's data, and a table write's batches, travel beside it).
pub fn encode_request(req: &DataRequest) -> Result<Vec<u8>> {
    let mut m = Builder::new_default();
    let mut b = m.init_root::<s::data_request::Builder>();
    // The schema's `Command` lists the operations in the order core describes them
    // (`Command::ALL`; the test `commands_match_the_schema_in_order` checks it).
    let ordinal = req.command().ordinal();
    b.set_command(s::Command::try_from(ordinal).map_err(|_| {
        Error::internal(format!(
            "operation {} has no wire command",
            req.command().as_str()
        ))
    })?);
    b.set_path(req.path.as_str());
    let options = req.options();
    put_map(
        b.reborrow().init_options(options.len() as u32),
        options.clone().into_iter(),
    );
    if let Some(v) = versions::version_of(&req.details) {
        b.set_version(v.as_str());
    }
    let mut d = b.init_details();
    match &req.details {
        details @ (Details::ObjectVersions(_)
        | Details::ObjectTags(_)
        | Details::ObjectRevert(_)
        | Details::ObjectDiff(_)) => versions::put_details(d, details),
        Details::ObjectGet(op) => {
            let mut g = d.init_object_get();
            put_conditions(g.reborrow().init_conditions(), &op.conditions);
            g.set_whole(op.whole);
            if let Some(r) = op.range {
                g.set_has_range(true);
                g.set_offset(r.offset);
                if let Some(len) = r.length {
                    g.set_has_length(true);
                    g.set_length(len);
                }
            }
        }
        Details::ObjectPut(op, _) => {
            let mut p = d.init_object_put();
            put_conditions(p.reborrow().init_conditions(), &op.conditions);
            put_map(
                p.init_metadata(op.metadata.len() as u32),
                op.metadata.clone().into_iter(),
            );
        }
        Details::ObjectHead(op) => put_conditions(d.init_object_head(), &op.conditions),
        Details::ObjectDelete(op) => put_conditions(d.init_object_delete(), &op.conditions),
        Details::ObjectList(op) => {
            let mut l = d.init_object_list();
            if let Some(v) = &op.delimiter {
                l.set_delimiter(v.as_str());
            }
            if let Some(v) = op.limit {
                l.set_has_limit(true);
                l.set_limit(v);
            }
            if let Some(v) = &op.start_after {
                l.set_start_after(v.as_str());
            }
        }
        Details::StreamCreate(op) => d.set_stream_create(op.shards),
        Details::StreamUpdate(n, _) => d.set_stream_update(*n),
        Details::StreamDelete(_) => d.set_stream_delete(()),
        Details::StreamListShards(_) => d.set_stream_list_shards(()),
        Details::StreamPublish(op) => {
            put_messages(d.init_stream_publish(op.messages.len() as u32), &op.messages)
        }
        Details::StreamConsume(op) => {
            use s::stream_consume::Start;
            let mut c = d.init_stream_consume();
            c.set_follow(op.follow);
            if let Some(g) = &op.group {
                c.set_group(g.as_str());
            }
            if let Some(f) = &op.filter {
                c.set_filter(f.text.as_str());
            }
            let mut sel = c.reborrow().init_select(op.select.len() as u32);
            for (i, f) in op.select.iter().enumerate() {
                sel.set(i as u32, f.as_str());
            }
            let start = match &op.start {
                None => Start::Default,
                Some(StartAt::Earliest) => Start::Earliest,
                Some(StartAt::Latest) => Start::Latest,
                Some(StartAt::Checkpoint) => Start::Checkpoint,
                Some(StartAt::Timestamp(t)) => {
                    c.set_timestamp_nanos(to_nanos(*t));
                    Start::Timestamp
                }
                Some(StartAt::Positions(p)) => {
                    let list: Vec<(u32, u64)> = p.iter().map(|(s, p)| (*s, *p)).collect();
                    put_positions(c.reborrow().init_positions(list.len() as u32), &list);
                    Start::Positions
                }
            };
            c.set_start(start);
        }
        Details::StreamCheckpoint(op) => {
            let mut c = d.init_stream_checkpoint();
            c.set_group(op.group.as_str());
            put_positions(c.init_positions(op.positions.len() as u32), &op.positions);
        }
        Details::TableRead(op) => {
            let mut t = d.init_table_read();
            put_keys(t.reborrow().init_keys(op.keys.len() as u32), &op.keys);
            if let Some(f) = &op.filter {
                t.set_filter(f.text.as_str());
            }
            put_texts(t.reborrow().init_select(op.select.len() as u32), &op.select);
            if let Some(q) = &op.sql {
                t.set_sql(q.as_str());
            }
            if let Some((part, parts)) = op.partition {
                t.set_has_partition(true);
                t.set_part(part);
                t.set_parts(parts);
            }
            if let Some(n) = op.limit {
                t.set_has_limit(true);
                t.set_limit(n);
            }
            if let Some(schema) = &op.schema {
                t.set_schema(schema.to_string().as_str());
            }
            let order: Vec<String> = op.order_by.iter().map(|o| o.to_string()).collect();
            put_texts(t.reborrow().init_order_by(order.len() as u32), &order);
        }
        Details::TableWrite(op) => {
            let mut t = d.init_table_write();
            put_keys(t.reborrow().init_keys(op.keys.len() as u32), &op.keys);
            match &op.items {
                Items::None => t.reborrow().init_items().set_none(()),
                Items::Json(rows) => {
                    let json = serde_json::to_string(rows).map_err(|e| Error::internal(e.to_string()))?;
                    t.reborrow().init_items().set_json(json.as_str());
                }
                Items::Batches(b) => t.reborrow().init_items().set_batches(b.len() as u32),
            }
            if let Some(a) = &op.expression {
                t.set_expression(a.text.as_str());
                let mut params = t.reborrow().init_params(a.params.len() as u32);
                for (i, (name, v)) in a.params.iter().enumerate() {
                    let mut p = params.reborrow().get(i as u32);
                    p.set_name(name.as_str());
                    put_value(p.init_value(), v);
                }
            }
            if let Some(c) = &op.condition {
                t.set_condition(c.text.as_str());
            }
        }
        Details::TableCreate(op) => {
            let mut t = d.init_table_create();
            t.set_schema(op.schema.to_string().as_str());
            put_texts(t.init_key(op.schema.key.len() as u32), &op.schema.key);
        }
        Details::TableDrop(_) => d.set_table_drop(()),
        Details::TableAlter(op) => {
            let mut t = d.init_table_alter();
            if let Some(schema) = &op.schema {
                t.set_schema(schema.to_string().as_str());
            }
            let add: Vec<String> = op.add.iter().map(|c| c.to_string()).collect();
            put_texts(t.init_add(add.len() as u32), &add);
        }
        Details::TableSchema(_) => d.set_table_schema(()),
        Details::GenericCall(op) => {
            let mut c = d.init_generic_call();
            c.set_operation(op.operation.as_str());
            c.set_payload(&op.payload);
            c.set_idempotent(op.idempotent);
        }
        Details::ObjectWatch(op) => put_watch(d.init_object_watch(), op),
        Details::TableWatch(op) => put_watch(d.init_table_watch(), op),
        Details::TableDelete(op) => {
            let mut t = d.init_table_delete();
            put_keys(t.reborrow().init_keys(op.keys.len() as u32), &op.keys);
            if let Some(f) = &op.filter {
                t.set_filter(f.text.as_str());
            }
            if let Some(c) = &op.condition {
                t.set_condition(c.text.as_str());
            }
        }
    }
    Ok(words(&m))
}

fn to_nanos(t: std::time::SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

fn from_nanos(n: i64) -> std::time::SystemTime {
    if n >= 0 {
        UNIX_EPOCH + Duration::from_nanos(n as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(n.unsigned_abs())
    }
}

fn put_positions(
    mut list: capnp::struct_list::Builder<'_, s::shard_position::Owned>,
    positions: &[(u32, u64)],
) {
    for (i, (shard, pos)) in positions.iter().enumerate() {
        let mut p = list.reborrow().get(i as u32);
        p.set_shard(*shard);
        p.set_position(*pos);
    }
}

fn get_positions(
    list: capnp::Result<capnp::struct_list::Reader<'_, s::shard_position::Owned>>,
) -> Result<Vec<(u32, u64)>> {
    Ok(list
        .c()?
        .iter()
        .map(|p| (p.get_shard(), p.get_position()))
        .collect())
}

fn put_messages(mut list: capnp::struct_list::Builder<'_, s::message::Owned>, messages: &[Message]) {
    for (i, msg) in messages.iter().enumerate() {
        let mut m = list.reborrow().get(i as u32);
        if let Some(k) = &msg.key {
            m.set_has_key(true);
            m.set_key(&k[..]);
        }
        m.set_value(&msg.value[..]);
        if let Some(t) = msg.timestamp {
            m.set_has_timestamp(true);
            m.set_timestamp_nanos(to_nanos(t));
        }
        m.set_shard(msg.shard);
        m.set_position(msg.position);
        let mut headers = m.init_headers(msg.headers.len() as u32);
        for (j, (name, value)) in msg.headers.iter().enumerate() {
            let mut h = headers.reborrow().get(j as u32);
            h.set_name(name.as_str());
            h.set_value(&value[..]);
        }
    }
}

fn get_messages(
    list: capnp::Result<capnp::struct_list::Reader<'_, s::message::Owned>>,
) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    for m in list.c()?.iter() {
        let mut headers = Vec::new();
        for h in m.get_headers().c()?.iter() {
            headers.push((text(h.get_name())?, Bytes::copy_from_slice(h.get_value().c()?)));
        }
        out.push(Message {
            key: if m.get_has_key() {
                Some(Bytes::copy_from_slice(m.get_key().c()?))
            } else {
                None
            },
            value: Bytes::copy_from_slice(m.get_value().c()?),
            headers,
            timestamp: m.get_has_timestamp().then(|| from_nanos(m.get_timestamp_nanos())),
            shard: m.get_shard(),
            position: m.get_position(),
        });
    }
    Ok(out)
}

fn put_watch(mut w: s::watch::Builder<'_>, op: &OpWatch) {
    if let WatchFrom::Cursor(c) = &op.from {
        w.set_cursor(c.as_str());
    }
    w.set_initial(op.initial);
}

fn get_watch(w: capnp::Result<s::watch::Reader<'_>>, options: Options) -> Result<OpWatch> {
    let w = w.c()?;
    Ok(OpWatch {
        from: if w.has_cursor() {
            WatchFrom::Cursor(text(w.get_cursor())?)
        } else {
            WatchFrom::Now
        },
        initial: w.get_initial(),
        options,
    })
}

fn put_changes(mut list: capnp::struct_list::Builder<'_, s::change::Owned>, changes: &[Change]) {
    use s::change::Kind;
    for (i, c) in changes.iter().enumerate() {
        let mut b = list.reborrow().get(i as u32);
        b.set_kind(match c.kind {
            ChangeKind::Created => Kind::Created,
            ChangeKind::Updated => Kind::Updated,
            ChangeKind::Deleted => Kind::Deleted,
            ChangeKind::Synced => Kind::Synced,
            ChangeKind::Resync => Kind::Resync,
        });
        b.set_path(c.path.as_str());
        b.set_gen(c.gen.as_str());
        if let Some(size) = c.size {
            b.set_has_size(true);
            b.set_size(size);
        }
        b.set_time_nanos(to_nanos(c.time));
        b.set_cursor(c.cursor.as_str());
        if let Some(row) = &c.row {
            b.set_row(row.as_str());
        }
        if let Some(before) = &c.before {
            b.set_before(before.as_str());
        }
    }
}

fn get_changes(list: capnp::Result<capnp::struct_list::Reader<'_, s::change::Owned>>) -> Result<Vec<Change>> {
    use s::change::Kind;
    let mut out = Vec::new();
    for c in list.c()?.iter() {
        out.push(Change {
            kind: match c
                .get_kind()
                .map_err(|e| Error::internal(format!("an unknown change kind: {e}")))?
            {
                Kind::Created => ChangeKind::Created,
                Kind::Updated => ChangeKind::Updated,
                Kind::Deleted => ChangeKind::Deleted,
                Kind::Synced => ChangeKind::Synced,
                Kind::Resync => ChangeKind::Resync,
            },
            path: text(c.get_path())?,
            gen: text(c.get_gen())?,
            size: c.get_has_size().then(|| c.get_size()),
            time: from_nanos(c.get_time_nanos()),
            cursor: text(c.get_cursor())?,
            row: if c.has_row() {
                Some(text(c.get_row())?)
            } else {
                None
            },
            before: if c.has_before() {
                Some(text(c.get_before())?)
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// Decodes a request's envelope; `body` becomes a put's data.
pub fn decode_request(bytes: &[u8], body: Option<PutBody>) -> Result<DataRequest> {
    use s::data_request::details::Which;
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::data_request::Reader>().c()?;
    let options: Options = get_map(r.get_options())?;
    let version = versions::get_version(&r)?;
    let details = match r.get_details().which().c()? {
        Which::ObjectGet(g) => {
            let g = g.c()?;
            let range = g.get_has_range().then(|| ByteRange {
                offset: g.get_offset(),
                length: g.get_has_length().then(|| g.get_length()),
            });
            Details::ObjectGet(OpGet {
                range,
                conditions: get_conditions(g.get_conditions().c()?)?,
                whole: g.get_whole(),
                version,
                options,
            })
        }
        Which::ObjectPut(p) => {
            let p = p.c()?;
            let op = OpPut {
                conditions: get_conditions(p.get_conditions().c()?)?,
                metadata: get_map(p.get_metadata())?,
                options,
            };
            let body = body.ok_or_else(|| Error::internal("a put arrived without its data"))?;
            Details::ObjectPut(op, body)
        }
        Which::ObjectHead(c) => Details::ObjectHead(OpStat {
            conditions: get_conditions(c.c()?)?,
            version,
            options,
        }),
        Which::ObjectDelete(c) => Details::ObjectDelete(OpStat {
            conditions: get_conditions(c.c()?)?,
            version: None,
            options,
        }),
        Which::ObjectVersions(v) => versions::get_versions(v, options)?,
        Which::ObjectTags(t) => versions::get_tag_request(t, options)?,
        Which::ObjectRevert(r) => versions::get_revert(r, options)?,
        Which::ObjectDiff(d) => versions::get_diff_request(d, options)?,
        Which::ObjectList(l) => {
            let l = l.c()?;
            Details::ObjectList(OpList {
                delimiter: if l.has_delimiter() {
                    Some(text(l.get_delimiter())?)
                } else {
                    None
                },
                limit: l.get_has_limit().then(|| l.get_limit()),
                start_after: if l.has_start_after() {
                    Some(text(l.get_start_after())?)
                } else {
                    None
                },
                version,
                options,
            })
        }
        Which::StreamCreate(shards) => Details::StreamCreate(OpCreateStream { shards, options }),
        Which::StreamUpdate(shards) => Details::StreamUpdate(shards, options),
        Which::StreamDelete(()) => Details::StreamDelete(options),
        Which::StreamListShards(()) => Details::StreamListShards(options),
        Which::StreamPublish(list) => Details::StreamPublish(OpPublish {
            messages: get_messages(list)?,
            options,
        }),
        Which::StreamConsume(c) => {
            use s::stream_consume::Start;
            let c = c.c()?;
            let start = match c.get_start().c()? {
                Start::Default => None,
                Start::Earliest => Some(StartAt::Earliest),
                Start::Latest => Some(StartAt::Latest),
                Start::Checkpoint => Some(StartAt::Checkpoint),
                Start::Timestamp => Some(StartAt::Timestamp(from_nanos(c.get_timestamp_nanos()))),
                Start::Positions => Some(StartAt::Positions(
                    get_positions(c.get_positions())?.into_iter().collect(),
                )),
            };
            let mut select = Vec::new();
            for f in c.get_select().c()?.iter() {
                select.push(f.c()?.to_string().c()?);
            }
            Details::StreamConsume(OpConsume {
                start,
                group: if c.has_group() {
                    Some(text(c.get_group())?)
                } else {
                    None
                },
                filter: if c.has_filter() {
                    Some(Filter::parse(&text(c.get_filter())?)?)
                } else {
                    None
                },
                select,
                follow: c.get_follow(),
                options,
            })
        }
        Which::StreamCheckpoint(c) => {
            let c = c.c()?;
            Details::StreamCheckpoint(OpCheckpoint {
                group: text(c.get_group())?,
                positions: get_positions(c.get_positions())?,
                options,
            })
        }
        Which::TableRead(t) => {
            let t = t.c()?;
            Details::TableRead(OpRead {
                keys: get_keys(t.get_keys())?,
                filter: match t.has_filter() {
                    true => Some(Filter::parse(&text(t.get_filter())?)?),
                    false => None,
                },
                select: get_texts(t.get_select())?,
                sql: match t.has_sql() {
                    true => Some(text(t.get_sql())?),
                    false => None,
                },
                partition: t.get_has_partition().then(|| (t.get_part(), t.get_parts())),
                limit: t.get_has_limit().then(|| t.get_limit()),
                schema: match t.has_schema() {
                    true => Some(TableSchema::parse(&text(t.get_schema())?)?),
                    false => None,
                },
                order_by: get_texts(t.get_order_by())?
                    .iter()
                    .map(|o| Order::parse(o))
                    .collect::<Result<_>>()?,
                page: false,
                after: None,
                options,
            })
        }
        Which::TableWrite(t) => {
            use s::table_write::items::Which as It;
            let t = t.c()?;
            let items = match t.get_items().which().c()? {
                It::None(()) => Items::None,
                It::Json(json) => Items::Json(
                    serde_json::from_str(&text(json)?)
                        .map_err(|e| Error::internal(format!("malformed items: {e}")))?,
                ),
                // The batches follow the envelope; the plugin side adds them.
                It::Batches(n) => Items::Batches(Vec::with_capacity(n as usize)),
            };
            let expression = match t.has_expression() {
                true => {
                    let mut params = Params::new();
                    for p in t.get_params().c()?.iter() {
                        params.insert(text(p.get_name())?, get_value(p.get_value().c()?)?);
                    }
                    Some(Assignments::parse(&text(t.get_expression())?, &params)?)
                }
                false => None,
            };
            Details::TableWrite(OpWrite {
                keys: get_keys(t.get_keys())?,
                items,
                expression,
                condition: match t.has_condition() {
                    true => Some(Filter::parse(&text(t.get_condition())?)?),
                    false => None,
                },
                options,
            })
        }
        Which::TableCreate(t) => {
            let t = t.c()?;
            let mut schema = TableSchema::parse(&text(t.get_schema())?)?;
            schema.key = get_texts(t.get_key())?;
            Details::TableCreate(OpCreateTable { schema, options })
        }
        Which::TableDrop(()) => Details::TableDrop(options),
        Which::TableAlter(t) => {
            let t = t.c()?;
            Details::TableAlter(OpAlter {
                schema: match t.has_schema() {
                    true => Some(TableSchema::parse(&text(t.get_schema())?)?),
                    false => None,
                },
                add: get_texts(t.get_add())?
                    .iter()
                    .map(|c| parse_column(c))
                    .collect::<Result<_>>()?,
                options,
            })
        }
        Which::TableSchema(()) => Details::TableSchema(OpSchema {
            version: version
                .map(|v| {
                    v.parse()
                        .map_err(|_| Error::invalid_input(format!("schema version '{v}' is not a number")))
                })
                .transpose()?,
            options,
        }),
        Which::GenericCall(c) => {
            let c = c.c()?;
            Details::GenericCall(OpCall {
                operation: text(c.get_operation())?,
                payload: Bytes::copy_from_slice(c.get_payload().c()?),
                idempotent: c.get_idempotent(),
                options,
            })
        }
        Which::ObjectWatch(w) => Details::ObjectWatch(get_watch(w, options)?),
        Which::TableWatch(w) => Details::TableWatch(get_watch(w, options)?),
        Which::TableDelete(t) => {
            let t = t.c()?;
            Details::TableDelete(OpDeleteRows {
                keys: get_keys(t.get_keys())?,
                filter: match t.has_filter() {
                    true => Some(Filter::parse(&text(t.get_filter())?)?),
                    false => None,
                },
                condition: match t.has_condition() {
                    true => Some(Filter::parse(&text(t.get_condition())?)?),
                    false => None,
                },
                options,
            })
        }
    };
    Ok(DataRequest {
        path: text(r.get_path())?,
        details,
    })
}

/// How many Arrow batches follow a request envelope (a table write's items).
pub fn batches_following(bytes: &[u8]) -> Result<u32> {
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::data_request::Reader>().c()?;
    Ok(match r.get_details().which().c()? {
        s::data_request::details::Which::TableWrite(t) => match t.c()?.get_items().which().c()? {
            s::table_write::items::Which::Batches(n) => n,
            _ => 0,
        },
        _ => 0,
    })
}

/// Whether a frame envelope is a batch frame (its payload is a C Data batch, not bytes).
pub fn is_batch_frame(bytes: &[u8]) -> Result<bool> {
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::response_message::Reader>().c()?;
    Ok(matches!(
        r.get_head().which().c()?,
        s::response_message::head::Which::Batch(())
    ))
}

/// Whether a request envelope is a put (its data follows).
pub fn is_put(bytes: &[u8]) -> Result<bool> {
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::data_request::Reader>().c()?;
    Ok(matches!(r.get_command().c()?, s::Command::ObjectPut))
}

fn put_meta(mut b: s::object_meta::Builder<'_>, m: &ObjectMeta) {
    b.set_path(m.path.as_str());
    b.set_size(m.size);
    b.set_gen(m.gen.as_str());
    if let Some(t) = m.modified {
        b.set_has_modified(true);
        b.set_modified_nanos(to_nanos(t));
    }
    put_map(
        b.init_metadata(m.metadata.len() as u32),
        m.metadata.clone().into_iter(),
    );
}

fn get_meta(r: s::object_meta::Reader<'_>) -> Result<ObjectMeta> {
    let modified = r.get_has_modified().then(|| from_nanos(r.get_modified_nanos()));
    Ok(ObjectMeta {
        path: text(r.get_path())?,
        size: r.get_size(),
        gen: text(r.get_gen())?,
        modified,
        metadata: get_map(r.get_metadata())?,
    })
}

/// Encodes a frame's envelope (its buffer crosses beside it).
pub fn encode_frame(frame: &Result<ResponseMessage>) -> Vec<u8> {
    let mut m = Builder::new_default();
    let mut b = m.init_root::<s::response_message::Builder>();
    match frame {
        Err(e) => {
            b.set_code(1);
            b.set_is_last(true);
            put_error(b.init_head().init_error(), e);
        }
        Ok(f) => {
            b.set_size(f.size);
            b.set_encoding(match f.encoding {
                Encoding::None => s::Encoding::None,
                Encoding::Raw => s::Encoding::Raw,
            });
            b.set_is_array(f.is_array);
            b.set_is_last(f.is_last);
            b.set_behind(f.behind);
            let mut h = b.init_head();
            match &f.head {
                Head::None => h.set_none(()),
                Head::Object(meta) => put_meta(h.init_object(), meta),
                Head::Entries(entries) => {
                    let mut list = h.init_entries(entries.len() as u32);
                    for (i, e) in entries.iter().enumerate() {
                        let item = list.reborrow().get(i as u32);
                        match e {
                            ListEntry::Object(meta) => put_meta(item.init_object(), meta),
                            ListEntry::Prefix(p) => {
                                let mut item = item;
                                item.set_prefix(p.as_str());
                            }
                        }
                    }
                }
                Head::Messages(msgs) => put_messages(h.init_messages(msgs.len() as u32), msgs),
                Head::Changes(changes) => put_changes(h.init_changes(changes.len() as u32), changes),
                Head::Revisions(list) => versions::put_revisions(h.init_revisions(list.len() as u32), list),
                Head::Tags(list) => versions::put_tags(h.init_tags(list.len() as u32), list),
                Head::Diff(d) => versions::put_diff(h.init_diff(), d),
                Head::Page(token) => h.set_page(token.as_str()),
                Head::Positions(p) => put_positions(h.init_positions(p.len() as u32), p),
                // The batch itself crosses beside the envelope.
                Head::Batch(_) => h.set_batch(()),
                Head::Count(n) => h.set_count(*n),
                Head::Reply(r) => {
                    let mut b = h.init_reply();
                    b.set_status(r.status);
                    put_map(
                        b.init_metadata(r.metadata.len() as u32),
                        r.metadata.iter().cloned(),
                    );
                }
                Head::Shards(shards) => {
                    let mut list = h.init_shards(shards.len() as u32);
                    for (i, info) in shards.iter().enumerate() {
                        let mut item = list.reborrow().get(i as u32);
                        item.set_id(info.id);
                        item.set_first(info.first);
                        item.set_next(info.next);
                    }
                }
            }
        }
    }
    words(&m)
}

/// Decodes a frame's envelope, with its buffer, or its batch (for a batch frame).
pub fn decode_frame(bytes: &[u8], buffer: Bytes, batch: Option<RecordBatch>) -> Result<ResponseMessage> {
    use s::response_message::head::Which;
    let msg = reader(bytes)?;
    let r = msg.get_root::<s::response_message::Reader>().c()?;
    let head = match r.get_head().which().c()? {
        Which::Error(e) => return Err(get_error(e.c()?)?),
        Which::None(()) => Head::None,
        Which::Object(m) => Head::Object(get_meta(m.c()?)?),
        Which::Entries(list) => {
            let mut entries = Vec::new();
            for e in list.c()?.iter() {
                entries.push(match e.which().c()? {
                    s::list_entry::Object(m) => ListEntry::Object(get_meta(m.c()?)?),
                    s::list_entry::Prefix(p) => ListEntry::Prefix(text(p)?),
                });
            }
            Head::Entries(entries)
        }
        Which::Messages(list) => Head::Messages(get_messages(list)?),
        Which::Changes(list) => Head::Changes(get_changes(list)?),
        Which::Revisions(list) => Head::Revisions(versions::get_revisions(list)?),
        Which::Tags(list) => Head::Tags(versions::get_tags(list)?),
        Which::Diff(d) => Head::Diff(versions::get_diff(d)?),
        Which::Page(t) => Head::Page(text(t)?),
        Which::Positions(list) => Head::Positions(get_positions(list)?),
        Which::Batch(()) => {
            Head::Batch(batch.ok_or_else(|| Error::internal("a batch frame came without its batch"))?)
        }
        Which::Count(n) => Head::Count(n),
        Which::Reply(r) => {
            let r = r.c()?;
            let mut metadata = Vec::new();
            for kv in r.get_metadata().c()?.iter() {
                metadata.push((text(kv.get_key())?, text(kv.get_value())?));
            }
            Head::Reply(CallReply {
                status: r.get_status(),
                metadata,
            })
        }
        Which::Shards(list) => Head::Shards(
            list.c()?
                .iter()
                .map(|i| ShardInfo {
                    id: i.get_id(),
                    first: i.get_first(),
                    next: i.get_next(),
                })
                .collect(),
        ),
    };
    Ok(ResponseMessage {
        size: r.get_size(),
        encoding: match r.get_encoding().c()? {
            s::Encoding::None => Encoding::None,
            s::Encoding::Raw => Encoding::Raw,
        },
        is_array: r.get_is_array(),
        is_last: r.get_is_last(),
        behind: r.get_behind(),
        head,
        buffer,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn commands_match_the_schema_in_order() {
        for c in bindery_core::Command::ALL {
            let wire = s::Command::try_from(c.ordinal()).expect("a wire command for every operation");
            assert_eq!(format!("{wire:?}"), format!("{c:?}"));
        }
        assert!(s::Command::try_from(bindery_core::Command::ALL.len() as u16).is_err());
    }

    use super::*;

    #[test]
    fn an_envelope_claiming_millions_of_empty_entries_is_refused_not_walked() {
        // 48 bytes whose options list claims 2^22 zero-sized entries (kept in the fuzz
        // corpus as `envelope/zero-size-list-amplification`).
        let bytes = include_bytes!("../../../fuzz/corpus/envelope/zero-size-list-amplification");
        let e = decode_request(bytes, None).unwrap_err().to_string();
        assert!(
            e.contains("malformed plugin envelope") && e.contains("limit"),
            "{e}"
        );
        // What a real request needs stays well inside the budget.
        let read = OpRead {
            select: (0..2000).map(|i| format!("column_{i}")).collect(),
            ..OpRead::default()
        };
        let req = DataRequest {
            path: "t".into(),
            details: Details::TableRead(read),
        };
        decode_request(&encode_request(&req).unwrap(), None).unwrap();
    }

    #[test]
    fn table_requests_and_frames_round_trip() {
        let schema = TableSchema::parse("user string NOT NULL, n int64 DEFAULT 3 READ ONLY")
            .unwrap()
            .with_key("user", None)
            .unwrap();
        let read = OpRead {
            keys: vec![vec![Value::Str("a'b".into())], vec![Value::Int(-4)]],
            filter: Some(Filter::parse("n > 1 OR (user LIKE 'x%' AND n IS NULL)").unwrap()),
            select: vec!["n".into()],
            partition: Some((1, 3)),
            limit: Some(7),
            schema: Some(schema.clone()),
            order_by: Order::parse_list("n desc, user").unwrap(),
            ..OpRead::default()
        };
        let req = DataRequest {
            path: "t".into(),
            details: Details::TableRead(read.clone()),
        };
        let Details::TableRead(back) = decode_request(&encode_request(&req).unwrap(), None)
            .unwrap()
            .details
        else {
            panic!("not a read")
        };
        assert_eq!(
            (
                back.keys,
                back.filter,
                back.select,
                back.partition,
                back.limit,
                back.order_by
            ),
            (
                read.keys,
                read.filter,
                read.select,
                read.partition,
                read.limit,
                read.order_by
            )
        );
        assert_eq!(back.schema.unwrap().columns, schema.columns);
        let params = Params::from([("inc".to_string(), Value::Float(1.5))]);
        let write = OpWrite {
            keys: vec![vec![Value::Bool(true), Value::Null]],
            items: Items::Json(vec![serde_json::json!({"user": "a", "n": null})
                .as_object()
                .unwrap()
                .clone()]),
            expression: Some(Assignments::parse("n = n + :inc", &params).unwrap()),
            condition: Some(Filter::parse("n = 0").unwrap()),
            ..OpWrite::default()
        };
        let req = DataRequest {
            path: "t".into(),
            details: Details::TableWrite(write.clone()),
        };
        let bytes = encode_request(&req).unwrap();
        assert_eq!(batches_following(&bytes).unwrap(), 0);
        let Details::TableWrite(back) = decode_request(&bytes, None).unwrap().details else {
            panic!("not a write")
        };
        assert_eq!(back.keys, write.keys);
        assert_eq!(back.expression, write.expression);
        assert_eq!(back.condition, write.condition);
        assert!(matches!(back.items, Items::Json(rows) if rows[0]["n"].is_null()));
        let delete = OpDeleteRows {
            keys: vec![vec![Value::Str("a".into())]],
            filter: Some(Filter::parse("n > 2").unwrap()),
            condition: Some(Filter::parse("n IS NOT NULL").unwrap()),
            options: Options::from([("o".to_string(), "1".to_string())]),
        };
        let req = DataRequest {
            path: "t".into(),
            details: Details::TableDelete(delete.clone()),
        };
        let Details::TableDelete(back) = decode_request(&encode_request(&req).unwrap(), None)
            .unwrap()
            .details
        else {
            panic!("not a delete")
        };
        assert_eq!(
            (back.keys, back.filter, back.condition, back.options),
            (delete.keys, delete.filter, delete.condition, delete.options)
        );
        let req = DataRequest {
            path: "t".into(),
            details: Details::TableCreate(OpCreateTable {
                schema: schema.clone(),
                options: Options::new(),
            }),
        };
        let Details::TableCreate(back) = decode_request(&encode_request(&req).unwrap(), None)
            .unwrap()
            .details
        else {
            panic!("not a create")
        };
        assert_eq!(back.schema, schema);
        let count = ResponseMessage {
            head: Head::Count(42),
            is_last: true,
            ..ResponseMessage::default()
        };
        let back = decode_frame(&encode_frame(&Ok(count)), Bytes::new(), None).unwrap();
        assert!(matches!(back.head, Head::Count(42)));
        let call = DataRequest {
            path: "users/7".into(),
            details: Details::GenericCall(OpCall {
                operation: "PATCH".into(),
                payload: Bytes::from_static(b"{\"a\": 1}"),
                idempotent: true,
                options: Options::from([("header.x-a".to_string(), "1".to_string())]),
            }),
        };
        let Details::GenericCall(back) = decode_request(&encode_request(&call).unwrap(), None)
            .unwrap()
            .details
        else {
            panic!("not a call")
        };
        assert_eq!(
            (back.operation.as_str(), &back.payload[..], back.idempotent),
            ("PATCH", &b"{\"a\": 1}"[..], true)
        );
        assert_eq!(back.options["header.x-a"], "1");
        let reply = CallReply {
            status: 201,
            metadata: vec![
                ("set-cookie".into(), "a".into()),
                ("set-cookie".into(), "b".into()),
            ],
        };
        let frame = ResponseMessage {
            head: Head::Reply(reply.clone()),
            encoding: Encoding::Raw,
            ..ResponseMessage::default()
        };
        let back = decode_frame(&encode_frame(&Ok(frame)), Bytes::from_static(b"body"), None).unwrap();
        assert_eq!((back.head, &back.buffer[..]), (Head::Reply(reply), &b"body"[..]));
        let batch = ResponseMessage {
            head: Head::Batch(RecordBatch::new_empty(schema.to_arrow())),
            ..ResponseMessage::default()
        };
        let envelope = encode_frame(&Ok(batch));
        assert!(is_batch_frame(&envelope).unwrap());
        assert!(
            decode_frame(&envelope, Bytes::new(), None).is_err(),
            "a batch frame needs its batch"
        );
    }

    #[test]
    fn watches_and_their_changes_round_trip() {
        for (table, from, initial) in [
            (false, WatchFrom::Now, false),
            (true, WatchFrom::Cursor("e-7".into()), true),
        ] {
            let op = OpWatch {
                from: from.clone(),
                initial,
                options: [("k".to_string(), "v".to_string())].into(),
            };
            let details = if table {
                Details::TableWatch(op)
            } else {
                Details::ObjectWatch(op)
            };
            let req = DataRequest {
                path: "p/".into(),
                details,
            };
            let back = match decode_request(&encode_request(&req).unwrap(), None)
                .unwrap()
                .details
            {
                Details::TableWatch(back) if table => back,
                Details::ObjectWatch(back) if !table => back,
                other => panic!("not the watch sent: {other:?}"),
            };
            assert_eq!(
                (back.from, back.initial, back.options["k"].as_str()),
                (from, initial, "v")
            );
        }
        let changes: Vec<Change> = ChangeKind::ALL
            .iter()
            .enumerate()
            .map(|(i, kind)| Change {
                kind: *kind,
                path: format!("p/{i}"),
                gen: format!("g{i}"),
                size: (i % 2 == 0).then_some(i as u64),
                row: (i % 2 == 1).then(|| format!("{{\"id\":{i}}}")),
                before: (i == 2).then(|| "{}".to_string()),
                time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
                cursor: format!("e-{i}"),
            })
            .collect();
        let frame = ResponseMessage {
            is_array: true,
            head: Head::Changes(changes.clone()),
            ..ResponseMessage::default()
        };
        let back = decode_frame(&encode_frame(&Ok(frame)), Bytes::new(), None).unwrap();
        assert_eq!(back.head, Head::Changes(changes));
    }

    #[test]
    fn requests_round_trip() {
        let mut op = OpGet {
            range: Some(ByteRange {
                offset: 3,
                length: Some(4),
            }),
            ..Default::default()
        };
        op.conditions.set("if-none-match", "*").unwrap();
        op.options.insert("k".into(), "v".into());
        let req = DataRequest {
            path: "a/b".into(),
            details: Details::ObjectGet(op),
        };
        let back = decode_request(&encode_request(&req).unwrap(), None).unwrap();
        assert_eq!(back.path, "a/b");
        let Details::ObjectGet(g) = back.details else {
            panic!("not a get")
        };
        assert_eq!(
            g.range,
            Some(ByteRange {
                offset: 3,
                length: Some(4)
            })
        );
        assert_eq!(g.conditions.if_none_match.as_deref(), Some("*"));
        assert_eq!(g.conditions.if_match, None);
        assert_eq!(g.options.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn stream_requests_and_frames_round_trip() {
        let mut msg = Message::new("value").with_key("key").with_header("h", "x");
        msg.timestamp = Some(UNIX_EPOCH + Duration::from_millis(1234));
        msg.shard = 2;
        msg.position = 9;
        let req = DataRequest {
            path: "s".into(),
            details: Details::StreamPublish(OpPublish {
                messages: vec![msg.clone()],
                options: Options::new(),
            }),
        };
        let Details::StreamPublish(back) = decode_request(&encode_request(&req).unwrap(), None)
            .unwrap()
            .details
        else {
            panic!("not a publish")
        };
        assert_eq!(back.messages, vec![msg.clone()]);
        let consume = OpConsume {
            start: Some(StartAt::Positions([(1, 5)].into_iter().collect())),
            group: Some("g".into()),
            filter: Some(Filter::parse("n > 1").unwrap()),
            select: vec!["n".into()],
            follow: false,
            options: Options::new(),
        };
        let req = DataRequest {
            path: "s".into(),
            details: Details::StreamConsume(consume.clone()),
        };
        let Details::StreamConsume(back) = decode_request(&encode_request(&req).unwrap(), None)
            .unwrap()
            .details
        else {
            panic!("not a consume")
        };
        assert_eq!(
            (back.start, back.group, back.filter, back.select, back.follow),
            (
                consume.start,
                consume.group,
                consume.filter,
                consume.select,
                false
            )
        );
        let frame = ResponseMessage {
            is_array: true,
            head: Head::Messages(vec![msg.clone()]),
            ..Default::default()
        };
        let back = decode_frame(&encode_frame(&Ok(frame)), Bytes::new(), None).unwrap();
        assert_eq!(back.head, Head::Messages(vec![msg]));
        let shards = Head::Shards(vec![ShardInfo {
            id: 1,
            first: 2,
            next: 3,
        }]);
        let frame = ResponseMessage {
            head: shards.clone(),
            ..Default::default()
        };
        assert_eq!(
            decode_frame(&encode_frame(&Ok(frame)), Bytes::new(), None)
                .unwrap()
                .head,
            shards
        );
    }

    #[test]
    fn frames_and_errors_round_trip() {
        let meta = ObjectMeta {
            path: "p".into(),
            size: 5,
            gen: "g".into(),
            modified: Some(UNIX_EPOCH + Duration::from_nanos(42)),
            metadata: [("a".to_string(), "b".to_string())].into(),
        };
        let frame = ResponseMessage {
            size: 5,
            is_last: true,
            head: Head::Object(meta.clone()),
            ..Default::default()
        };
        let back = decode_frame(&encode_frame(&Ok(frame)), Bytes::from_static(b"hello"), None).unwrap();
        assert_eq!(back.head, Head::Object(meta));
        assert_eq!(&back.buffer[..], b"hello");
        let err = Error::condition_failed("nope")
            .with_operation("put")
            .with_path("p");
        let back = decode_frame(&encode_frame(&Err(err)), Bytes::new(), None).unwrap_err();
        assert_eq!(back.kind(), ErrorKind::ConditionFailed);
        assert_eq!(back.operation(), Some("put"));
        let mut cap = Capability::FULL_OBJECT;
        cap.set_limit("max_object_size", 7);
        assert_eq!(
            decode_connect_result(&encode_connect_result(&Ok(cap)))
                .unwrap()
                .unwrap(),
            cap
        );
    }

    #[test]
    fn a_handshake_carries_the_driver_and_its_option_docs() {
        let info = DriverInfo {
            name: "d".into(),
            kinds: vec![Kind::Object, Kind::Table],
            capability: Capability::FULL_OBJECT,
            description: "a driver".into(),
            version: "1.2.3".into(),
            local_url: true,
            options: bindery_core::option_docs(&[("format", "parquet or csv"), ("header.NAME", "a header")]),
        };
        let (version, back) = decode_handshake(&encode_handshake(7, &info)).unwrap();
        assert_eq!(version, 7);
        assert_eq!(
            (back.name, back.kinds, back.capability),
            (info.name, info.kinds, info.capability)
        );
        assert_eq!(
            (back.description, back.version, back.local_url),
            (info.description, info.version, true)
        );
        assert_eq!(back.options, info.options);
    }
}
