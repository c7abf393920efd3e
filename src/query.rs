//! A *query* is the decoded `QUERY_STRING`: ordered name/value pairs, repeated names kept.
//!
//! Parameters are read through typed accessors that turn a bad value into a 400 naming the
//! parameter, so no program repeats range checks or error wording.

use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::refusal::RequestError;

/// The decoded pairs of a query string, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `application/x-www-form-urlencoded` bytes; invalid UTF-8 becomes U+FFFD.
    pub fn parse(raw: &[u8]) -> Query {
        Query {
            pairs: form_urlencoded::parse(raw).into_owned().collect(),
        }
    }

    /// Decodes a form body strictly: `None` when a name or value is not UTF-8 once decoded.
    /// Form data is stored and passed on, so it is refused rather than mended with U+FFFD.
    pub fn parse_strict(raw: &[u8]) -> Option<Query> {
        let decode = |raw: &[u8]| {
            let plus_as_space: Vec<u8> = raw
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            percent_encoding::percent_decode(&plus_as_space)
                .decode_utf8()
                .ok()
                .map(|v| v.into_owned())
        };
        let mut pairs = Vec::new();
        for pair in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Some(Query { pairs })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A number parameter within `range`, or `default` when absent.
    ///
    /// NaN, infinities and values outside the range are a 400 that names the parameter.
    pub fn number<T>(
        &self,
        name: &str,
        range: RangeInclusive<T>,
        default: T,
    ) -> Result<T, RequestError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        raw.trim()
            .parse::<T>()
            .ok()
            .filter(|v| range.contains(v))
            .ok_or_else(|| {
                RequestError::bad_request(format!(
                    "{name} must be a number from {} to {}",
                    range.start(),
                    range.end()
                ))
            })
    }

    /// One of a fixed set of words, or `default` when absent.
    pub fn choice<'a>(
        &'a self,
        name: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, RequestError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => allowed.iter().copied().find(|a| *a == v).ok_or_else(|| {
                RequestError::bad_request(format!("{name} must be one of: {}", allowed.join(", ")))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_forms() {
        let q = Query::parse_strict(b"topic=a&topic=b+c&data=caf%C3%A9&private").unwrap();
        assert_eq!(q.get_all("topic"), vec!["a", "b c"]);
        assert_eq!(q.get("data"), Some("café"));
        assert_eq!(q.get("private"), Some(""));
        assert!(Query::parse_strict(b"data=%FF").is_none());
        assert!(Query::parse_strict(b"%FF=1").is_none());
        assert_eq!(Query::parse_strict(b"").unwrap().get("x"), None);
    }

    #[test]
    fn numbers() {
        let q = Query::parse(b"a=0&b=-1&c=NaN&d=1e308&e=2.5&f=inf&g=&h=0.1");
        let r = 0.1..=3600.0;
        for bad in ["a", "b", "c", "d", "f", "g"] {
            assert!(q.number(bad, r.clone(), 1.0).is_err(), "{bad}");
        }
        assert_eq!(q.number("e", r.clone(), 1.0), Ok(2.5));
        assert_eq!(q.number("h", r.clone(), 1.0), Ok(0.1));
        assert_eq!(q.number("missing", r, 1.0), Ok(1.0));
        assert!(q.number::<u32>("e", 1..=10, 1).is_err());
    }

    #[test]
    fn choices() {
        let q = Query::parse(b"t=sse&u=bogus");
        assert_eq!(q.choice("t", &["mixed", "sse"], "mixed"), Ok("sse"));
        assert_eq!(q.choice("x", &["mixed", "sse"], "mixed"), Ok("mixed"));
        assert!(q.choice("u", &["mixed", "sse"], "mixed").is_err());
    }

    #[test]
    fn non_utf8_is_replaced() {
        let q = Query::parse(b"a=%ff%fe&b=\xff");
        assert_eq!(q.get("a"), Some("\u{fffd}\u{fffd}"));
        assert_eq!(q.get("b"), Some("\u{fffd}"));
    }
}
