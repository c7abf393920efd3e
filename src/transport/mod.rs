//! A *transport* is the framing that carries pushed units over one HTTP response.
//!
//! Each transport is a writer over any `W: Write` that flushes after every unit, so a unit reaches
//! the server (and, for NPH, the client) the moment it is written:
//! - [`multipart`], `multipart/x-mixed-replace`: one MIME part per unit;
//! - [`chunked`], HTTP/1.1 chunked framing with leading padding;
//! - [`iframe`], an HTML "forever frame" of `<script>` calls to the parent page;
//! - [`sse`], `text/event-stream` for `EventSource`.
//!
//! Every writer also has a heartbeat: a few bytes that change nothing for the client but make a
//! write happen, because a write is the only way a CGI program learns that its client left.

pub mod chunked;
pub mod iframe;
pub mod multipart;
pub mod sse;

use crate::cgi::{Request, RequestError};

/// True when the request's `Accept` header asks for `text/event-stream`, which is how an
/// `EventSource` asks for SSE without a query parameter.
pub fn accepts_event_stream(request: &Request) -> Result<bool, RequestError> {
    Ok(request.header_str("accept")?.is_some_and(|accept| {
        accept
            .split(',')
            .any(|item| item.split(';').next().map(str::trim) == Some("text/event-stream"))
    }))
}
