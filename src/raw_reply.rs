//! Parsing an XREADGROUP reply (RESP2) straight from the bytes read off the socket.
//!
//! redis-rs parses every reply into a tree of values, several allocations per entry, and
//! that was about half of a consumer's CPU. This reads ids and bodies out directly.
//! The parser resumes where it stopped as more bytes arrive, so a large reply read in
//! many pieces is parsed once.

use crate::reply::Entry;

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
                        let Some((line, end)) = line(buf, 0) else {
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
                    self.entries.reserve(entries);
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
    let mut body = None;
    for _ in 0..fields.unwrap_or(0) / 2 {
        let Some((name, after_name)) = bulk(buf, at)? else {
            return Ok(None);
        };
        let Some((value, after_value)) = bulk(buf, after_name)? else {
            return Ok(None);
        };
        if body.is_none() && name == Some(b"m") {
            body = value.map(<[u8]>::to_vec);
        }
        at = after_value;
    }
    Ok(Some((Entry { id, body }, at)))
}

/// A line's bytes and where the next line starts.
fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
    Some((&rest[..end], at + end + 2))
}

/// `<kind><count>\r\n`: the count, `None` for a nil (`-1`).
fn header(buf: &[u8], at: usize, kind: u8) -> Step<Option<usize>> {
    let Some((line, end)) = line(buf, at) else {
        return Ok(None);
    };
    let Some((&found, digits)) = line.split_first() else {
        return Err(Malformed("empty line".to_owned()));
    };
    if found != kind {
        return Err(Malformed(format!(
            "expected {:?}, found {:?}",
            kind as char, found as char
        )));
    }
    if digits == b"-1" {
        return Ok(Some((None, end)));
    }
    let count = std::str::from_utf8(digits)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| Malformed(format!("bad length {:?}", String::from_utf8_lossy(digits))))?;
    Ok(Some((Some(count), end)))
}

/// `$<len>\r\n<bytes>\r\n`: the bytes, `None` for a nil.
fn bulk(buf: &[u8], at: usize) -> Step<Option<&[u8]>> {
    let Some((len, start)) = header(buf, at, b'$')? else {
        return Ok(None);
    };
    let Some(len) = len else {
        return Ok(Some((None, start)));
    };
    let end = start + len;
    if buf.len() < end + 2 {
        return Ok(None);
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
            },
            Entry {
                id: "2-0".into(),
                body: None,
            },
            Entry {
                id: "10-0".into(),
                body: Some(Vec::new()),
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
}
