//! `XADD stream * m body [h:name value ...]` commands in RESP, written straight into one
//! reused buffer.
//!
//! Every entry of a batch shares the same first four arguments, so they are encoded
//! once and copied in front of each body.

use crate::wire::headers::{unpack, PREFIX};

/// Appends one `XADD stream * m body` per body to `out`.
///
/// `body_bytes` is the bodies' total size (an upper bound will do): `out` grows at
/// most once.
pub fn encode_xadds<'a>(
    out: &mut Vec<u8>,
    stream: &str,
    bodies: impl ExactSizeIterator<Item = &'a [u8]>,
    body_bytes: usize,
) {
    let mut prefix = Vec::with_capacity(40 + stream.len());
    prefix.extend_from_slice(b"*5\r\n$4\r\nXADD\r\n");
    push_bulk(&mut prefix, stream.as_bytes());
    prefix.extend_from_slice(b"$1\r\n*\r\n$1\r\nm\r\n");
    // The prefix, `$`, up to 10 digits and two line ends per body.
    out.reserve(bodies.len() * (prefix.len() + 15) + body_bytes);
    for body in bodies {
        out.extend_from_slice(&prefix);
        push_bulk(out, body);
    }
}

/// Appends one `XADD stream * m body h:name value ...` with the headers `packed` holds
/// (`count` of them, packed as `PackedHeaders` does): the body first, as readers that
/// know only `m` expect.
pub fn encode_xadd_with_headers(
    out: &mut Vec<u8>,
    stream: &str,
    body: &[u8],
    count: u32,
    packed: &[u8],
) {
    let mut digits = Digits::default();
    out.push(b'*');
    out.extend_from_slice(digits.of(5 + 2 * u64::from(count)));
    out.extend_from_slice(b"\r\n$4\r\nXADD\r\n");
    push_bulk(out, stream.as_bytes());
    out.extend_from_slice(b"$1\r\n*\r\n$1\r\nm\r\n");
    push_bulk(out, body);
    for (name, value) in unpack(packed) {
        out.push(b'$');
        out.extend_from_slice(digits.of((PREFIX.len() + name.len()) as u64));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(name);
        out.extend_from_slice(b"\r\n");
        push_bulk(out, value);
    }
}

/// Appends `WAIT replicas timeout_ms` to `out`.
pub fn encode_wait(out: &mut Vec<u8>, replicas: usize, timeout_ms: u64) {
    out.extend_from_slice(b"*3\r\n$4\r\nWAIT\r\n");
    let mut digits = Digits::default();
    push_bulk(out, digits.of(replicas as u64));
    push_bulk(out, digits.of(timeout_ms));
}

/// `$<len>\r\n<bytes>\r\n`
fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(Digits::default().of(bytes.len() as u64));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// The decimal digits of a number, without an allocation.
#[derive(Default)]
struct Digits([u8; 20]);

impl Digits {
    fn of(&mut self, mut n: u64) -> &[u8] {
        let mut start = self.0.len();
        loop {
            start -= 1;
            self.0[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return &self.0[start..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(stream: &str, bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_xadds(&mut out, stream, bodies.iter().copied(), 0);
        out
    }

    #[test]
    fn each_body_becomes_one_xadd() {
        assert_eq!(
            encoded("qu{0}_q", &[b"{}", b""]),
            b"*5\r\n$4\r\nXADD\r\n$7\r\nqu{0}_q\r\n$1\r\n*\r\n$1\r\nm\r\n$2\r\n{}\r\n\
              *5\r\n$4\r\nXADD\r\n$7\r\nqu{0}_q\r\n$1\r\n*\r\n$1\r\nm\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn bodies_are_written_as_they_are() {
        let body: Vec<u8> = (0..=255).collect();
        let out = encoded("s", &[&body]);
        let head = b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nm\r\n$256\r\n";
        assert_eq!(&out[..head.len()], head);
        assert_eq!(&out[head.len()..head.len() + 256], &body[..]);
        assert_eq!(&out[head.len() + 256..], b"\r\n");
    }

    #[test]
    fn matches_what_redis_rs_packs() {
        let bodies: [&[u8]; 3] = [b"a", b"\r\n", &[0u8; 1000]];
        let mut pipe = redis::pipe();
        for body in bodies {
            pipe.cmd("XADD")
                .arg("qu{3}_name")
                .arg("*")
                .arg("m")
                .arg(body);
        }
        pipe.cmd("WAIT").arg(2).arg(1500);
        let mut out = encoded("qu{3}_name", &bodies);
        encode_wait(&mut out, 2, 1500);
        assert_eq!(out, pipe.get_packed_pipeline());
    }

    #[test]
    fn headers_follow_the_body_as_prefixed_fields() {
        let mut headers = crate::wire::headers::PackedHeaders::default();
        headers.push("trace", b"t1").unwrap();
        headers.push("k", b"").unwrap();
        let mut out = Vec::new();
        encode_xadd_with_headers(
            &mut out,
            "qu{0}_q",
            b"{}",
            headers.count(),
            headers.packed(),
        );
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg("qu{0}_q")
            .arg("*")
            .arg("m")
            .arg(b"{}")
            .arg("h:trace")
            .arg(b"t1")
            .arg("h:k")
            .arg(b"");
        assert_eq!(out, pipe.get_packed_pipeline());
    }

    #[test]
    fn wait_names_replicas_and_milliseconds() {
        let mut out = Vec::new();
        encode_wait(&mut out, 1, 0);
        assert_eq!(out, b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n");
    }

    #[test]
    fn digits_cover_the_whole_range() {
        let mut digits = Digits::default();
        assert_eq!(digits.of(0), b"0");
        assert_eq!(digits.of(10), b"10");
        assert_eq!(digits.of(u64::MAX), u64::MAX.to_string().as_bytes());
    }
}
