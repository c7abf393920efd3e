//! *Publish* an update: a form `POST` with a token whose `mercure.publish` selectors match every
//! topic of the update. Everything a request can get wrong is refused before the store is
//! touched, so a refused publish stores nothing.

use std::io::Read;

use http::StatusCode;

use super::MAX_TOPICS;
use super::selector::{MAX_TOPIC_BYTES, Selector};
use super::update::{CONTENT_TYPE, MINTED_PREFIX, Update};
use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::name::Channel;
use crate::query::Query;
use crate::rights::Rights;
use crate::source::longpoll::store_refusal;
use crate::store::{self, IdempotencyKey, NewMessage};

/// What a form may carry beyond its data: topics, the other fields, their escapes.
const FORM_ALLOWANCE: u64 = 64 * 1024;

/// The most bytes an update's topics may have in all: every subscriber matches them.
const MAX_TOPICS_BYTES: usize = 8192;

/// The longest publisher id or event type kept.
const MAX_FIELD_BYTES: usize = 256;

fn bad(reason: impl Into<String>) -> RequestError {
    RequestError::bad_request(reason)
}

/// A topic as a refusal may quote it: at most 80 characters, control characters escaped.
fn quoted(topic: &str) -> String {
    let short: String = topic.chars().take(80).collect();
    format!("{:?}", short)
}

/// Validates, authorizes and stores an update; its event id.
pub fn publish(
    request: &Request,
    config: &Config,
    body: &mut dyn Read,
) -> Result<String, RequestError> {
    let declared = request.header_str("content-type")?.unwrap_or_default();
    let is_form = declared
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded");
    // The body is read (within its limit) before anything else is refused, so the server logs
    // only the refusal.
    let bytes = request.read_body(
        body,
        config.max_message_bytes.saturating_add(FORM_ALLOWANCE),
    )?;
    if !is_form {
        return Err(RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "publish a form (application/x-www-form-urlencoded)",
        ));
    }
    let grant = Rights::new(request, config).mercure_publisher()?;
    let form = Query::parse_strict(&bytes).ok_or_else(|| {
        RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the form is not UTF-8 once decoded",
        )
    })?;
    let update = update_of(&form, config)?;
    let allowed: Vec<Selector> = grant
        .publish
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .collect();
    if let Some(topic) = update
        .topics
        .iter()
        .find(|t| !allowed.iter().any(|s| s.matches(t)))
    {
        return Err(RequestError::new(
            StatusCode::FORBIDDEN,
            format!("the token does not grant publishing to {}", quoted(topic)),
        ));
    }
    // Who subscribes is the hub's to say: a token granted `*` could otherwise forge it.
    if let Some(topic) = update
        .topics
        .iter()
        .find(|t| super::subscriptions::is_reserved(t))
    {
        return Err(RequestError::new(
            StatusCode::FORBIDDEN,
            format!("only the hub publishes on {}", quoted(topic)),
        ));
    }
    let text = update.encode();
    // A publisher's own id names one update: a publisher that repeats one (a retry of a publish
    // that was stored, as a job queue makes) is answered as the first time and stores nothing,
    // so a subscriber resuming from that id misses nothing in between. Scoped to the publisher,
    // as the channels' idempotency keys are.
    let key = update
        .id
        .as_deref()
        .map(|id| IdempotencyKey::new(&format!("mercure:{}", grant.holder), id));
    let message = NewMessage {
        content_type: CONTENT_TYPE,
        data: &text,
        idempotency_key: key.as_ref(),
    };
    let published = store::open(config)
        .and_then(|mut store| store.publish(&Channel::mercure_hub(), &message))
        .map_err(|e| store_refusal(&e).with_detail(e.to_string()))?;
    Ok(update.event_id(&published.epoch, published.id))
}

/// The update a form describes, every field checked.
fn update_of(form: &Query, config: &Config) -> Result<Update, RequestError> {
    let topics: Vec<String> = form
        .get_all("topic")
        .into_iter()
        .map(str::to_owned)
        .collect();
    if topics.is_empty() {
        return Err(bad("an update needs a topic"));
    }
    if topics.len() > MAX_TOPICS {
        return Err(bad(format!("an update has at most {MAX_TOPICS} topics")));
    }
    if topics.iter().map(String::len).sum::<usize>() > MAX_TOPICS_BYTES {
        return Err(bad(format!(
            "an update's topics are at most {MAX_TOPICS_BYTES} bytes in all"
        )));
    }
    if let Some(topic) = topics
        .iter()
        .find(|t| t.is_empty() || t.len() > MAX_TOPIC_BYTES || t.contains(char::is_control))
    {
        return Err(bad(format!(
            "topic {} is not 1 to {MAX_TOPIC_BYTES} bytes without control characters",
            quoted(topic)
        )));
    }
    let data = form.get("data").unwrap_or_default();
    if data.len() as u64 > config.max_message_bytes {
        return Err(RequestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "an update's data is at most {} bytes (max_message_bytes)",
                config.max_message_bytes
            ),
        ));
    }
    let id = match form.get("id") {
        // An empty id is no id: the hub mints one, as for a form without the field.
        None | Some("") => None,
        Some(id) if id.starts_with('#') => return Err(bad("an update's id may not start with #")),
        Some(id) if id.starts_with(MINTED_PREFIX) => {
            return Err(bad(format!(
                "ids starting with {MINTED_PREFIX} are the hub's own"
            )));
        }
        Some("earliest") => return Err(bad("earliest is not an update's id")),
        // Printable ASCII: a subscriber sends it back in a header, and the hub repeats it in
        // its own `Last-Event-ID` header, where other bytes do not travel reliably.
        Some(id)
            if id.len() > MAX_FIELD_BYTES
                || !id.bytes().all(|b| (b' '..=b'~').contains(&b))
                || id.starts_with(' ')
                || id.ends_with(' ') =>
        {
            return Err(bad(format!(
                "an update's id is 1 to {MAX_FIELD_BYTES} printable ASCII characters, not starting or ending with a space"
            )));
        }
        Some(id) => Some(id.to_owned()),
    };
    let kind = match form.get("type") {
        None | Some("") => None,
        Some(t) if t.len() > MAX_FIELD_BYTES || t.contains(char::is_control) => {
            return Err(bad(format!(
                "an update's type is at most {MAX_FIELD_BYTES} bytes without control characters"
            )));
        }
        Some(t) => Some(t.to_owned()),
    };
    let retry = match form.get("retry") {
        None | Some("") => None,
        Some(r) => Some(
            r.parse::<u64>()
                .ok()
                .filter(|ms| *ms <= 86_400_000 && r.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad("retry must be a number of milliseconds up to a day"))?,
        ),
    };
    Ok(Update {
        topics,
        // Present, whatever its value (`on`, empty), marks the update private.
        private: form.get("private").is_some(),
        id,
        kind,
        retry,
        data: data.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(form: &str) -> Result<Update, StatusCode> {
        let form = Query::parse_strict(form.as_bytes()).unwrap();
        update_of(&form, &Config::default()).map_err(|e| e.status)
    }

    #[test]
    fn forms_become_updates() {
        let u = update("topic=https%3A%2F%2Fex.com%2Fb%2F1&topic=urn%3Aalt&data=a+b%0Ac&private=on&id=my-1&type=change&retry=500").unwrap();
        assert_eq!(u.topics, vec!["https://ex.com/b/1", "urn:alt"]);
        assert_eq!(u.data, "a b\nc");
        assert!(u.private);
        assert_eq!(u.id.as_deref(), Some("my-1"));
        assert_eq!(u.kind.as_deref(), Some("change"));
        assert_eq!(u.retry, Some(500));
        let plain = update("topic=t").unwrap();
        assert!(!plain.private);
        assert_eq!(plain.data, "");
        assert_eq!(update("topic=t&private=").map(|u| u.private), Ok(true));
        assert_eq!(update("topic=t&id=").map(|u| u.id), Ok(None));
        assert_eq!(
            update("topic=t&id=a+b").map(|u| u.id),
            Ok(Some("a b".into()))
        );
    }

    #[test]
    fn bad_forms_are_400() {
        let many = "topic=t&".repeat(MAX_TOPICS + 1);
        for bad in [
            "data=x",
            many.as_str(),
            "topic=",
            "topic=a%0Ab",
            "topic=t&id=%23frag",
            "topic=t&id=urn%3Aserverpush%3Aab%3A1",
            "topic=t&id=earliest",
            "topic=t&id=a%0Db",
            "topic=t&id=caf%C3%A9",
            "topic=t&id=+padded",
            "topic=t&id=padded+",
            "topic=t&type=a%0Ab",
            "topic=t&retry=-1",
            "topic=t&retry=1.5",
            "topic=t&retry=%2B5",
            "topic=t&retry=99999999999999999999999",
        ] {
            assert_eq!(
                update(bad).map(|_| ()),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        let big = format!("topic=t&data={}", "x".repeat(64 * 1024 + 1));
        assert_eq!(update(&big).map(|_| ()), Err(StatusCode::PAYLOAD_TOO_LARGE));
    }
}
