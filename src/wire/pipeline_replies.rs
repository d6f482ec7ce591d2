//! The replies to a pipeline of writes, counted as they arrive without building values:
//! ids are only counted (or, for delivery reports, kept as numbers), error lines and
//! integers (WAIT's) are kept with their position.

use crate::wire::stream_id::StreamId;
use redis::Value;

/// What the replies to a pipeline said so far.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PipelineReplies {
    /// Replies complete so far.
    pub seen: usize,
    /// Error replies by position in the pipeline, as `CODE detail` (without the `-`).
    pub errors: Vec<(usize, String)>,
    /// Integer replies by position.
    pub integers: Vec<(usize, i64)>,
    /// The entry ids of XADD replies by position, when asked for (`capturing`).
    pub ids: Option<Vec<(usize, StreamId)>>,
}

/// A reply the scanner does not expect from a write: the connection cannot be trusted.
#[derive(Debug, PartialEq, Eq)]
pub struct Unexpected(pub &'static str);

impl PipelineReplies {
    /// Replies that keep the ids XADDs answer with, for delivery reports.
    #[must_use]
    pub fn capturing(ids: bool) -> Self {
        Self {
            ids: ids.then(Vec::new),
            ..Self::default()
        }
    }

    /// Scans the complete replies at the start of `bytes`, until `expected` replies are
    /// seen in all, and returns how many bytes they took; a reply cut off at the end is
    /// left for the next call.
    pub fn scan(&mut self, bytes: &[u8], expected: usize) -> Result<usize, Unexpected> {
        let mut at = 0;
        while self.seen < expected {
            let Some(&kind) = bytes.get(at) else {
                break;
            };
            let Some(end) = line_end(bytes, at + 1) else {
                break;
            };
            if bytes[end + 1] != b'\n' {
                return Err(Unexpected("a line without its line end"));
            }
            let line = &bytes[at + 1..end];
            let next = match kind {
                b'$' => {
                    let length = number(line).ok_or(Unexpected("bad bulk length"))?;
                    let length = usize::try_from(length).map_err(|_| Unexpected("nil reply"))?;
                    let next = end + 2 + length + 2;
                    if bytes.len() < next {
                        break;
                    }
                    if &bytes[next - 2..next] != b"\r\n" {
                        return Err(Unexpected("bulk string without its line end"));
                    }
                    if let Some(ids) = &mut self.ids {
                        if let Some(id) = stream_id(&bytes[end + 2..next - 2]) {
                            ids.push((self.seen, id));
                        }
                    }
                    next
                }
                b'-' => {
                    let text = String::from_utf8_lossy(line).into_owned();
                    self.errors.push((self.seen, text));
                    end + 2
                }
                // `+OK`, to AUTH.
                b'+' => end + 2,
                b':' => {
                    let value = number(line).ok_or(Unexpected("bad integer"))?;
                    self.integers.push((self.seen, value));
                    end + 2
                }
                _ => return Err(Unexpected("a reply of a type a write does not get")),
            };
            self.seen += 1;
            at = next;
        }
        Ok(at)
    }

    /// The same, from replies redis-rs has parsed.
    pub fn from_values(values: &[Value], ids: bool) -> Self {
        let mut replies = Self {
            seen: values.len(),
            ..Self::capturing(ids)
        };
        for (position, value) in values.iter().enumerate() {
            match value {
                Value::ServerError(error) => {
                    let code = error.code();
                    let text = match error.details() {
                        Some(detail) => format!("{code} {detail}"),
                        None => code.to_owned(),
                    };
                    replies.errors.push((position, text));
                }
                Value::Int(value) => replies.integers.push((position, *value)),
                Value::BulkString(id) => {
                    if let (Some(ids), Some(id)) = (&mut replies.ids, stream_id(id)) {
                        ids.push((position, id));
                    }
                }
                Value::SimpleString(id) => {
                    if let (Some(ids), Some(id)) = (&mut replies.ids, stream_id(id.as_bytes())) {
                        ids.push((position, id));
                    }
                }
                _ => {}
            }
        }
        replies
    }

    /// The integer reply at `position`, if that reply was one.
    pub fn integer_at(&self, position: usize) -> Option<i64> {
        self.integers
            .iter()
            .find(|(at, _)| *at == position)
            .map(|(_, value)| *value)
    }
}

/// Splits an error line into its code and the rest.
pub fn error_parts(text: &str) -> (&str, &str) {
    text.split_once(' ').unwrap_or((text, ""))
}

/// Where the line starting at `from` ends (the index of its `\r`), once all of it and
/// its `\n` arrived. Reply lines hold no `\r` of their own.
fn line_end(bytes: &[u8], from: usize) -> Option<usize> {
    let end = from + bytes.get(from..)?.iter().position(|&b| b == b'\r')?;
    (end + 1 < bytes.len()).then_some(end)
}

/// An entry id, `ms-seq`, as an XADD reply holds it.
fn stream_id(bytes: &[u8]) -> Option<StreamId> {
    StreamId::parse(std::str::from_utf8(bytes).ok()?)
}

fn number(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLIES: &[u8] = b"$15\r\n1700000000000-0\r\n\
        -MOVED 3999 127.0.0.1:6381\r\n\
        $15\r\n1700000000000-1\r\n\
        -OOM command not allowed\r\n\
        :2\r\n";

    #[test]
    fn counts_ids_and_keeps_errors_with_their_position() {
        let mut replies = PipelineReplies::default();
        assert_eq!(replies.scan(REPLIES, 5), Ok(REPLIES.len()));
        assert_eq!(replies.seen, 5);
        assert_eq!(
            replies.errors,
            [
                (1, "MOVED 3999 127.0.0.1:6381".to_owned()),
                (3, "OOM command not allowed".to_owned())
            ]
        );
        assert_eq!(replies.integer_at(4), Some(2));
        assert_eq!(replies.integer_at(3), None);
    }

    #[test]
    fn ids_are_kept_with_their_position_when_asked_for() {
        let mut replies = PipelineReplies::capturing(true);
        replies.scan(REPLIES, 5).unwrap();
        let id = |ms, seq| StreamId { ms, seq };
        assert_eq!(
            replies.ids,
            Some(vec![
                (0, id(1_700_000_000_000, 0)),
                (2, id(1_700_000_000_000, 1))
            ])
        );
        let mut counted = PipelineReplies::default();
        counted.scan(REPLIES, 5).unwrap();
        assert_eq!(counted.ids, None);
    }

    #[test]
    fn replies_cut_anywhere_add_up_to_the_same() {
        let mut whole = PipelineReplies::default();
        whole.scan(REPLIES, 5).unwrap();
        for first_read in 0..=REPLIES.len() {
            for second_read in first_read..=REPLIES.len() {
                let mut replies = PipelineReplies::default();
                let mut buffer = Vec::new();
                for chunk in [
                    &REPLIES[..first_read],
                    &REPLIES[first_read..second_read],
                    &REPLIES[second_read..],
                ] {
                    buffer.extend_from_slice(chunk);
                    let used = replies.scan(&buffer, 5).unwrap();
                    buffer.drain(..used);
                }
                assert!(buffer.is_empty());
                assert_eq!(replies, whole, "cut at {first_read} and {second_read}");
            }
        }
    }

    #[test]
    fn leaves_a_partial_bulk_string_for_later() {
        let mut replies = PipelineReplies::default();
        assert_eq!(
            replies.scan(b"$15\r\n1700000000000-0\r\n$15\r\n17000", 2),
            Ok(22)
        );
        assert_eq!(replies.seen, 1);
        assert_eq!(replies.scan(b"$15\r\n1700000000000-0\r", 2), Ok(0));
        assert_eq!(replies.seen, 1);
    }

    #[test]
    fn refuses_what_a_write_never_gets() {
        let mut replies = PipelineReplies::default();
        assert!(replies.scan(b"*1\r\n$1\r\na\r\n", 1).is_err());
        assert!(replies.scan(b"$-1\r\n", 1).is_err());
        assert!(replies.scan(b"$x\r\n", 1).is_err());
        assert!(replies.scan(b"$1\r\nab\r\n", 1).is_err());
    }

    #[test]
    fn stops_at_the_replies_expected() {
        let mut replies = PipelineReplies::default();
        assert_eq!(replies.scan(REPLIES, 2), Ok(50));
        assert_eq!(replies.seen, 2);
        assert_eq!(replies.scan(REPLIES, 2), Ok(0));
    }

    #[test]
    fn reads_what_redis_rs_parsed_the_same_way() {
        let values = redis::parse_redis_value(b"*3\r\n$3\r\n1-1\r\n-ERR bad thing\r\n:1\r\n")
            .expect("a valid reply");
        let Value::Array(values) = values else {
            panic!("an array");
        };
        let mut scanned = PipelineReplies::default();
        scanned
            .scan(b"$3\r\n1-1\r\n-ERR bad thing\r\n:1\r\n", 3)
            .unwrap();
        assert_eq!(PipelineReplies::from_values(&values, false), scanned);
        let mut with_ids = PipelineReplies::capturing(true);
        with_ids
            .scan(b"$3\r\n1-1\r\n-ERR bad thing\r\n:1\r\n", 3)
            .unwrap();
        assert_eq!(PipelineReplies::from_values(&values, true), with_ids);
        assert_eq!(error_parts("ERR bad thing"), ("ERR", "bad thing"));
        assert_eq!(error_parts("LOADING"), ("LOADING", ""));
    }
}
