//! *Names*: the words a request, the config or the command line may use to pick something of
//! the suite's (a channel, a camera, a watched file), the patterns that grant them, and the
//! callbacks a forever frame may call. Each rule is written here once, with one error text, and
//! a [`Channel`] can only be made by parsing, so code that holds one never checks it again.

use std::fmt;

/// The rule every name follows, as clients are told when a name breaks it.
pub const NAME_RULE: &str = "names are 1 to 64 of A-Z a-z 0-9 _ . - (and not . or ..)";

/// True for a name usable as a key in a URL and as a file name: 1 to 64 of `A-Za-z0-9_.-`, not
/// `.` or `..`.
pub fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A channel's name, valid by construction: it can be joined to a directory or put into a Redis
/// key as it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Channel(String);

/// A name that breaks [`NAME_RULE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadName;

impl fmt::Display for BadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel {NAME_RULE}")
    }
}

impl std::error::Error for BadName {}

impl Channel {
    /// The channel named `name`, if it is a name.
    pub fn parse(name: &str) -> Result<Channel, BadName> {
        if is_name(name) {
            Ok(Channel(name.to_owned()))
        } else {
            Err(BadName)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Mercure hub's log: one ordered channel of every update, public and private. Its
    /// name breaks the rule on purpose (`+`), so no request, config key or command line can
    /// name it: the channel programs never serve it, only the hub's front reads it.
    pub fn mercure_hub() -> Channel {
        Channel("+mercure".to_owned())
    }

    /// Where a store that serves several hosts keeps their live streams (presence), a name no
    /// request can give either.
    pub fn presence_streams() -> Channel {
        Channel("+presence".to_owned())
    }
}

impl std::str::FromStr for Channel {
    type Err = BadName;

    fn from_str(name: &str) -> Result<Channel, BadName> {
        Channel::parse(name)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Channel {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Ordered, compared and hashed as its name, so maps keyed by channels are looked up by name.
impl std::borrow::Borrow<str> for Channel {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A channel's name is one safe path component: no `/`, not `.` or `..`.
impl AsRef<std::path::Path> for Channel {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl PartialEq<str> for Channel {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Channel {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// True for a well-formed pattern: a resource (a channel name, `file:NAME` or `camera:NAME`),
/// or a prefix of one followed by `*`.
pub fn is_pattern(pattern: &str) -> bool {
    let resource = |s: &str| match s.split_once(':') {
        Some(("file" | "camera", name)) => name.is_empty() || is_name(name),
        Some(_) => false,
        None => s.is_empty() || is_name(s),
    };
    match pattern.strip_suffix('*') {
        Some(prefix) => resource(prefix),
        None => !pattern.is_empty() && resource(pattern),
    }
}

/// The longest callback accepted.
pub const MAX_CALLBACK_LEN: usize = 128;

/// True for a callback a forever frame may call: `name(.name)*` where each name is
/// `[A-Za-z_$][A-Za-z0-9_$]*`, at most [`MAX_CALLBACK_LEN`] bytes in all.
pub fn is_callback(raw: &str) -> bool {
    let is_identifier = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    raw.len() <= MAX_CALLBACK_LEN && raw.split('.').all(is_identifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "news", "user.42", "A-b_c.d", &"x".repeat(64)] {
            assert!(is_name(good), "{good}");
            assert_eq!(
                Channel::parse(good).map(|c| c.to_string()),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "é",
            "a:b",
            "+waiting",
            &"x".repeat(65),
        ] {
            assert!(!is_name(bad), "{bad}");
            assert_eq!(Channel::parse(bad), Err(BadName));
        }
    }

    #[test]
    fn patterns() {
        for good in ["news", "user.*", "*", "file:status", "camera:*", "file:*"] {
            assert!(is_pattern(good), "{good}");
        }
        for bad in ["", "a b", "x:y", "us*er", "file:a/b", "**"] {
            assert!(!is_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn callbacks() {
        for good in ["comet.printServerTime", "$", "_a.b$1"] {
            assert!(is_callback(good), "{good}");
        }
        for bad in ["", "a..b", "1a", "a(b)", "a;b", &"a".repeat(129)] {
            assert!(!is_callback(bad), "{bad}");
        }
    }
}
