//! The *head* is everything a response writes before its body: an NPH status line or a CGI
//! `Status:` line, then headers.
//!
//! [`Head`] holds a status and extra headers whose values were validated when added, so nothing a
//! request carries can split a header or inject one. [`Head::write`] adds the headers every push
//! response needs (no caching, no sniffing, no proxy buffering, and for NPH `Date`, `Server` and
//! `Connection: close`).

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{HeaderName, HeaderValue};

use crate::cgi::{Mode, Protocol, RequestError};

/// The `Server` header value.
pub const SERVER: &str = concat!("serverpush/", env!("CARGO_PKG_VERSION"));

/// Why a header could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The value had a control character (such as CR or LF) or was otherwise not a header value.
    InvalidValue,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::InvalidValue => f.write_str("invalid header value"),
        }
    }
}

impl std::error::Error for HeadError {}

/// How caches may keep a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Pushed data: never stored (`no-store`, `Pragma`, an `Expires` in the past).
    Never,
    /// Stored but revalidated every time (`no-cache`): for answers with an `ETag`.
    Revalidate,
}

/// A response status and its headers, ready to be written.
#[derive(Clone, Debug)]
pub struct Head {
    status: StatusCode,
    caching: Caching,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Head {
    /// A head with `status`, no extra headers, and [`Caching::Never`].
    pub fn new(status: StatusCode) -> Head {
        Head {
            status,
            caching: Caching::Never,
            headers: Vec::new(),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets how caches may keep the response.
    pub fn caching(mut self, caching: Caching) -> Head {
        self.caching = caching;
        self
    }

    /// Adds a header whose value is validated: CR, LF, NUL and other control characters refuse.
    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Head, HeadError> {
        let value = HeaderValue::from_str(value).map_err(|_| HeadError::InvalidValue)?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// Adds a header from a static value known to be valid.
    pub fn header_static(mut self, name: HeaderName, value: &'static str) -> Head {
        match HeaderValue::from_str(value) {
            Ok(value) => self.headers.push((name, value)),
            // A static value is written in this crate; a bad one is caught by the unit tests.
            Err(_) => debug_assert!(false, "invalid static header value {value:?}"),
        }
        self
    }

    /// Writes the head, ending with the blank line.
    ///
    /// In [`Mode::Nph`] it starts with a status line in the client's version and adds `Date`,
    /// `Server` and `Connection: close` (an NPH body with no length ends only when the connection
    /// closes, RFC 3875 §5). In [`Mode::Cgi`] it starts with `Status:` and leaves those to the
    /// server.
    pub fn write<W: Write>(
        &self,
        out: &mut W,
        mode: Mode,
        protocol: Protocol,
        now: DateTime<Utc>,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(512);
        let reason = self.status.canonical_reason().unwrap_or("Unknown");
        match mode {
            Mode::Nph => {
                write!(
                    buf,
                    "{} {} {}\r\n",
                    protocol.status_line_version(),
                    self.status.as_u16(),
                    reason
                )?;
                write!(buf, "Date: {}\r\n", http_date(now))?;
                write!(buf, "Server: {SERVER}\r\n")?;
                buf.extend_from_slice(b"Connection: close\r\n");
            }
            Mode::Cgi => write!(buf, "Status: {} {}\r\n", self.status.as_u16(), reason)?,
        }
        match self.caching {
            Caching::Never => buf.extend_from_slice(
                b"Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n\
                  Pragma: no-cache\r\n\
                  Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
            ),
            Caching::Revalidate => buf.extend_from_slice(b"Cache-Control: no-cache\r\n"),
        }
        buf.extend_from_slice(b"X-Content-Type-Options: nosniff\r\nX-Accel-Buffering: no\r\n");
        for (name, value) in &self.headers {
            buf.extend_from_slice(canonical_name(name).as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        out.write_all(&buf)?;
        out.flush()
    }
}

/// A complete plain-text error response for a request refused before its head was written.
///
/// A `HEAD` request gets the head alone.
pub fn write_error<W: Write>(
    out: &mut W,
    error: &RequestError,
    mode: Mode,
    protocol: Protocol,
    head_only: bool,
    now: DateTime<Utc>,
) -> io::Result<()> {
    let body = format!("{}\n", error.reason);
    let mut head = Head::new(error.status)
        .header_static(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(http::header::CONTENT_LENGTH, &body.len().to_string())
        .map_err(io::Error::other)?;
    if let Some((name, value)) = &error.header {
        head = head.header_static(name.clone(), value);
    }
    head.write(out, mode, protocol, now)?;
    if !head_only {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

/// A file time as a `DateTime`, the epoch for a time chrono cannot hold (a file's mtime can be
/// set to anything; chrono's own conversion panics outside its range).
pub fn file_time(t: std::time::SystemTime) -> DateTime<Utc> {
    let since_epoch = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(std::time::Duration::ZERO);
    i64::try_from(since_epoch.as_secs())
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, since_epoch.subsec_nanos()))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// An HTTP-date (RFC 9110 §5.6.7), such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The conventional capitalisation of a header name (`content-type` → `Content-Type`), which
/// some old clients and the CGI.pm-compatible output expect.
fn canonical_name(name: &HeaderName) -> String {
    if name == http::header::ETAG {
        return "ETag".to_owned();
    }
    let mut out = String::with_capacity(name.as_str().len());
    let mut upper = true;
    for c in name.as_str().chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_bytes, fixed_now};

    #[test]
    fn nph_head_http11() {
        let head = Head::new(StatusCode::OK)
            .header_static(http::header::CONTENT_TYPE, "text/plain")
            .header(HeaderName::from_static("x-timestamp"), "12.5")
            .ok();
        let mut out = Vec::new();
        let written = head.map(|h| h.write(&mut out, Mode::Nph, Protocol::Http11, fixed_now()));
        assert!(matches!(written, Some(Ok(()))));
        assert_bytes(
            &out,
            b"HTTP/1.1 200 OK\r\n\
              Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n\
              Server: serverpush/0.1.0\r\n\
              Connection: close\r\n\
              Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n\
              Pragma: no-cache\r\n\
              Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              X-Content-Type-Options: nosniff\r\n\
              X-Accel-Buffering: no\r\n\
              Content-Type: text/plain\r\n\
              X-Timestamp: 12.5\r\n\
              \r\n",
        );
    }

    #[test]
    fn nph_status_line_follows_protocol() {
        for (protocol, line) in [
            (Protocol::Http10, &b"HTTP/1.0 404 Not Found\r\n"[..]),
            (Protocol::Http11, b"HTTP/1.1 404 Not Found\r\n"),
            (Protocol::Http2, b"HTTP/1.1 404 Not Found\r\n"),
            (Protocol::Http3, b"HTTP/1.1 404 Not Found\r\n"),
        ] {
            let mut out = Vec::new();
            let r =
                Head::new(StatusCode::NOT_FOUND).write(&mut out, Mode::Nph, protocol, fixed_now());
            assert!(r.is_ok());
            assert!(out.starts_with(line), "{protocol:?}");
        }
    }

    #[test]
    fn cgi_head() {
        let mut out = Vec::new();
        let r = Head::new(StatusCode::NOT_MODIFIED)
            .caching(Caching::Revalidate)
            .write(&mut out, Mode::Cgi, Protocol::Http11, fixed_now());
        assert!(r.is_ok());
        assert_bytes(
            &out,
            b"Status: 304 Not Modified\r\n\
              Cache-Control: no-cache\r\n\
              X-Content-Type-Options: nosniff\r\n\
              X-Accel-Buffering: no\r\n\
              \r\n",
        );
    }

    #[test]
    fn header_injection_refused() {
        for bad in ["a\r\nSet-Cookie: x=1", "a\nb", "a\0b", "\x7f"] {
            let head = Head::new(StatusCode::OK).header(HeaderName::from_static("x-a"), bad);
            assert_eq!(head.err(), Some(HeadError::InvalidValue), "{bad:?}");
        }
    }

    #[test]
    fn error_response() {
        let mut out = Vec::new();
        let err = RequestError::new(StatusCode::METHOD_NOT_ALLOWED, "DELETE is not allowed")
            .with_header(http::header::ALLOW, "GET, HEAD");
        let r = write_error(
            &mut out,
            &err,
            Mode::Cgi,
            Protocol::Http10,
            false,
            fixed_now(),
        );
        assert!(r.is_ok());
        assert_bytes(
            &out,
            b"Status: 405 Method Not Allowed\r\n\
              Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n\
              Pragma: no-cache\r\n\
              Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              X-Content-Type-Options: nosniff\r\n\
              X-Accel-Buffering: no\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 22\r\n\
              Allow: GET, HEAD\r\n\
              \r\n\
              DELETE is not allowed\n",
        );
    }

    #[test]
    fn error_response_to_head_has_no_body() {
        let mut out = Vec::new();
        let err = RequestError::bad_request("no");
        let r = write_error(
            &mut out,
            &err,
            Mode::Nph,
            Protocol::Http11,
            true,
            fixed_now(),
        );
        assert!(r.is_ok());
        assert!(out.ends_with(b"Content-Length: 3\r\n\r\n"));
    }
}
