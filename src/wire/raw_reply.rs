//! Parsing an XREADGROUP reply (RESP2) straight from the bytes read off the socket.
//!
//! redis-rs parses every reply into a tree of values, several allocations per entry, and
//! that was about half of a consumer's CPU. This reads ids and bodies out directly.
//! The parser resumes where it stopped as more bytes arrive, so a large reply read in
//! many pieces is parsed once.
//!
//! The bytes are not trusted: every length is bounded before it is used, so a malformed
//! reply is refused as `Malformed` rather than overflowing or allocating what it claims.

use crate::wire::headers::{header_name, read_header, Headers};
use crate::wire::reply::Entry;

/// Redis's default `proto-max-bulk-len`, 512 MiB: no XADD argument, so no field of an
/// entry, is longer unless a server raises it.
const MAX_BULK: usize = 512 * 1024 * 1024;
/// The most elements an array may announce (hiredis's limit too).
const MAX_COUNT: usize = u32::MAX as usize;
/// Entries reserved ahead of their arrival, whatever the count announced.
const PRESIZE: usize = 4096;
/// A length line: its type byte and a `u64`'s 20 digits at most.
const MAX_HEADER: usize = 21;
/// An error reply's line (Redis's are a few dozen bytes).
const MAX_ERROR: usize = 64 * 1024;

/// A complete reply to XREADGROUP.
#[derive(Debug, PartialEq, Eq)]
pub enum RawReply {
    /// The entries read; none when BLOCK timed out.
    Entries(Vec<Entry>),
    /// An error reply, as its line (`-CODE detail`, without CRLF).
    Error(Vec<u8>),
}

#[derive(Debug, Default)]
enum Stage {
    #[default]
    Start,
    /// Streams left to read, each a `[name, entries]` pair.
    Streams(usize),
    /// Entries left in the current stream, then the streams after it.
    Entries { entries: usize, streams: usize },
}

/// One reply, parsed as its bytes arrive.
#[derive(Debug, Default)]
pub struct ReplyParser {
    stage: Stage,
    entries: Vec<Entry>,
    /// Bytes of the reply parsed so far.
    parsed: usize,
}

/// A malformed reply: the connection it came from cannot be trusted any more.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

type Step<T> = Result<Option<(T, usize)>, Malformed>;

impl ReplyParser {
    /// Parses on from where the last call stopped. `buf` holds the reply's bytes from its
    /// first, and only grows between calls. Returns the reply and its length once complete.
    pub fn parse(&mut self, buf: &[u8]) -> Step<RawReply> {
        loop {
            match self.stage {
                Stage::Start => match buf.first() {
                    None => return Ok(None),
                    Some(b'-') => {
                        let Some((line, end)) = line(buf, 0, MAX_ERROR)? else {
                            return Ok(None);
                        };
                        return Ok(Some((RawReply::Error(line.to_vec()), end)));
                    }
                    Some(_) => {
                        let Some((streams, end)) = header(buf, 0, b'*')? else {
                            return Ok(None);
                        };
                        self.parsed = end;
                        self.stage = Stage::Streams(streams.unwrap_or(0));
                    }
                },
                Stage::Streams(0) => {
                    let entries = std::mem::take(&mut self.entries);
                    return Ok(Some((RawReply::Entries(entries), self.parsed)));
                }
                Stage::Streams(streams) => {
                    let Some((entries, end)) = stream_header(buf, self.parsed)? else {
                        return Ok(None);
                    };
                    self.parsed = end;
                    self.entries.reserve(entries.min(PRESIZE));
                    self.stage = Stage::Entries {
                        entries,
                        streams: streams - 1,
                    };
                }
                Stage::Entries {
                    entries: 0,
                    streams,
                } => self.stage = Stage::Streams(streams),
                Stage::Entries { entries, streams } => {
                    let Some((entry, end)) = entry(buf, self.parsed)? else {
                        return Ok(None);
                    };
                    self.entries.push(entry);
                    self.parsed = end;
                    self.stage = Stage::Entries {
                        entries: entries - 1,
                        streams,
                    };
                }
            }
        }
    }
}

/// `*2`: the start of a two-element array, such as a stream or an entry.
fn pair(buf: &[u8], at: usize, what: &str) -> Step<()> {
    let Some((length, at)) = header(buf, at, b'*')? else {
        return Ok(None);
    };
    if length != Some(2) {
        return Err(Malformed(format!(
            "{what} is a {length:?}-array, not a pair"
        )));
    }
    Ok(Some(((), at)))
}

/// `*2 $name *N`: a stream's name, then how many entries follow.
fn stream_header(buf: &[u8], at: usize) -> Step<usize> {
    let Some(((), at)) = pair(buf, at, "stream")? else {
        return Ok(None);
    };
    let Some((_name, at)) = bulk(buf, at)? else {
        return Ok(None);
    };
    let Some((entries, at)) = header(buf, at, b'*')? else {
        return Ok(None);
    };
    Ok(Some((entries.unwrap_or(0), at)))
}

/// `*2 $id *2k fields…` (fields nil when the entry was deleted while pending).
fn entry(buf: &[u8], at: usize) -> Step<Entry> {
    let Some(((), at)) = pair(buf, at, "entry")? else {
        return Ok(None);
    };
    let Some((id, at)) = bulk(buf, at)? else {
        return Ok(None);
    };
    let id = id.ok_or_else(|| Malformed("entry without an id".to_owned()))?;
    let id = std::str::from_utf8(id)
        .map_err(|_| Malformed("entry id is not UTF-8".to_owned()))?
        .to_owned();
    let Some((fields, mut at)) = header(buf, at, b'*')? else {
        return Ok(None);
    };
    let fields = fields.unwrap_or(0);
    if fields % 2 != 0 {
        return Err(Malformed(format!("entry has {fields} fields and values")));
    }
    let mut body = None;
    let mut headers = Headers::new();
    for _ in 0..fields / 2 {
        let Some((name, after_name)) = bulk(buf, at)? else {
            return Ok(None);
        };
        let Some((value, after_value)) = bulk(buf, after_name)? else {
            return Ok(None);
        };
        if name == Some(b"m") {
            if body.is_none() {
                body = value.map(<[u8]>::to_vec);
            }
        } else if let (Some(header), Some(value)) = (name.and_then(header_name), value) {
            headers.push(read_header(header, value));
        }
        at = after_value;
    }
    Ok(Some((Entry { id, body, headers }, at)))
}

/// A line's bytes (at most `max`) and where the next line starts.
fn line(buf: &[u8], at: usize, max: usize) -> Step<&[u8]> {
    let rest = buf.get(at..).unwrap_or_default();
    let window = &rest[..rest.len().min(max + 2)];
    match window.windows(2).position(|pair| pair == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], at + end + 2))),
        None if window.len() == max + 2 => Err(Malformed(format!("line longer than {max} bytes"))),
        None => Ok(None),
    }
}

/// `<kind><count>\r\n`: the count, `None` for a nil (`-1`).
fn header(buf: &[u8], at: usize, kind: u8) -> Step<Option<usize>> {
    match buf.get(at) {
        None => return Ok(None),
        Some(&found) if found != kind => {
            return Err(Malformed(format!(
                "expected {:?}, found {:?}",
                kind as char, found as char
            )));
        }
        Some(_) => {}
    }
    let Some((line, end)) = line(buf, at, MAX_HEADER)? else {
        return Ok(None);
    };
    let digits = &line[1..];
    if digits == b"-1" {
        return Ok(Some((None, end)));
    }
    let max = if kind == b'$' { MAX_BULK } else { MAX_COUNT };
    let count = decimal(digits)
        .filter(|&count| count <= max)
        .ok_or_else(|| Malformed(format!("bad length {:?}", String::from_utf8_lossy(digits))))?;
    Ok(Some((Some(count), end)))
}

/// Decimal digits and nothing else (no sign, no spaces), unless they overflow.
fn decimal(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0_usize, |number, &digit| {
        let digit = digit.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        number.checked_mul(10)?.checked_add(usize::from(digit))
    })
}

/// `$<len>\r\n<bytes>\r\n`: the bytes, `None` for a nil.
fn bulk(buf: &[u8], at: usize) -> Step<Option<&[u8]>> {
    let Some((len, start)) = header(buf, at, b'$')? else {
        return Ok(None);
    };
    let Some(len) = len else {
        return Ok(Some((None, start)));
    };
    // `len` is at most `MAX_BULK`, so `len + 2` cannot overflow, nor can `start + len + 2`
    // once the bytes are known to be there.
    if buf.len().saturating_sub(start) < len + 2 {
        return Ok(None);
    }
    let end = start + len;
    if &buf[end..end + 2] != b"\r\n" {
        return Err(Malformed("bulk string not followed by CRLF".to_owned()));
    }
    Ok(Some((Some(&buf[start..end]), end + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &[u8] = b"*1\r\n*2\r\n$7\r\nqu{0}_q\r\n*3\r\n\
        *2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nm\r\n$6\r\n\x00bo\r\ny\r\n\
        *2\r\n$3\r\n2-0\r\n*-1\r\n\
        *2\r\n$4\r\n10-0\r\n*4\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nm\r\n$0\r\n\r\n";

    fn expected() -> RawReply {
        RawReply::Entries(vec![
            Entry {
                id: "1-0".into(),
                body: Some(b"\x00bo\r\ny".to_vec()),
                headers: vec![],
            },
            Entry::without_body("2-0".into()),
            Entry {
                id: "10-0".into(),
                body: Some(Vec::new()),
                headers: vec![],
            },
        ])
    }

    #[test]
    fn reads_bodies_and_marks_deleted_entries() {
        let parsed = ReplyParser::default().parse(REPLY).unwrap();
        assert_eq!(parsed, Some((expected(), REPLY.len())));
    }

    #[test]
    fn a_reply_arriving_byte_by_byte_is_parsed_once_complete() {
        let mut parser = ReplyParser::default();
        for end in 0..REPLY.len() {
            assert_eq!(parser.parse(&REPLY[..end]).unwrap(), None, "at {end}");
        }
        assert_eq!(
            parser.parse(REPLY).unwrap(),
            Some((expected(), REPLY.len()))
        );
    }

    #[test]
    fn header_fields_come_with_the_entry() {
        let reply = b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*6\r\n\
            $1\r\nm\r\n$1\r\nb\r\n$7\r\nh:trace\r\n$2\r\nt1\r\n$1\r\nx\r\n$1\r\ny\r\n";
        let Ok(Some((RawReply::Entries(entries), _))) = ReplyParser::default().parse(reply) else {
            panic!("a valid reply");
        };
        assert_eq!(entries[0].body.as_deref(), Some(&b"b"[..]));
        assert_eq!(entries[0].headers, [("trace".to_owned(), b"t1".to_vec())]);
    }

    #[test]
    fn nil_is_nothing_new_and_errors_come_back_as_lines() {
        let nil = ReplyParser::default().parse(b"*-1\r\n").unwrap();
        assert_eq!(nil, Some((RawReply::Entries(Vec::new()), 5)));
        let error = b"-MOVED 3999 127.0.0.1:6381\r\n";
        let parsed = ReplyParser::default().parse(error).unwrap();
        assert_eq!(
            parsed,
            Some((
                RawReply::Error(error[..error.len() - 2].to_vec()),
                error.len()
            ))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(ReplyParser::default().parse(b"+OK\r\n").is_err());
        assert!(ReplyParser::default().parse(b"*1\r\n*3\r\n").is_err());
        assert!(ReplyParser::default().parse(b"*x\r\n").is_err());
    }

    /// A one-entry reply with the given length lines: streams, stream pair, stream name,
    /// entries, entry pair, id, fields, field name, field value.
    fn reply_with(lengths: [&str; 9]) -> Vec<u8> {
        let [streams, stream, name, entries, entry, id, fields, field, value] = lengths;
        format!(
            "*{streams}\r\n*{stream}\r\n${name}\r\nq\r\n*{entries}\r\n*{entry}\r\n\
             ${id}\r\n1-0\r\n*{fields}\r\n${field}\r\nm\r\n${value}\r\nb\r\n"
        )
        .into_bytes()
    }

    const LENGTHS: [&str; 9] = ["1", "2", "1", "1", "2", "3", "2", "1", "1"];
    const ARRAYS: [usize; 5] = [0, 1, 3, 4, 6];
    const BULKS: [usize; 4] = [2, 5, 7, 8];

    fn parse_with(at: usize, length: &str) -> Step<RawReply> {
        let mut lengths = LENGTHS;
        lengths[at] = length;
        ReplyParser::default().parse(&reply_with(lengths))
    }

    #[test]
    fn the_reply_the_length_tests_start_from_is_valid() {
        let reply = reply_with(LENGTHS);
        let entry = Entry {
            id: "1-0".into(),
            body: Some(b"b".to_vec()),
            headers: vec![],
        };
        assert_eq!(
            ReplyParser::default().parse(&reply),
            Ok(Some((RawReply::Entries(vec![entry]), reply.len())))
        );
    }

    #[test]
    fn lengths_that_overflow_or_are_not_plain_digits_are_refused_everywhere() {
        let huge = "9".repeat(1000);
        let bad = [
            "18446744073709551615",
            "18446744073709551616",
            "100000000000000000",
            "9223372036854775807",
            &huge,
            "-2",
            "-0",
            "-18446744073709551615",
            "+1",
            " 1",
            "1 ",
            "",
            "1x",
            "0x1",
            "1\r",
            "\u{0661}",
        ];
        for at in 0..LENGTHS.len() {
            for length in bad {
                assert!(parse_with(at, length).is_err(), "{length:?} at {at}");
            }
        }
        for at in ARRAYS {
            assert!(parse_with(at, "4294967296").is_err(), "at {at}");
        }
        for at in BULKS {
            assert!(parse_with(at, "536870913").is_err(), "at {at}");
        }
    }

    #[test]
    fn large_but_possible_lengths_wait_for_their_bytes_without_reserving_them() {
        for (at, length) in [(0, "4294967295"), (3, "4294967295"), (5, "536870912")] {
            let mut lengths = LENGTHS;
            lengths[at] = length;
            let reply = reply_with(lengths);
            let mut parser = ReplyParser::default();
            assert_eq!(parser.parse(&reply), Ok(None), "{length} at {at}");
            assert!(parser.entries.capacity() <= PRESIZE, "{length} at {at}");
        }
    }

    #[test]
    fn nil_is_refused_where_resp_has_none() {
        assert!(parse_with(5, "-1").is_err(), "an entry without an id");
        assert!(parse_with(1, "-1").is_err(), "a stream that is not a pair");
        assert!(parse_with(4, "-1").is_err(), "an entry that is not a pair");
        let Ok(Some((RawReply::Entries(entries), _))) = parse_with(8, "-1") else {
            panic!("a nil field value is read as no body");
        };
        assert_eq!(entries[0].body, None);
    }

    #[test]
    fn endless_lines_are_refused_before_they_end() {
        let digits = format!("*{}", "9".repeat(MAX_HEADER + 1));
        assert!(ReplyParser::default().parse(digits.as_bytes()).is_err());
        assert_eq!(
            ReplyParser::default().parse(&digits.as_bytes()[..MAX_HEADER]),
            Ok(None)
        );
        let error = vec![b'-'; MAX_ERROR + 2];
        assert!(ReplyParser::default().parse(&error).is_err());
        assert_eq!(ReplyParser::default().parse(&error[..MAX_ERROR]), Ok(None));
    }

    #[test]
    fn bulk_strings_end_in_crlf_and_fields_come_in_pairs() {
        let mut reply = reply_with(LENGTHS);
        let end = reply.len();
        reply[end - 2] = b'x';
        assert!(ReplyParser::default().parse(&reply).is_err());
        assert!(parse_with(6, "1").is_err());
        assert!(parse_with(6, "3").is_err());
    }
}

#[cfg(test)]
mod props;
