//! The iframe transport: a "forever frame", an HTML document that never ends and grows by one
//! `<script>` per unit, each calling a function of the page that holds the hidden iframe.
//!
//! The callback name comes from the request, so it is accepted only as a dotted identifier
//! ([`Callback::parse`]); arguments are JSON with `<`, `>`, `&`, U+2028 and U+2029 escaped, so no
//! payload can close the script element or break the statement.

use std::io::{self, Write};

use crate::cgi::RequestError;
pub use crate::name::MAX_CALLBACK_LEN;

/// The smallest padding: Safari and old IE render nothing of a frame before about 1 KiB.
pub const MIN_PADDING: usize = 1024;

/// A validated callback: identifiers separated by dots, such as `comet.printServerTime`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback(String);

impl Callback {
    /// Accepts `name(.name)*` where each name is `[A-Za-z_$][A-Za-z0-9_$]*`, at most
    /// [`MAX_CALLBACK_LEN`] bytes in all.
    pub fn parse(raw: &str) -> Result<Callback, RequestError> {
        if crate::name::is_callback(raw) {
            Ok(Callback(raw.to_owned()))
        } else {
            Err(RequestError::bad_request(
                "callback must be a dotted JavaScript identifier such as comet.printServerTime",
            ))
        }
    }

    /// Accepts `raw` only when it is one of `allowed` (the config's `iframe_callbacks`), so a
    /// request cannot make the frame call `eval`, `setTimeout` or `location.assign`.
    pub fn allowed(raw: &str, allowed: &[String]) -> Result<Callback, RequestError> {
        let callback = Callback::parse(raw)?;
        if allowed.iter().any(|a| a == raw) {
            Ok(callback)
        } else {
            Err(RequestError::bad_request(
                "callback is not one of the server's iframe_callbacks",
            ))
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Serialises `value` as JSON that is safe inside an HTML `<script>` element.
///
/// The escaped characters can occur only inside JSON strings, where `\uXXXX` means the same
/// character, so the value the page receives is unchanged.
pub fn script_safe_json(value: &serde_json::Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a forever-frame document.
#[derive(Debug)]
pub struct IframeWriter<W: Write> {
    out: W,
    callback: Callback,
}

impl<W: Write> IframeWriter<W> {
    /// What it writes to: the hub drains it into a client's connection.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// A writer whose units call `callback` on the parent window.
    pub fn new(out: W, callback: Callback) -> Self {
        IframeWriter { out, callback }
    }

    /// Writes the document start and at least [`MIN_PADDING`] bytes of padding.
    pub fn start(&mut self, padding: usize) -> io::Result<()> {
        let padding = padding.max(MIN_PADDING);
        let mut head = Vec::with_capacity(padding + 160);
        head.extend_from_slice(
            b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>serverpush</title></head><body>\n<!--",
        );
        head.resize(head.len() + padding, b' ');
        head.extend_from_slice(b"-->\n");
        self.out.write_all(&head)?;
        self.out.flush()
    }

    /// Writes one `<script>` that calls the callback with `args`.
    pub fn call(&mut self, args: &[serde_json::Value]) -> io::Result<()> {
        let args: Vec<String> = args.iter().map(script_safe_json).collect();
        writeln!(
            self.out,
            "<script>window.parent.{}({});</script>",
            self.callback.as_str(),
            args.join(",")
        )?;
        self.out.flush()
    }

    /// The heartbeat: a newline, which the document ignores.
    pub fn heartbeat(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Ends the document normally.
    pub fn finish(&mut self) -> io::Result<()> {
        self.out.write_all(b"</body></html>\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_bytes;
    use serde_json::json;

    #[test]
    fn callbacks() {
        for good in ["f", "comet.printServerTime", "$.a_1", "_"] {
            assert!(Callback::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_CALLBACK_LEN + 1);
        for bad in [
            "",
            "alert(1)//",
            "a..b",
            ".a",
            "a.",
            "1a",
            "a b",
            "a;b",
            "a[0]",
            "</script>",
            "ä",
            long.as_str(),
        ] {
            assert!(Callback::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_cannot_close_the_script() {
        let v = json!("</script><script>alert(1)</script>&\u{2028}\u{2029}");
        let s = script_safe_json(&v);
        assert_eq!(
            s,
            "\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\\u0026\\u2028\\u2029\""
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).ok(), Some(v));
    }

    #[test]
    fn document() {
        let mut out = Vec::new();
        let Ok(cb) = Callback::parse("comet.printServerTime") else {
            panic!("callback refused")
        };
        let mut w = IframeWriter::new(&mut out, cb);
        let r = (|| {
            w.start(0)?;
            w.call(&[json!("12:00"), json!(1700000000000u64)])?;
            w.heartbeat()?;
            w.finish()
        })();
        assert!(r.is_ok());
        let mut want = b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>serverpush</title></head><body>\n<!--".to_vec();
        want.resize(want.len() + MIN_PADDING, b' ');
        want.extend_from_slice(
            b"-->\n<script>window.parent.comet.printServerTime(\"12:00\",1700000000000);</script>\n\n</body></html>\n",
        );
        assert_bytes(&out, &want);
    }
}
