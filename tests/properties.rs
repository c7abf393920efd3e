//! Properties, over generated input: every parser a request reaches never panics and refuses
//! cleanly, and any message data round-trips through every transport's framing, read back by an
//! independent reference parser written here from the formats' specifications, byte for byte,
//! never adding an event, a part or a script.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use proptest::prelude::*;
use serde_json::{Value, json};
use serverpush::cgi::Request;
use serverpush::config::Config;
use serverpush::name::{Channel, is_name, is_pattern};
use serverpush::rights::{Rights, pattern_matches};
use serverpush::source::longpoll::LongPollPlan;
use serverpush::source::longpoll::cursor::{Cursor, Position, parse};
use serverpush::transport::chunked::{ChunkedWriter, Framing};
use serverpush::transport::iframe::{Callback, IframeWriter};
use serverpush::transport::multipart::{MultipartWriter, Style};
use serverpush::transport::sse::SseWriter;

use crate::util::ch;

fn config() -> ProptestConfig {
    // Bounded, so the suite's time is too.
    ProptestConfig::with_cases(300)
}

/// A request from raw variable values, as a hostile server or client could pass them.
fn request(vars: Vec<(&'static str, Vec<u8>)>) -> Result<Request, serverpush::cgi::RequestError> {
    let mut all = vec![
        ("GATEWAY_INTERFACE", b"CGI/1.1".to_vec()),
        ("REQUEST_METHOD", b"GET".to_vec()),
        ("SERVER_PROTOCOL", b"HTTP/1.1".to_vec()),
    ];
    all.extend(vars);
    Request::from_vars(
        all.into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from_vec(v))),
    )
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..200)
}

/// Text with the characters that break framings: line breaks, NUL, quotes, markup, U+2028.
fn nasty_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            Just('\n'),
            Just('\r'),
            Just('\0'),
            Just('<'),
            Just('>'),
            Just('"'),
            Just('\u{2028}'),
            Just(':'),
        ],
        0..120,
    )
    .prop_map(|cs| {
        let mut s: String = cs.into_iter().collect();
        if s.len().is_multiple_of(3) {
            s.push_str("</script><script>alert(1)</script><!--");
        }
        s
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any meta-variable values: a request or a refusal, never a panic.
    #[test]
    fn requests_from_any_bytes(
        method in any_bytes(), protocol in any_bytes(), query in any_bytes(),
        accept in any_bytes(), auth in any_bytes(), last_event_id in any_bytes(),
        cookie in any_bytes(), length in any_bytes(), path in any_bytes(), user in any_bytes(),
    ) {
        let vars = vec![
            ("REQUEST_METHOD", method), ("SERVER_PROTOCOL", protocol), ("QUERY_STRING", query),
            ("HTTP_ACCEPT", accept), ("HTTP_AUTHORIZATION", auth),
            ("HTTP_LAST_EVENT_ID", last_event_id), ("HTTP_COOKIE", cookie),
            ("CONTENT_LENGTH", length), ("PATH_INFO", path), ("REMOTE_USER", user),
        ];
        if let Ok(req) = request(vars) {
            let config = Config {
                jwt_secret: Some("a-property-secret-of-32-bytes-or-more".into()),
                private_channels: vec!["p*".into()],
                spool_dir: std::env::temp_dir().join("serverpush-properties-absent"),
                ..Config::default()
            };
            // Validation only: a subscribe that passes would open the (absent) spool lazily.
            let _ = Rights::new(&req, &config).check_subscribe(&["p1".to_owned(), "x".to_owned()]);
            let _ = Rights::new(&req, &config).check_publish(&ch("p1"));
        }
    }

    /// The long-poll's request validation over any query and resume header.
    #[test]
    fn long_poll_requests_from_any_query(query in any_bytes(), last_event_id in any_bytes()) {
        let vars = vec![
            ("QUERY_STRING", query),
            ("HTTP_ACCEPT", b"text/event-stream".to_vec()),
            ("HTTP_LAST_EVENT_ID", last_event_id),
            ("PATH_INFO", b"/chan".to_vec()),
        ];
        if let Ok(req) = request(vars) {
            let dir = tempfile::tempdir().unwrap();
            let config = Config { spool_dir: dir.path().to_owned(), ..Config::default() };
            let _ = LongPollPlan::from_request(&req, &config, &mut std::io::empty());
        }
    }

    /// Cursors: any text parses or is refused; rendered cursors parse back to themselves.
    #[test]
    fn cursors(raw in ".{0,80}", ids in prop::collection::vec((0u64..1 << 62, prop::option::of("[0-9a-f]{12}")), 1..5)) {
        let channels: Vec<Channel> = (0..ids.len()).map(|i| ch(&format!("c{i}"))).collect();
        let _ = parse(&raw, &channels);
        let cursor = Cursor(ids.into_iter().enumerate().map(|(i, (id, epoch))| Position {
            channel: ch(&format!("c{i}")), id, epoch,
        }).collect());
        let back = parse(&cursor.render(), &channels).unwrap();
        prop_assert_eq!(Cursor(back.into_values().collect()), cursor);
    }

    /// Names and patterns: any text is judged without a panic; a valid name matches itself.
    #[test]
    fn names_and_patterns(name in ".{0,80}", other in "[A-Za-z0-9][A-Za-z0-9_.-]{0,19}") {
        let _ = is_name(&name);
        let _ = is_pattern(&name);
        let _ = pattern_matches(&name, &other);
        prop_assert!(pattern_matches(&other, &other));
        prop_assert!(pattern_matches("*", &other));
        let prefix = format!("{other}*");
        prop_assert!(is_pattern(&prefix));
    }

    /// Any selector against any topic: parsed or refused, matched or not, never a panic; a
    /// topic always matches itself, `*` and `{+all}`.
    #[test]
    fn mercure_selectors(
        selector in "[{}a-z/:.+#?&;=,*%0-9é-]{0,60}",
        topic in "[a-z/:.%0-9é-]{1,60}",
    ) {
        use serverpush::source::mercure::selector::Selector;
        if let Ok(parsed) = Selector::parse(&selector) {
            let _ = parsed.matches(&topic);
        }
        prop_assert!(Selector::parse(&topic).unwrap().matches(&topic));
        prop_assert!(Selector::parse("*").unwrap().matches(&topic));
        let reserved = Selector::parse("{+all}").unwrap();
        prop_assert!(reserved.matches(&topic));
    }

    /// Any message through SSE as the long-poll frames it (JSON data, cursor ids): exactly one
    /// event per message, with the same id and the same message back.
    #[test]
    fn sse_round_trip(datas in prop::collection::vec(nasty_text(), 1..6)) {
        let mut out = Vec::new();
        let mut w = SseWriter::new(&mut out);
        w.start(Some(2000)).unwrap();
        for (i, data) in datas.iter().enumerate() {
            let message = json!({ "channel": "c", "id": i + 1, "data": data });
            w.event(Some(&format!("c:{}", i + 1)), None, &message.to_string()).unwrap();
            w.heartbeat().unwrap();
        }
        let events = reference_sse(&out);
        prop_assert_eq!(events.len(), datas.len());
        for (i, (id, name, data)) in events.iter().enumerate() {
            let want = format!("c:{}", i + 1);
            prop_assert_eq!(id.as_deref(), Some(want.as_str()));
            prop_assert_eq!(name.as_deref(), None);
            let v: Value = serde_json::from_str(data).unwrap();
            prop_assert_eq!(v["data"].as_str(), Some(datas[i].as_str()));
        }
    }

    /// Raw text as SSE data (the clock's units): back as written, line breaks as LF.
    #[test]
    fn sse_raw_text(data in nasty_text()) {
        let data = data.replace('\0', "");
        let mut out = Vec::new();
        SseWriter::new(&mut out).event(None, None, &data).unwrap();
        let events = reference_sse(&out);
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].2, &data.replace("\r\n", "\n").replace('\r', "\n"));
    }

    /// Any bytes as multipart parts: the same parts back, no more.
    #[test]
    fn multipart_round_trip(parts in prop::collection::vec(any_bytes(), 1..6)) {
        let boundary = serverpush::transport::multipart::random_boundary();
        let mut out = Vec::new();
        let mut w = MultipartWriter::new(&mut out, boundary.clone(), Style::Standard);
        w.start().unwrap();
        for p in &parts {
            w.part("application/octet-stream", &[], p).unwrap();
        }
        prop_assert_eq!(reference_multipart(&out, &boundary), parts);
    }

    /// Any message in a forever frame: one script per call, the same values back, and nothing
    /// a message holds can close the script or open another.
    #[test]
    fn iframe_round_trip(datas in prop::collection::vec(nasty_text(), 1..6)) {
        let mut out = Vec::new();
        let mut w = IframeWriter::new(&mut out, Callback::parse("chat.receive").unwrap());
        w.start(1024).unwrap();
        for data in &datas {
            w.call(&[json!({ "data": data })]).unwrap();
        }
        w.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let lower = text.to_ascii_lowercase();
        prop_assert_eq!(lower.matches("<script").count(), datas.len());
        prop_assert_eq!(lower.matches("</script").count(), datas.len());
        prop_assert_eq!(lower.matches("<!--").count(), 1, "only the padding comment");
        let calls: Vec<&str> = text
            .split("<script>window.parent.chat.receive(")
            .skip(1)
            .map(|s| s.split(");</script>").next().unwrap())
            .collect();
        prop_assert_eq!(calls.len(), datas.len());
        for (call, data) in calls.iter().zip(&datas) {
            let v: Value = serde_json::from_str(call).unwrap();
            prop_assert_eq!(v["data"].as_str(), Some(data.as_str()));
        }
    }

    /// Any bytes in chunked framing: the same bytes back after de-chunking, and the body ends
    /// only at the last chunk.
    #[test]
    fn chunked_round_trip(pieces in prop::collection::vec(any_bytes(), 0..8)) {
        let mut out = Vec::new();
        let mut w = ChunkedWriter::new(&mut out, Framing::Chunked);
        for p in &pieces {
            w.data(p).unwrap();
        }
        w.finish().unwrap();
        let (body, complete) = reference_dechunk(&out);
        prop_assert!(complete);
        prop_assert_eq!(body, pieces.concat());
    }
}

/// Server-sent events as the WHATWG event-stream parser reads them: (id, event name, data).
fn reference_sse(stream: &[u8]) -> Vec<(Option<String>, Option<String>, String)> {
    let text = String::from_utf8_lossy(stream);
    let mut events = Vec::new();
    let (mut id, mut name, mut data): (Option<String>, Option<String>, Option<String>) =
        (None, None, None);
    let mut rest: &str = &text;
    while !rest.is_empty() {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            usize::from(end < rest.len())
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if let Some(mut d) = data.take() {
                d.pop();
                events.push((id.clone(), name.take(), d));
            }
            name = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let d = data.get_or_insert_with(String::new);
                d.push_str(value);
                d.push('\n');
            }
            "id" if !value.contains('\0') => id = Some(value.to_owned()),
            "event" => name = Some(value.to_owned()),
            _ => {}
        }
    }
    events
}

/// Multipart parts as a boundary-scanning reader (a browser) splits them: the bodies.
fn reference_multipart(stream: &[u8], boundary: &str) -> Vec<Vec<u8>> {
    let delimiter = format!("--{boundary}\r\n").into_bytes();
    let between = format!("\r\n--{boundary}").into_bytes();
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut parts = Vec::new();
    let Some(start) = find(stream, &delimiter) else {
        return parts;
    };
    let mut rest = &stream[start + delimiter.len()..];
    while let Some(head_end) = find(rest, b"\r\n\r\n") {
        let body = &rest[head_end + 4..];
        let Some(end) = find(body, &between) else {
            break;
        };
        parts.push(body[..end].to_vec());
        rest = &body[end + between.len()..];
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
    }
    parts
}

/// De-chunks HTTP/1.1 chunked framing; true when the last chunk was seen.
fn reference_dechunk(mut stream: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = stream.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&stream[..line_end]).unwrap(), 16).unwrap();
        stream = &stream[line_end + 2..];
        if size == 0 {
            return (body, stream == b"\r\n");
        }
        body.extend_from_slice(&stream[..size]);
        assert_eq!(&stream[size..size + 2], b"\r\n");
        stream = &stream[size + 2..];
    }
}
