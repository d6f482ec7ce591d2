//! Telling a server that lacks a command or option from one that refused it for cause.
//! ami tries the newer form first and falls back on this answer, instead of reading
//! versions: a server's `redis_version` says little about forks and backports.

use redis::RedisError;

/// Whether the server did not understand what it was sent: `ERR syntax error` (an option
/// it does not know, such as `SET … NX GET` before Redis 7.0) or an unknown command or
/// subcommand.
#[must_use]
pub fn lacks_syntax(error: &RedisError) -> bool {
    if error.code() != Some("ERR") {
        return false;
    }
    let detail = error.detail().unwrap_or_default().to_ascii_lowercase();
    detail.starts_with("syntax error")
        || detail.starts_with("unknown command")
        || detail.starts_with("unknown subcommand")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &str) -> RedisError {
        let value = redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap();
        value.extract_error().unwrap_err()
    }

    #[test]
    fn only_syntax_and_unknown_command_replies_mean_a_missing_feature() {
        assert!(lacks_syntax(&reply("ERR syntax error")));
        assert!(lacks_syntax(&reply(
            "ERR unknown command `FOO`, with args beginning with: "
        )));
        assert!(lacks_syntax(&reply(
            "ERR Unknown subcommand or wrong number of arguments for 'setinfo'. Try CLIENT HELP."
        )));
        assert!(!lacks_syntax(&reply(
            "NOPERM this user has no permissions to run the 'set' command"
        )));
        assert!(!lacks_syntax(&reply(
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        )));
        assert!(!lacks_syntax(&reply(
            "ERR value is not an integer or out of range"
        )));
    }
}
