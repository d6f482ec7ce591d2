//! Property tests of the parser against redis-rs's: valid replies, whole or arriving in
//! pieces, come out as redis-rs and `parse_read_reply` read them; random and mutated bytes
//! never panic, and whenever both parsers accept a reply they agree on its entries.
//!
//! Each case draws from its own seed, so a failure names the case that reproduces it.

use super::{Malformed, RawReply, ReplyParser};
use crate::wire::reply::{parse_read_reply, Entry};
use fastrand::Rng;

const CASES: u64 = 20_000;

/// A RESP2 value of the kinds an XREADGROUP reply is made of.
enum Resp {
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Resp::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Resp::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Resp::Bulk(Some(bytes)) => {
                out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Resp::Array(Some(items)) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    item.write(out);
                }
            }
        }
    }
}

fn bulk(bytes: impl Into<Vec<u8>>) -> Resp {
    Resp::Bulk(Some(bytes.into()))
}

fn array(items: Vec<Resp>) -> Resp {
    Resp::Array(Some(items))
}

/// A byte that often looks like RESP: CR, LF, a type byte, a digit.
fn byte(rng: &mut Rng) -> u8 {
    const TOKENS: &[u8] = b"\r\n*$-+:0123456789m";
    match rng.u8(..4) {
        0 => rng.u8(..),
        _ => TOKENS[rng.usize(..TOKENS.len())],
    }
}

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..rng.usize(..=max)).map(|_| byte(rng)).collect()
}

/// A reply as XREADGROUP sends it, with what it rarely sends: nil and empty replies,
/// several streams, deleted entries, extra fields, fields without `m`, odd ids.
fn valid_reply(rng: &mut Rng) -> Resp {
    let streams = match rng.u8(..8) {
        0 => return Resp::Array(None),
        1 => 0,
        2 => 2,
        _ => 1,
    };
    array((0..streams).map(|_| stream(rng)).collect())
}

fn stream(rng: &mut Rng) -> Resp {
    let name = format!("qu{{{}}}_q", rng.u16(..));
    array(vec![
        bulk(name),
        array((0..rng.usize(..8)).map(|_| entry(rng)).collect()),
    ])
}

fn entry(rng: &mut Rng) -> Resp {
    let id = match rng.u8(..8) {
        0 => "ünïcødé-0".to_owned(),
        1 => String::new(),
        _ => format!("{}-{}", rng.u64(..), rng.u32(..)),
    };
    let fields = (rng.u8(..6) != 0).then(|| {
        (0..rng.usize(..4))
            .flat_map(|_| [bulk(field_name(rng)), field_value(rng)])
            .collect()
    });
    array(vec![bulk(id), Resp::Array(fields)])
}

fn field_name(rng: &mut Rng) -> Vec<u8> {
    match rng.u8(..6) {
        0..=2 => b"m".to_vec(),
        3 => b"M".to_vec(),
        4 => Vec::new(),
        _ => bytes(rng, 4),
    }
}

fn field_value(rng: &mut Rng) -> Resp {
    if rng.u8(..10) == 0 {
        Resp::Bulk(None)
    } else {
        bulk(bytes(rng, 24))
    }
}

/// Lengths a server should never send, and a few it may.
const LENGTHS: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "100000000000000000",
    "9223372036854775807",
    "99999999999999999999999999999999",
    "4294967295",
    "4294967296",
    "536870912",
    "536870913",
    "-1",
    "-2",
    "-0",
    "+1",
    " 1",
    "",
    "0",
    "1",
    "2",
    "3",
    "01",
];

/// Changes a valid reply once or a few times: a byte flipped, inserted or dropped, the
/// end cut off, or a length line's digits replaced.
fn mutate(rng: &mut Rng, reply: &mut Vec<u8>) {
    let times = if rng.bool() { 1 } else { rng.usize(2..5) };
    for _ in 0..times {
        let at = rng.usize(..=reply.len());
        match rng.u8(..5) {
            0 if at < reply.len() => reply[at] = byte(rng),
            1 => reply.truncate(at),
            2 => reply.insert(at, byte(rng)),
            3 if at < reply.len() => drop(reply.remove(at)),
            _ => replace_length(rng, reply),
        }
    }
}

/// Replaces the digits of one `*`/`$` line with one of `LENGTHS`.
fn replace_length(rng: &mut Rng, reply: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..reply.len())
        .filter(|&at| matches!(reply[at], b'*' | b'$') && (at == 0 || reply[at - 1] == b'\n'))
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = starts[rng.usize(..starts.len())] + 1;
    let end = reply[start..]
        .iter()
        .position(|&byte| byte == b'\r')
        .map_or(reply.len(), |end| start + end);
    let length = LENGTHS[rng.usize(..LENGTHS.len())];
    reply.splice(start..end, length.bytes());
}

/// Random RESP-like lines, often close enough to a reply to get past its first bytes.
fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.usize(..12) {
        match rng.u8(..4) {
            0 => out.extend_from_slice(&bytes(rng, 8)),
            1 => out.push(b'$'),
            _ => out.push(b'*'),
        }
        out.extend_from_slice(LENGTHS[rng.usize(..LENGTHS.len())].as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

type Outcome = Result<Option<(RawReply, usize)>, Malformed>;

/// Parses `bytes` whole, and again as a growing prefix cut at random points, as the
/// bytes arrive off a socket; both ways must come to the same outcome.
fn parse_whole_and_split(rng: &mut Rng, bytes: &[u8], case: u64) -> Outcome {
    let whole = ReplyParser::default().parse(bytes);
    let mut cuts: Vec<usize> = (0..rng.usize(..5))
        .map(|_| rng.usize(..=bytes.len()))
        .collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut parser = ReplyParser::default();
    for cut in cuts {
        let outcome = parser.parse(&bytes[..cut]);
        if outcome != Ok(None) || cut == bytes.len() {
            assert_eq!(outcome, whole, "case {case}: cut at {cut} of {bytes:?}");
            break;
        }
    }
    whole
}

/// What redis-rs's parser and `parse_read_reply` make of the bytes, if they accept them.
fn redis_rs(bytes: &[u8]) -> Option<Vec<Entry>> {
    parse_read_reply(redis::parse_redis_value(bytes).ok()?).ok()
}

#[test]
fn valid_replies_parse_as_redis_rs_parses_them() {
    for case in 0..CASES {
        let mut rng = Rng::with_seed(case);
        let mut bytes = Vec::new();
        valid_reply(&mut rng).write(&mut bytes);
        let expected = redis_rs(&bytes).expect("redis-rs reads a valid reply");
        assert_eq!(
            parse_whole_and_split(&mut rng, &bytes, case),
            Ok(Some((RawReply::Entries(expected), bytes.len()))),
            "case {case}: {bytes:?}"
        );
    }
}

#[test]
fn random_and_mutated_bytes_never_panic_and_agree_with_redis_rs_when_both_accept() {
    let mut compared = 0;
    // Seeds of their own, after the valid replies'.
    for case in CASES..3 * CASES {
        let mut rng = Rng::with_seed(case);
        let bytes = if case % 2 == 0 {
            let mut bytes = Vec::new();
            valid_reply(&mut rng).write(&mut bytes);
            mutate(&mut rng, &mut bytes);
            bytes
        } else {
            random_bytes(&mut rng)
        };
        match parse_whole_and_split(&mut rng, &bytes, case) {
            Ok(Some((RawReply::Entries(entries), length))) => {
                if let Some(theirs) = redis_rs(&bytes[..length]) {
                    assert_eq!(entries, theirs, "case {case}: {bytes:?}");
                    compared += 1;
                }
            }
            Ok(Some((RawReply::Error(line), length))) => {
                assert_eq!(line, bytes[..length - 2], "case {case}: {bytes:?}");
            }
            Ok(None) | Err(_) => {}
        }
    }
    assert!(compared > CASES / 10, "only {compared} cases compared");
}
