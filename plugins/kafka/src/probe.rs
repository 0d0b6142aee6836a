//! Which Kafka APIs a broker serves, from an ApiVersions request (v0) sent over plain TCP, so
//! a binding can leave out of its capability what its broker lacks (tansu has no
//! CreatePartitions, for one). librdkafka knows the answer but does not expose it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The ApiVersions request's API key.
const API_VERSIONS: i16 = 18;
/// CreatePartitions: what `update` needs.
pub(crate) const CREATE_PARTITIONS: i16 = 37;

/// The API keys the first reachable broker of `brokers` (`host:port,…`) supports, or `None`
/// when none answered.
pub(crate) fn api_keys(brokers: &str) -> Option<Vec<i16>> {
    brokers.split(',').find_map(|b| ask(b.trim()).ok())
}

fn ask(broker: &str) -> std::io::Result<Vec<i16>> {
    let addr = broker
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let client = b"bindery";
    // Header v1: api_key, api_version, correlation_id, client_id (int16 length + bytes).
    let mut body = Vec::new();
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    s.write_all(&(body.len() as i32).to_be_bytes())?;
    s.write_all(&body)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(10..=1 << 20).contains(&len) {
        return Err(std::io::Error::other("bad ApiVersions answer"));
    }
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf)?;
    parse(&buf).ok_or_else(|| std::io::Error::other("bad ApiVersions answer"))
}

/// Parses an ApiVersions v0 answer: correlation_id, error_code, [api_key, min, max].
fn parse(buf: &[u8]) -> Option<Vec<i16>> {
    let i16_at = |i: usize| buf.get(i..i + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let error = i16_at(4)?;
    if error != 0 {
        return None;
    }
    let n = i32::from_be_bytes(buf.get(6..10)?.try_into().ok()?);
    (0..n.max(0) as usize).map(|k| i16_at(10 + k * 6)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        // correlation 1, no error, two APIs: Produce (0) v0-9 and ApiVersions (18) v0-3.
        let mut a = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 2];
        a.extend_from_slice(&[0, 0, 0, 0, 0, 9, 0, 18, 0, 0, 0, 3]);
        assert_eq!(parse(&a), Some(vec![0, 18]));
        a[5] = 35; // UNSUPPORTED_VERSION
        assert_eq!(parse(&a), None);
        assert_eq!(parse(&a[..7]), None);
    }
}
