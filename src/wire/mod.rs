//! What the wire says: key names, stream ids, XADDs as RESP, and the replies Redis
//! sends back.

pub mod hash_slot;
pub mod headers;
pub mod naming;
pub mod offset_choice;
pub mod pipeline_replies;
pub mod raw_reply;
pub mod reply;
pub mod stream_id;
pub mod xadd_encoding;
