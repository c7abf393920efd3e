//! A *request* is what one CGI invocation was asked to do, validated from the RFC 3875
//! meta-variables the web server passed in the environment.
//!
//! Raw variables become a [`Request`] in one step, [`Request::from_vars`], which takes an iterator
//! of OS-string pairs rather than reading the process environment, so every input a server (or an
//! attacker behind it) can produce is testable as plain bytes.
//! Nothing here panics: every malformed variable becomes a [`RequestError`] that carries the HTTP
//! status the client gets.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::query::Query;
pub use crate::refusal::RequestError;
use crate::server::Server;

/// The longest `QUERY_STRING` accepted; longer ones get 414.
///
/// Apache's default `LimitRequestLine` is 8190 bytes, so a longer query can only come from a
/// misconfigured server or a hand-made environment.
pub const MAX_QUERY_BYTES: usize = 8192;

/// The HTTP version the client spoke, from `SERVER_PROTOCOL`.
///
/// It decides the NPH status line and whether the program may write chunked framing itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `HTTP/1.0`: no chunked framing; the body ends when the connection closes.
    Http10,
    /// `HTTP/1.1`: the only version for which the program writes chunked framing itself.
    Http11,
    /// `HTTP/2` or `HTTP/2.0`: the server translates an HTTP/1 head and frames the body.
    Http2,
    /// `HTTP/3`: as HTTP/2.
    Http3,
}

impl Protocol {
    /// Parses a `SERVER_PROTOCOL` value; `None` for anything this program cannot answer.
    pub fn parse(raw: &[u8]) -> Option<Protocol> {
        match raw {
            b"HTTP/1.0" => Some(Protocol::Http10),
            b"HTTP/1.1" => Some(Protocol::Http11),
            b"HTTP/2" | b"HTTP/2.0" => Some(Protocol::Http2),
            b"HTTP/3" | b"HTTP/3.0" => Some(Protocol::Http3),
            _ => None,
        }
    }

    /// The version written in an NPH status line.
    ///
    /// Servers that speak HTTP/2 or HTTP/3 to the client read an HTTP/1.1 status line from an NPH
    /// script and translate it, so those versions answer as `HTTP/1.1`.
    pub fn status_line_version(self) -> &'static str {
        match self {
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 | Protocol::Http2 | Protocol::Http3 => "HTTP/1.1",
        }
    }
}

/// How the program's output reaches the client, decided by the program's own file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The name starts with `nph-`: the program writes a complete HTTP response, status line and
    /// framing included, and the server passes it through untouched (Apache) or re-frames it
    /// (lighttpd).
    Nph,
    /// Any other name: the program writes a CGI head (`Status:`) and the server frames the body.
    Cgi,
}

impl Mode {
    /// The mode for a program file name, as Apache decides it: by the `nph-` prefix.
    pub fn from_program_name(name: &[u8]) -> Mode {
        if name.starts_with(b"nph-") {
            Mode::Nph
        } else {
            Mode::Cgi
        }
    }

    /// The mode for a program file name under `server`: by the name, unless the server does
    /// not read NPH output (nginx), where every name writes a CGI head.
    pub fn for_program(name: &[u8], server: Server) -> Mode {
        if server.reads_nph_output() {
            Mode::from_program_name(name)
        } else {
            Mode::Cgi
        }
    }
}

/// A validated CGI request.
#[derive(Clone, Debug)]
pub struct Request {
    /// `REQUEST_METHOD`.
    pub method: Method,
    /// `SERVER_PROTOCOL`.
    pub protocol: Protocol,
    /// The decoded `QUERY_STRING`, repeated keys kept in order.
    pub query: Query,
    /// `HTTP_*` variables as headers; values are kept as bytes and checked when read.
    pub headers: HeaderMap,
    /// `PATH_INFO`, if the server set a non-empty one.
    pub path_info: Option<String>,
    /// `REMOTE_ADDR`.
    pub remote_addr: Option<String>,
    /// `REMOTE_USER`: a user the web server authenticated.
    pub remote_user: Option<String>,
    /// `CONTENT_LENGTH`, when a body was announced.
    pub content_length: Option<u64>,
    /// True when the request came over TLS (`HTTPS` is `on`, or `REQUEST_SCHEME` is `https`).
    pub secure: bool,
}

impl Request {
    /// Builds a request from RFC 3875 meta-variables.
    ///
    /// `REQUEST_URI` is not an RFC 3875 variable and is never read: the path comes from
    /// `PATH_INFO` and parameters from `QUERY_STRING`, so characters such as `{`, `|` or `"` that
    /// servers pass through in a raw request line cannot upset the parser.
    pub fn from_vars<I>(vars: I) -> Result<Request, RequestError>
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let mut method = None;
        let mut protocol = None;
        let mut query = None;
        let mut headers = HeaderMap::new();
        let mut path_info = None;
        let mut remote_addr = None;
        let mut remote_user = None;
        let mut content_length = None;
        let mut secure = false;

        for (name, value) in vars {
            let name = name.as_bytes();
            let value = value.as_bytes();
            match name {
                b"REQUEST_METHOD" => method = Some(parse_method(value)?),
                b"SERVER_PROTOCOL" => protocol = Some(value.to_vec()),
                b"QUERY_STRING" => query = Some(parse_query(value)?),
                b"PATH_INFO" => path_info = utf8_var("PATH_INFO", value)?,
                b"REMOTE_ADDR" => remote_addr = utf8_var("REMOTE_ADDR", value)?,
                b"REMOTE_USER" => remote_user = utf8_var("REMOTE_USER", value)?,
                b"CONTENT_LENGTH" => content_length = parse_content_length(value)?,
                b"HTTPS" => secure |= value.eq_ignore_ascii_case(b"on") || value == b"1",
                b"REQUEST_SCHEME" => secure |= value.eq_ignore_ascii_case(b"https"),
                // CONTENT_TYPE is a meta-variable, not an HTTP_ one, but it is the request's
                // Content-Type header.
                b"CONTENT_TYPE" => insert_header(&mut headers, b"CONTENT_TYPE", value),
                _ => {
                    if let Some(header) = name.strip_prefix(b"HTTP_") {
                        insert_header(&mut headers, header, value);
                    }
                }
            }
        }

        let method =
            method.ok_or_else(|| RequestError::bad_request("REQUEST_METHOD is not set"))?;
        let protocol = match protocol {
            // A missing SERVER_PROTOCOL is a hand-run program; answer as the oldest version.
            None => Protocol::Http10,
            Some(raw) => Protocol::parse(&raw).ok_or_else(|| {
                RequestError::bad_request(format!(
                    "unsupported SERVER_PROTOCOL {:?}",
                    String::from_utf8_lossy(&raw)
                ))
            })?,
        };
        Ok(Request {
            method,
            protocol,
            query: query.unwrap_or_default(),
            headers,
            path_info,
            remote_addr,
            remote_user,
            content_length,
            secure,
        })
    }

    /// The scheme the client used: `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }

    /// True for `HEAD`: the response is the head alone.
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// A header the program interprets, as text.
    ///
    /// Returns `Ok(None)` when absent and a 400 when present but not UTF-8: a value the program
    /// acts on must be unambiguous. Headers the program never reads are never checked, so an odd
    /// cookie or referer does not break a stream.
    pub fn header_str(&self, name: &str) -> Result<Option<&str>, RequestError> {
        match self.headers.get(name) {
            None => Ok(None),
            Some(value) => std::str::from_utf8(value.as_bytes())
                .map(Some)
                .map_err(|_| RequestError::bad_request(format!("{name} header is not UTF-8"))),
        }
    }

    /// Reads the body announced by `CONTENT_LENGTH`, refusing more than `limit` bytes.
    ///
    /// A body longer than `limit` is a 413 and is not read; a body shorter than announced (the
    /// client went away, or the server lied) is a 400. Without `CONTENT_LENGTH` (Apache passes
    /// none for a `Transfer-Encoding: chunked` body, which `curl -T -` and fetch streams send)
    /// the body is read to its end, within `limit`.
    pub fn read_body<R: Read>(&self, input: R, limit: u64) -> Result<Vec<u8>, RequestError> {
        let Some(length) = self.content_length else {
            let mut body = Vec::new();
            input
                .take(limit + 1)
                .read_to_end(&mut body)
                .map_err(|e| RequestError::bad_request(format!("reading the body failed: {e}")))?;
            if body.len() as u64 > limit {
                return Err(RequestError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body is over the limit of {limit} bytes"),
                ));
            }
            return Ok(body);
        };
        if length > limit {
            return Err(RequestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body of {length} bytes is over the limit of {limit}"),
            ));
        }
        let mut body = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        input
            .take(length)
            .read_to_end(&mut body)
            .map_err(|e| RequestError::bad_request(format!("reading the body failed: {e}")))?;
        if (body.len() as u64) < length {
            return Err(RequestError::bad_request(format!(
                "body is {} bytes but CONTENT_LENGTH is {length}",
                body.len()
            )));
        }
        Ok(body)
    }
}

fn parse_method(value: &[u8]) -> Result<Method, RequestError> {
    Method::from_bytes(value)
        .map_err(|_| RequestError::bad_request("REQUEST_METHOD is not a valid method"))
}

fn parse_query(value: &[u8]) -> Result<Query, RequestError> {
    if value.len() > MAX_QUERY_BYTES {
        return Err(RequestError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "query string of {} bytes is over the limit of {MAX_QUERY_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(Query::parse(value))
}

fn parse_content_length(value: &[u8]) -> Result<Option<u64>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    std::str::from_utf8(value)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| RequestError::bad_request("CONTENT_LENGTH is not a number"))
}

fn utf8_var(name: &str, value: &[u8]) -> Result<Option<String>, RequestError> {
    if value.is_empty() {
        return Ok(None);
    }
    String::from_utf8(value.to_vec())
        .map(Some)
        .map_err(|_| RequestError::bad_request(format!("{name} is not UTF-8")))
}

/// Adds `HTTP_FOO_BAR` as `foo-bar`.
///
/// Values are stored as bytes (HTTP allows obs-text); a name or value `http` rejects, such as one
/// with a control character, is dropped here and its absence is what the program sees. Headers the
/// program relies on are re-checked by [`Request::header_str`].
fn insert_header(headers: &mut HeaderMap, var: &[u8], value: &[u8]) {
    let name: Vec<u8> = var
        .iter()
        .map(|&b| {
            if b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect();
    let Ok(name) = HeaderName::from_bytes(&name) else {
        return;
    };
    match HeaderValue::from_bytes(value) {
        Ok(value) => {
            headers.append(name, value);
        }
        Err(_) => {
            // Keep a marker that the header was present but unusable, so that a program that
            // reads it answers 400 rather than acting as if it were absent.
            if let Ok(marker) = HeaderValue::from_bytes(&[0xff]) {
                headers.append(name, marker);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &[u8])]) -> Vec<(OsString, OsString)> {
        use std::os::unix::ffi::OsStringExt;
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from_vec(v.to_vec())))
            .collect()
    }

    fn get(extra: &[(&str, &[u8])]) -> Result<Request, RequestError> {
        let mut all = vec![
            ("REQUEST_METHOD", b"GET" as &[u8]),
            ("SERVER_PROTOCOL", b"HTTP/1.1"),
        ];
        all.extend_from_slice(extra);
        Request::from_vars(vars(&all))
    }

    #[test]
    fn protocols() {
        for (raw, want) in [
            ("HTTP/1.0", Some(Protocol::Http10)),
            ("HTTP/1.1", Some(Protocol::Http11)),
            ("HTTP/2", Some(Protocol::Http2)),
            ("HTTP/2.0", Some(Protocol::Http2)),
            ("HTTP/3", Some(Protocol::Http3)),
            ("FOO", None),
            ("HTTP/1.2", None),
            ("", None),
            ("INCLUDED", None),
        ] {
            assert_eq!(Protocol::parse(raw.as_bytes()), want, "{raw}");
        }
    }

    #[test]
    fn unknown_protocol_is_400() {
        let err = Request::from_vars(vars(&[
            ("REQUEST_METHOD", b"GET"),
            ("SERVER_PROTOCOL", b"FOO"),
        ]))
        .err();
        assert_eq!(err.map(|e| e.status), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn mode_from_name() {
        assert_eq!(Mode::from_program_name(b"nph-clock"), Mode::Nph);
        assert_eq!(Mode::from_program_name(b"clock"), Mode::Cgi);
        assert_eq!(Mode::from_program_name(b"nph"), Mode::Cgi);
    }

    #[test]
    fn query_keeps_repeated_keys() {
        let req = get(&[("QUERY_STRING", b"channel=a&channel=b&x=%7B%7C%22")]).ok();
        let req = req.as_ref();
        assert_eq!(
            req.map(|r| r.query.get_all("channel")),
            Some(vec!["a", "b"])
        );
        assert_eq!(req.and_then(|r| r.query.get("x")), Some("{|\""));
    }

    #[test]
    fn request_uri_is_never_read() {
        for uri in [&b"/cgi-bin/nph-clock?{"[..], b"/a|b", b"/\"", b"\xff\xfe"] {
            assert!(get(&[("REQUEST_URI", uri)]).is_ok());
        }
    }

    #[test]
    fn long_query_is_414() {
        let long = vec![b'a'; 100_000];
        let err = get(&[("QUERY_STRING", &long)]).err();
        assert_eq!(err.map(|e| e.status), Some(StatusCode::URI_TOO_LONG));
    }

    #[test]
    fn headers_from_http_vars() {
        let req = get(&[
            ("HTTP_ACCEPT", b"text/event-stream"),
            ("HTTP_X_ODD", b"\xff\xfe"),
            ("HTTP_X_CTL", b"a\nb"),
        ]);
        let Ok(req) = req else {
            panic!("request refused")
        };
        assert_eq!(req.header_str("accept"), Ok(Some("text/event-stream")));
        assert_eq!(req.header_str("absent"), Ok(None));
        assert_eq!(
            req.header_str("x-odd").map_err(|e| e.status),
            Err(StatusCode::BAD_REQUEST)
        );
        // A control character is not a value anyone can use: reading it is a 400.
        assert_eq!(
            req.header_str("x-ctl").map_err(|e| e.status),
            Err(StatusCode::BAD_REQUEST)
        );
    }

    #[test]
    fn non_utf8_accept_is_400() {
        let req = get(&[("HTTP_ACCEPT", b"text/\xffevent-stream")]);
        assert!(req.is_ok_and(|r| r.header_str("accept").is_err()));
    }

    #[test]
    fn missing_method_and_bad_method() {
        assert!(Request::from_vars(vars(&[])).is_err());
        assert!(
            Request::from_vars(vars(&[("REQUEST_METHOD", b"G E T")])).is_err(),
            "a method with a space"
        );
        assert_eq!(
            Request::from_vars(vars(&[("REQUEST_METHOD", b"DELETE")]))
                .map(|r| r.method)
                .ok(),
            Some(Method::DELETE)
        );
    }

    #[test]
    fn body_bounds() {
        let req = |len: &'static [u8]| get(&[("CONTENT_LENGTH", len)]);
        let Ok(five) = req(b"5") else {
            panic!("CONTENT_LENGTH 5 refused")
        };
        assert_eq!(
            five.read_body(&b"hello world"[..], 10),
            Ok(b"hello".to_vec())
        );
        assert_eq!(
            five.read_body(&b"hel"[..], 10).map_err(|e| e.status),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            five.read_body(&b"hello"[..], 4).map_err(|e| e.status),
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert!(req(b"-1").is_err());
        assert!(req(b"1e3").is_err());
        assert!(req(b"99999999999999999999999").is_err());
        assert!(req(b"").is_ok_and(|r| r.content_length.is_none()));
    }
}
