//! What the wire says: key names, stream ids, and the replies Redis sends back.

pub mod naming;
pub mod raw_reply;
pub mod reply;
pub mod stream_id;
