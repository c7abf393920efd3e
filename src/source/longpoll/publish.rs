//! *Publish*: a `POST` stores its body as the next message of one channel.
//!
//! Publishing needs the bearer token, a user the server authenticated, or a channel listed in
//! `open_channels`. Everything a request can get wrong (authorization, size, encoding) is
//! checked before the store is touched, so a refused publish stores nothing.
//!
//! A publisher that did not get an answer (a timeout, a 503) cannot tell whether its message
//! was stored. It sends an `Idempotency-Key` header and retries with the same key: the store
//! remembers the key for `idempotency_secs` and answers the first message's id again. A key is
//! the publisher's own: it is kept byte for byte and scoped to who published
//! ([`Publisher`](crate::rights::Publisher)), so another publisher's equal key is another key.

use std::io::{self, Read, Write};

use http::StatusCode;
use serde_json::json;

use super::{bad, channels, json_response, store_refusal};
use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::name::Channel;
use crate::pacing::Time;
use crate::program::Response;
use crate::query::Query;
use crate::rights::Rights;
use crate::store::{self, IdempotencyKey, NewMessage, is_idempotency_key};

/// A stored message, as the publisher is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The channel.
    pub channel: Channel,
    /// The message's id.
    pub id: u64,
    /// True when the idempotency key had been seen and nothing new was stored.
    pub duplicate: bool,
}

impl Receipt {
    /// `201 {"channel":…,"id":…}` (with `"duplicate":true` for a repeated key).
    pub fn respond<W: Write, T: Time>(
        &self,
        response: &mut Response<W>,
        time: &T,
    ) -> io::Result<()> {
        let mut body = json!({ "channel": self.channel, "id": self.id });
        if self.duplicate {
            body["duplicate"] = true.into();
        }
        json_response(response, StatusCode::CREATED, &body, time)
    }
}

/// The field `name` of a form body, decoded; a form that is not UTF-8 once decoded is refused
/// like a raw body that is not (415), never stored with replacement characters.
fn form_field(body: &[u8], name: &str) -> Result<Option<String>, RequestError> {
    let form = Query::parse_strict(body).ok_or_else(|| {
        RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "messages must be UTF-8 text (the form's data is not)",
        )
    })?;
    Ok(form.get(name).map(str::to_owned))
}

/// Validates and stores a publish.
pub fn publish(
    request: &Request,
    config: &Config,
    body: &mut dyn Read,
) -> Result<Receipt, RequestError> {
    let names = channels(request, config)?;
    let [channel] = names.as_slice() else {
        return Err(bad("publish to exactly one channel"));
    };
    // The body is read (within its limit) before authorization is checked, so that a refused
    // client's body is consumed and the server logs only the refusal.
    let bytes = request.read_body(body, config.max_message_bytes)?;
    let publisher = Rights::new(request, config).check_publish(channel)?;
    let declared = request.header_str("content-type")?.unwrap_or("text/plain");
    let form_data = if declared
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        form_field(&bytes, "data")?
    } else {
        None
    };
    let (content_type, data) = if let Some(data) = form_data {
        ("text/plain; charset=utf-8".to_owned(), data)
    } else {
        // A form without a data field is what `curl -d 'text'` sends: keep the text as it is.
        let declared = if declared
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            "text/plain"
        } else {
            declared
        };
        let data = String::from_utf8(bytes).map_err(|_| {
            RequestError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "messages must be UTF-8 text",
            )
        })?;
        if declared.len() > 200 || !declared.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(bad("Content-Type is not a plain media type"));
        }
        (declared.to_owned(), data)
    };
    let idempotency_key = match request.header_str("idempotency-key")? {
        Some(key) if is_idempotency_key(key) => {
            Some(IdempotencyKey::new(&publisher.identity(), key))
        }
        Some(_) => {
            return Err(bad(
                "Idempotency-Key must be 1 to 100 of A-Z a-z 0-9 _ . : -",
            ));
        }
        None => None,
    };
    let message = NewMessage {
        content_type: &content_type,
        data: &data,
        idempotency_key: idempotency_key.as_ref(),
    };
    let published = store::open(config)
        .and_then(|mut store| store.publish(channel, &message))
        .map_err(|e| store_refusal(&e))?;
    Ok(Receipt {
        channel: channel.clone(),
        id: published.id,
        duplicate: published.duplicate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode_strictly() {
        let field = |body: &str| form_field(body.as_bytes(), "data").map_err(|e| e.status);
        assert_eq!(
            field("a=1&data=caf%C3%A9+%3Cb%3E"),
            Ok(Some("café <b>".into()))
        );
        assert_eq!(field("data="), Ok(Some(String::new())));
        assert_eq!(field("data"), Ok(Some(String::new())));
        assert_eq!(field("other=1"), Ok(None));
        assert_eq!(field("data=%FF"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(field("d%61ta=x"), Ok(Some("x".into())));
    }
}
