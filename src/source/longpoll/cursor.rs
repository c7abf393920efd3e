//! A *cursor* is a client's position in the channels it follows: per channel, the last id it
//! has and the channel's epoch then, rendered `a:42:3f9c1e0b77aa,b:7:0d2e4b6c8a10`.
//!
//! Clients send it back as `since=` or in `Last-Event-ID` (SSE ids are cursors). The forms the
//! first release wrote, `a:42,b:7` and a bare `42` for one channel, carry no epoch and keep
//! working: their channels are taken to be in whatever epoch they are now.

use std::collections::BTreeMap;

use crate::cgi::RequestError;
use crate::name::{Channel, is_name};
use crate::store::is_epoch;

/// Where a client is in one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The channel.
    pub channel: Channel,
    /// The last id the client has (0 for none).
    pub id: u64,
    /// The channel's epoch when the client read it; `None` when unknown.
    pub epoch: Option<String>,
}

/// A client's position in every channel it follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor(pub Vec<Position>);

impl Cursor {
    /// The cursor as clients send it back.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(p.channel.as_str());
            out.push(':');
            out.push_str(&p.id.to_string());
            if let Some(epoch) = &p.epoch {
                out.push(':');
                out.push_str(epoch);
            }
        }
        out
    }

    /// The (channel, id) pairs, for a store's wait.
    pub fn ids(&self) -> Vec<(&Channel, u64)> {
        self.0.iter().map(|p| (&p.channel, p.id)).collect()
    }
}

fn bad(reason: impl Into<String>) -> RequestError {
    RequestError::bad_request(reason)
}

/// One id of a cursor: digits only, at most `i64::MAX` (what every JSON reader can hold).
fn parse_id(s: &str) -> Result<u64, RequestError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("since ids must be whole numbers of at least 0"));
    }
    s.parse::<u64>()
        .ok()
        .filter(|&v| v <= i64::MAX as u64)
        .ok_or_else(|| bad("since id is too large"))
}

/// Parses `since` (or a `Last-Event-ID`): `a:41:EPOCH,b:7`, or a bare `41` when exactly one
/// channel is asked. Every channel it names must be one of `channels`.
pub fn parse(raw: &str, channels: &[Channel]) -> Result<BTreeMap<Channel, Position>, RequestError> {
    let mut out = BTreeMap::new();
    if !raw.contains(':') {
        let [channel] = channels else {
            return Err(bad(
                "a bare since id needs exactly one channel; use since=channel:id",
            ));
        };
        let position = Position {
            channel: channel.clone(),
            id: parse_id(raw)?,
            epoch: None,
        };
        out.insert(channel.clone(), position);
        return Ok(out);
    }
    for item in raw.split(',').filter(|s| !s.trim().is_empty()) {
        let mut fields = item.split(':');
        let (Some(name), Some(id)) = (fields.next(), fields.next()) else {
            return Err(bad("since must look like a:41,b:7"));
        };
        let epoch = match (fields.next(), fields.next()) {
            (None, None) => None,
            (Some(e), None) if is_epoch(e.trim()) => Some(e.trim().to_owned()),
            _ => return Err(bad("a since epoch must be 1 to 32 of 0-9 a-z")),
        };
        let name = name.trim();
        let Some(channel) = channels.iter().find(|c| *c == name) else {
            return Err(bad(format!(
                "since names channel {:?}, which the request does not ask for",
                if is_name(name) { name } else { "(invalid)" }
            )));
        };
        let position = Position {
            channel: channel.clone(),
            id: parse_id(id)?,
            epoch,
        };
        out.insert(channel.clone(), position);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<Channel> {
        list.iter().map(|s| Channel::parse(s).unwrap()).collect()
    }

    #[test]
    fn since_forms() {
        let one = names(&["a"]);
        let two = names(&["a", "b"]);
        assert_eq!(
            parse("41", &one)
                .ok()
                .and_then(|m| m.get("a").map(|p| p.id)),
            Some(41)
        );
        let m = parse("a:41,b:7:0f3e", &two).unwrap();
        let pair = |c: &str| m.get(c).map(|p| (p.id, p.epoch.clone()));
        assert_eq!(pair("a"), Some((41, None)));
        assert_eq!(pair("b"), Some((7, Some("0f3e".to_owned()))));
        for bad in [
            "-1",
            "x",
            "a:-1",
            "a:x",
            "99999999999999999999999",
            "c:1",
            "a:",
            "1e3",
            "a:1:",
            "a:1:XY",
            "a:1:e:f",
            "a:1:e,b",
        ] {
            assert!(parse(bad, &one).is_err(), "{bad}");
        }
        assert!(parse("41", &two).is_err());
        assert!(parse("c:1", &two).is_err());
    }

    #[test]
    fn renders_what_it_parses() {
        let cursor = Cursor(vec![
            Position {
                channel: names(&["a"])[0].clone(),
                id: 42,
                epoch: Some("3f9c1e0b77aa".into()),
            },
            Position {
                channel: names(&["b"])[0].clone(),
                id: 0,
                epoch: None,
            },
        ]);
        let text = cursor.render();
        assert_eq!(text, "a:42:3f9c1e0b77aa,b:0");
        let back = parse(&text, &names(&["a", "b"])).unwrap();
        assert_eq!(Cursor(back.into_values().collect()), cursor);
    }
}
