//! Rights to the Mercure hub: a Mercure token from the protocol's three places, its
//! `mercure.publish` and `mercure.subscribe` selectors, and its dates, which Mercure tokens
//! write their own way (no `exp`, or one with a fraction of a second). The hub's front matches
//! the selectors; only this module reads the tokens.

use serde::Deserialize;

use super::{Dates, Rights, Source, bearer, cookie, needs_token, token_digest, unauthorized};
use crate::cgi::RequestError;

/// The name of the cookie that may carry a Mercure token.
pub const MERCURE_COOKIE: &str = "mercureAuthorization";

/// The claims a Mercure token carries. Dates are numbers of seconds, whole or not.
#[derive(Debug, Default, Deserialize)]
struct MercureClaims {
    #[serde(default)]
    mercure: MercureClaim,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    sub: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct MercureClaim {
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
    /// What the application says of the subscriber, repeated in its subscription's updates.
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// What a verified Mercure token grants: topic selectors, unparsed (the hub's front parses
/// them; a token's selector it cannot parse matches nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MercureGrant {
    /// Selectors every topic of a published update must match (`mercure.publish`).
    pub publish: Vec<String>,
    /// Selectors of the private updates the holder may receive (`mercure.subscribe`).
    pub subscribe: Vec<String>,
    /// When the token expires (seconds since 1970), if it says: a stream ends then.
    pub expires: Option<u64>,
    /// Who holds it: its `sub`, or the token's digest. A publisher's own update ids are
    /// scoped to it, as idempotency keys are.
    pub holder: String,
    /// The token's `mercure.payload`, for the subscriptions API.
    pub payload: Option<serde_json::Value>,
}

impl Rights<'_> {
    /// The raw Mercure token and where it came from, in the protocol's order: the
    /// `Authorization` header, the `authorization` query parameter, the `mercureAuthorization`
    /// cookie.
    fn mercure_raw_token(&self) -> Result<Option<(&str, Source)>, RequestError> {
        if let Some(bearer) = self.request.header_str("authorization")?.and_then(bearer) {
            return Ok(Some((bearer, Source::Header)));
        }
        if let Some(token) = self.request.query.get("authorization") {
            return Ok(Some((token, Source::Query)));
        }
        Ok(self
            .request
            .headers
            .get("cookie")
            .and_then(|c| cookie(c.as_bytes(), MERCURE_COOKIE))
            .map(|t| (t, Source::Cookie)))
    }

    /// The Mercure token's grant and where it came from, `None` without a token. A token that
    /// does not verify is 401, as is any token when no key is configured. Mercure tokens often
    /// carry no `exp`, which the protocol allows; one that has it is checked.
    fn mercure_token(&self) -> Result<Option<(MercureGrant, Source)>, RequestError> {
        let Some((raw, source)) = self.mercure_raw_token()? else {
            return Ok(None);
        };
        if self.config.jwt_secret.is_none() && self.config.jwt_public_key.is_none() {
            return Err(unauthorized(
                "this hub has no token key (jwt_secret, jwt_public_key)",
            ));
        }
        let claims: MercureClaims = self.decode(raw, Dates::ByCaller)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let leeway = self.config.jwt_leeway_secs as f64;
        // JSON numbers are finite: no NaN to compare.
        if claims.exp.is_some_and(|exp| exp + leeway <= now) {
            return Err(unauthorized("the token has expired"));
        }
        if claims.nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(unauthorized("the token is not valid yet"));
        }
        let holder = match claims.sub {
            Some(sub) => format!("sub:{sub}"),
            None => token_digest(raw),
        };
        let grant = MercureGrant {
            publish: claims.mercure.publish,
            subscribe: claims.mercure.subscribe,
            // Whole seconds, rounded down; a date no clock reaches is no date.
            expires: claims
                .exp
                .filter(|e| e.is_finite() && *e >= 0.0)
                .map(|e| e as u64),
            holder,
            payload: claims.mercure.payload,
        };
        Ok(Some((grant, source)))
    }

    /// A Mercure subscriber's grant: `None` for an anonymous subscriber, who is served only
    /// when `mercure_anonymous` is on (401 otherwise).
    pub fn mercure_subscriber(&self) -> Result<Option<MercureGrant>, RequestError> {
        match self.mercure_token()? {
            // Within the leeway a token is still valid, but a stream would end at once: the
            // client is told to get a new one instead of reconnecting until the leeway ends.
            Some((grant, _)) if grant.expires.is_some_and(|e| e <= now_secs()) => {
                Err(unauthorized("the token has expired"))
            }
            Some((grant, _)) => Ok(Some(grant)),
            None if self.config.mercure_anonymous => Ok(None),
            None => Err(needs_token("subscribing to this hub needs a token")),
        }
    }

    /// A Mercure publisher's grant: a token is needed (401 without one, as the reference hub
    /// answers), and one sent as the cookie, which a browser adds on its own, must come from an
    /// allowed origin (the protocol's note on cross-site requests).
    pub fn mercure_publisher(&self) -> Result<MercureGrant, RequestError> {
        match self.mercure_token()? {
            Some((grant, Source::Cookie)) => {
                self.check_origin()?;
                Ok(grant)
            }
            Some((grant, _)) => Ok(grant),
            None => Err(needs_token("publishing to this hub needs a token")),
        }
    }
}

/// Seconds since 1970, now.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
