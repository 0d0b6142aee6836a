//! The on-disk record: `[magic u8][body length u32][crc32 of body u32][body]`. The magic
//! says whether the record is the last of its publish ([`LAST`]) or more of the same publish
//! follow ([`MORE`]): readers serve a publish's records in a shard only once its last one is
//! there, so a publish cut short by a crash is never half-present. The body
//! is `position u64, timestamp (ns) i64, key length i32 (-1: none), key, header count u16,
//! (name length u16, name, value length u32, value)…, value length u32, value`, little-endian.

use std::io::{self, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindery_core::Message;
use bytes::{BufMut, Bytes, BytesMut};

/// The magic of a publish's last record in a shard.
pub const LAST: u8 = 0xB7;
/// The magic of a record that more records of the same publish follow.
pub const MORE: u8 = 0xB6;
pub const HEADER: usize = 9;
/// The largest record accepted (a guard against reading garbage as a length).
pub const MAX_BODY: usize = 64 << 20;

fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

/// The smallest body: position, timestamp, key length, header count, value length.
const MIN_BODY: usize = 8 + 8 + 4 + 2 + 4;

/// Appends a message's record to `out`; `last`: the last record of its publish. The caller
/// has checked the message against [`check`].
pub fn encode(out: &mut BytesMut, m: &Message, position: u64, timestamp: SystemTime, last: bool) {
    out.reserve(encoded_len(m));
    let start = out.len();
    out.put_u8(if last { LAST } else { MORE });
    out.put_u32_le(0); // the body's length and checksum, filled in below
    out.put_u32_le(0);
    let body = out.len();
    out.put_u64_le(position);
    out.put_i64_le(nanos(timestamp));
    match &m.key {
        Some(k) => {
            out.put_i32_le(k.len() as i32);
            out.put_slice(k);
        }
        None => out.put_i32_le(-1),
    }
    out.put_u16_le(m.headers.len() as u16);
    for (name, value) in &m.headers {
        out.put_u16_le(name.len() as u16);
        out.put_slice(name.as_bytes());
        out.put_u32_le(value.len() as u32);
        out.put_slice(value);
    }
    out.put_u32_le(m.value.len() as u32);
    out.put_slice(&m.value);
    let len = (out.len() - body) as u32;
    let crc = crc32fast::hash(&out[body..]);
    out[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    out[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
}

/// Whether a message fits the record format: its size, and its header count and names.
pub fn check(m: &Message) -> Result<(), String> {
    if encoded_len(m) - HEADER > MAX_BODY {
        return Err(format!(
            "a message of {} bytes is larger than the log's limit of {} bytes",
            m.value.len(),
            MAX_BODY
        ));
    }
    if m.headers.len() > u16::MAX as usize {
        return Err(format!(
            "a message has {} headers; the log keeps at most {}",
            m.headers.len(),
            u16::MAX
        ));
    }
    if let Some((name, _)) = m.headers.iter().find(|(n, _)| n.len() > u16::MAX as usize) {
        return Err(format!(
            "a header name of {} bytes (starting '{}') is longer than the log's limit of {} bytes",
            name.len(),
            name.chars().take(20).collect::<String>(),
            u16::MAX
        ));
    }
    Ok(())
}

/// The encoded size of a message's record (to check limits before writing).
pub fn encoded_len(m: &Message) -> usize {
    HEADER
        + 8
        + 8
        + 4
        + m.key.as_ref().map_or(0, |k| k.len())
        + 2
        + m.headers
            .iter()
            .map(|(n, v)| 2 + n.len() + 4 + v.len())
            .sum::<usize>()
        + 4
        + m.value.len()
}

/// What reading the next record found.
pub enum Next {
    /// A whole record, its size on disk, and whether it is the last of its publish.
    Record(Message, u64, bool),
    /// The clean end of the data.
    End,
    /// A record cut short or failing its checksum: the valid data ends here.
    Torn,
}

/// Reads the next record. The message's key, headers and value share one buffer.
pub fn read(r: &mut impl Read, shard: u32) -> io::Result<Next> {
    let mut head = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match r.read(&mut head[got..]) {
            Ok(0) => return Ok(if got == 0 { Next::End } else { Next::Torn }),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let crc = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
    if !matches!(head[0], LAST | MORE) || !(MIN_BODY..=MAX_BODY).contains(&len) {
        return Ok(Next::Torn);
    }
    let mut body = vec![0u8; len];
    if let Err(e) = r.read_exact(&mut body) {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Next::Torn)
        } else {
            Err(e)
        };
    }
    if crc32fast::hash(&body) != crc {
        return Ok(Next::Torn);
    }
    Ok(match decode(Bytes::from(body), shard) {
        Some(m) => Next::Record(m, (HEADER + len) as u64, head[0] == LAST),
        None => Next::Torn,
    })
}

fn decode(body: Bytes, shard: u32) -> Option<Message> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<Bytes> {
        if at + n > body.len() {
            return None;
        }
        let out = body.slice(at..at + n);
        at += n;
        Some(out)
    };
    let u = |b: Bytes| -> u64 { b.iter().rev().fold(0u64, |acc, x| (acc << 8) | *x as u64) };
    let position = u(take(8)?);
    let ts = u(take(8)?) as i64;
    let key_len = u(take(4)?) as u32 as i32;
    let key = if key_len < 0 {
        None
    } else {
        Some(take(key_len as usize)?)
    };
    let n_headers = u(take(2)?) as usize;
    let mut headers = Vec::with_capacity(n_headers);
    for _ in 0..n_headers {
        let nl = u(take(2)?) as usize;
        let name = String::from_utf8(take(nl)?.to_vec()).ok()?;
        let vl = u(take(4)?) as usize;
        headers.push((name, take(vl)?));
    }
    let vl = u(take(4)?) as usize;
    let value = take(vl)?;
    let timestamp = if ts >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ts as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ts.unsigned_abs())
    };
    Some(Message {
        key,
        value,
        headers,
        timestamp: Some(timestamp),
        shard,
        position,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_ones_are_seen() {
        let m = Message::new("value").with_key("k").with_header("h", "x");
        let t = UNIX_EPOCH + Duration::from_nanos(123_456);
        let mut buf = BytesMut::new();
        encode(&mut buf, &m, 7, t, false);
        assert_eq!(buf.len(), encoded_len(&m));
        encode(&mut buf, &Message::new(""), 8, t, true);
        let all = buf.freeze();
        let mut r = &all[..];
        let Next::Record(got, size, false) = read(&mut r, 3).unwrap() else {
            panic!("no record")
        };
        assert_eq!(
            (
                got.key,
                got.value,
                got.headers.len(),
                got.position,
                got.shard,
                got.timestamp
            ),
            (m.key, m.value, 1, 7, 3, Some(t))
        );
        assert_eq!(
            size as usize,
            encoded_len(&Message::new("value").with_key("k").with_header("h", "x"))
        );
        assert!(matches!(read(&mut r, 3).unwrap(), Next::Record(m, _, true) if m.position == 8));
        assert!(matches!(read(&mut r, 3).unwrap(), Next::End));
        // Every cut inside a record is torn, never a record.
        for cut in 1..size as usize {
            let mut r = &all[..cut];
            assert!(matches!(read(&mut r, 0).unwrap(), Next::Torn), "cut at {cut}");
        }
        let mut flipped = all.to_vec();
        flipped[20] ^= 1;
        assert!(matches!(read(&mut &flipped[..], 0).unwrap(), Next::Torn));
    }
}
