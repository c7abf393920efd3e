//! *Rights*: who may subscribe to a channel, publish to it, long-poll a watched file or view a
//! camera. Programs ask [`Rights`] one question per request and never parse tokens themselves.
//!
//! A *resource* is a channel (`news`), a watched file (`file:status`) or a camera
//! (`camera:yard`). A *pattern* is an exact name or a prefix ending in `*` (`user.*`, `*`), of
//! one kind: `*` and `user.*` cover channels only, `file:*` watched files, `camera:*` cameras.
//!
//! Resources are public unless the config lists them as private (`private_channels`,
//! `private_files`, `private_cameras`). A private resource needs a right, from either
//! - a JWT (HS256 with `jwt_secret`, RS256 or ES256 with `jwt_public_key`) whose claims
//!   `{"serverpush": {"subscribe": [patterns], "publish": [patterns]}}` grant it, sent as
//!   `Authorization: Bearer`, `?token=` or the `serverpush_token` cookie; or
//! - the user the web server authenticated (`REMOTE_USER`), through `remote_user_channels`
//!   patterns with `{user}` in them.
//!
//! A missing or invalid token is 401 (`WWW-Authenticate: Bearer error="invalid_token"`); a
//! valid one without the right is 403. A request naming several resources is refused whole if
//! any one is refused. Tokens and secrets never appear in an answer or a log line.
//!
//! Credentials a browser sends by itself (a cookie, basic-auth's `REMOTE_USER`) cannot be
//! trusted to mean "the user wanted this" on a publish: a cross-site form would carry them too.
//! A publish authorized by one of them must come from an allowed `Origin`. Credentials a page
//! must add on purpose (the `Authorization` header, `?token=`) are looked at first: a request
//! that carries a token granting the channel is served on it, whatever else it carries.
//!
//! A token's header may not name critical extensions (`crit`): this server understands none,
//! and RFC 7515 says a token that needs one must then be refused.

use http::StatusCode;
use http::header::WWW_AUTHENTICATE;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::cgi::{Request, RequestError};
use crate::config::Config;
use crate::name::{Channel, is_name};

mod mercure;
pub use mercure::{MERCURE_COOKIE, MercureGrant};

/// What a request wants to do with a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Receive: subscribe to a channel, long-poll a file, view a camera.
    Subscribe,
    /// Publish to a channel.
    Publish,
}

/// The name of the cookie that may carry a token.
pub const TOKEN_COOKIE: &str = "serverpush_token";

/// A resource or a pattern taken apart: its kind (`file`, `camera`, or empty for a channel)
/// and the name after it.
fn kind_and_name(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((kind @ ("file" | "camera"), name)) => (kind, name),
        _ => ("", s),
    }
}

/// The suffix of a channel's companion, where its joins and leaves are published.
pub const PRESENCE_SUFFIX: &str = ".presence";

/// The channel whose joins and leaves `name` carries, when `name` is the companion of a channel
/// the config's `presence_events` covers (a companion has none of its own).
pub fn presence_base<'a>(config: &Config, name: &'a str) -> Option<&'a str> {
    let base = name.strip_suffix(PRESENCE_SUFFIX)?;
    (!base.ends_with(PRESENCE_SUFFIX) && has_presence_events(config, base)).then_some(base)
}

/// True when `channel` needs a right to follow (`private_channels`).
pub fn is_private_channel(config: &Config, channel: &str) -> bool {
    config
        .private_channels
        .iter()
        .any(|p| pattern_matches(p, channel))
}

/// True when the config has `channel`'s joins and leaves published.
pub fn has_presence_events(config: &Config, channel: &str) -> bool {
    !channel.ends_with(PRESENCE_SUFFIX)
        && config
            .presence_events
            .iter()
            .any(|p| pattern_matches(p, channel))
}

/// True when `pattern` (an exact name, or a prefix ending in `*`) covers `name`. A pattern
/// covers resources of its own kind only: `*` every channel, never a file or a camera.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let (pattern_kind, pattern) = kind_and_name(pattern);
    let (name_kind, name) = kind_and_name(name);
    pattern_kind == name_kind
        && match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        }
}

/// The claims serverpush reads from a token.
#[derive(Debug, Default, Deserialize)]
struct Claims {
    #[serde(default)]
    serverpush: Grants,
    /// Whom the token was given to, which scopes its publishes' idempotency keys.
    #[serde(default)]
    sub: Option<String>,
}

/// What a token grants.
#[derive(Debug, Default, Deserialize)]
struct Grants {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
    /// The token's `sub` claim, filled in once verified.
    #[serde(skip)]
    sub: Option<String>,
}

/// Who publishes, as far as the request shows: what a publish's idempotency key is scoped to,
/// so that one publisher's key never answers for another's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publisher {
    /// Nobody in particular: a publish to an open channel without a user. Such publishers share
    /// their keys.
    Anonymous,
    /// The holder of the site's `publish_token`.
    PublishToken,
    /// The user the web server authenticated.
    User(String),
    /// A token's holder: its `sub` claim, or the token itself when it has none.
    Token(String),
}

impl Publisher {
    /// The identity as one string, distinct for distinct publishers.
    pub fn identity(&self) -> String {
        match self {
            Publisher::Anonymous => "anonymous".to_owned(),
            Publisher::PublishToken => "publish-token".to_owned(),
            Publisher::User(user) => format!("user:{user}"),
            Publisher::Token(holder) => format!("token:{holder}"),
        }
    }
}

/// How a token's dates are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dates {
    /// By the JWT library: `exp` required, `nbf` honoured, both whole seconds.
    Checked,
    /// By the caller, from the claims it decodes: Mercure tokens may have no `exp`, and the
    /// Symfony component writes `exp` with a fraction of a second, which the library refuses.
    /// Their `aud` names the application's hub, which this server does not check.
    ByCaller,
}

/// Where a token came from: a cookie is sent by the browser on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Header,
    Query,
    Cookie,
}

/// The rights of one request, worked out lazily: a request for public resources never parses
/// a token or reads a key.
#[derive(Debug)]
pub struct Rights<'a> {
    request: &'a Request,
    config: &'a Config,
    token: Option<Result<(Grants, Source), RequestError>>,
}

fn unauthorized(reason: &str) -> RequestError {
    RequestError::new(StatusCode::UNAUTHORIZED, reason)
        .with_header(WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
}

pub(crate) fn needs_token(reason: &str) -> RequestError {
    RequestError::new(StatusCode::UNAUTHORIZED, reason)
        .with_header(WWW_AUTHENTICATE, "Bearer realm=\"serverpush\"")
}

fn forbidden(reason: impl Into<String>) -> RequestError {
    RequestError::new(StatusCode::FORBIDDEN, reason)
}

/// The value of cookie `name` in a `Cookie` header, taken as bytes: other cookies may hold
/// anything (a site's own cookie that is not UTF-8 is none of this program's business), and a
/// value may be quoted (RFC 6265's `DQUOTE *cookie-octet DQUOTE`). `None` when absent or when
/// its value is not text.
fn cookie<'h>(header: &'h [u8], name: &str) -> Option<&'h str> {
    header.split(|&b| b == b';').find_map(|pair| {
        let at = pair.iter().position(|&b| b == b'=')?;
        let (key, value) = (pair[..at].trim_ascii(), pair[at + 1..].trim_ascii());
        if key != name.as_bytes() {
            return None;
        }
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        std::str::from_utf8(value).ok()
    })
}

/// The credentials of an `Authorization` header if its scheme is `Bearer`, in any case (auth
/// schemes are case-insensitive, RFC 9110 §11.1).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
        .filter(|c| !c.is_empty())
}

impl<'a> Rights<'a> {
    /// The rights of `request` under `config`.
    pub fn new(request: &'a Request, config: &'a Config) -> Rights<'a> {
        Rights {
            request,
            config,
            token: None,
        }
    }

    fn is_private(&self, resource: &str) -> bool {
        let (list, name) = match resource.split_once(':') {
            Some(("file", name)) => (&self.config.private_files, name),
            Some(("camera", name)) => (&self.config.private_cameras, name),
            _ => (&self.config.private_channels, resource),
        };
        list.iter().any(|p| pattern_matches(p, name))
    }

    /// The resources the authenticated user has through `remote_user_channels`; none when the
    /// user name is not a valid channel name (it is never substituted unchecked).
    fn user_grants(&self, resource: &str) -> bool {
        let Some(user) = self.request.remote_user.as_deref() else {
            return false;
        };
        if !is_name(user) {
            return false;
        }
        self.config
            .remote_user_channels
            .iter()
            .any(|p| pattern_matches(&p.replace("{user}", user), resource))
    }

    /// The raw token and where it came from: the `Authorization` header, `?token=`, then the
    /// cookie.
    fn raw_token(&self) -> Result<Option<(&'a str, Source)>, RequestError> {
        if let Some(bearer) = self.request.header_str("authorization")?.and_then(bearer) {
            return Ok(Some((bearer, Source::Header)));
        }
        if let Some(token) = self.request.query.get("token") {
            return Ok(Some((token, Source::Query)));
        }
        Ok(self
            .request
            .headers
            .get("cookie")
            .and_then(|c| cookie(c.as_bytes(), TOKEN_COOKIE))
            .map(|t| (t, Source::Cookie)))
    }

    /// Verifies `token`; the reason of a refusal never quotes it.
    fn verify(&self, token: &str) -> Result<Grants, RequestError> {
        let claims: Claims = self.decode(token, Dates::Checked)?;
        let mut grants = claims.serverpush;
        grants.sub = claims.sub;
        Ok(grants)
    }

    /// Verifies `token` with the configured keys and decodes its claims, its dates as `dates`
    /// says. A refusal's reason never quotes the token.
    fn decode<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        dates: Dates,
    ) -> Result<C, RequestError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is not a JWT this server accepts"))?;
        if header.crit.is_some() {
            return Err(unauthorized(
                "the token needs extensions this server does not understand (crit)",
            ));
        }
        let key = match header.alg {
            Algorithm::HS256 => self
                .config
                .jwt_secret
                .as_deref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            Algorithm::RS256 | Algorithm::ES256 => {
                let Some(path) = &self.config.jwt_public_key else {
                    return Err(unauthorized("the token's algorithm is not accepted here"));
                };
                let pem = std::fs::read(path).map_err(|e| {
                    RequestError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the server's token key cannot be read; see the error log",
                    )
                    .with_detail(format!("jwt_public_key {}: {e}", path.display()))
                })?;
                let key = if header.alg == Algorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)
                } else {
                    DecodingKey::from_ec_pem(&pem)
                };
                // A key of the other kind does not verify this algorithm: the token is refused.
                key.ok()
            }
            _ => None,
        }
        .ok_or_else(|| unauthorized("the token's algorithm is not accepted here"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.jwt_leeway_secs;
        match dates {
            Dates::Checked => {
                validation.validate_nbf = true;
                validation.set_required_spec_claims(&["exp"]);
            }
            Dates::ByCaller => {
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.validate_aud = false;
                validation.set_required_spec_claims::<&str>(&[]);
            }
        }
        let data = jsonwebtoken::decode::<C>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidSignature => "the token's signature is wrong",
                ErrorKind::MissingRequiredClaim(_) => "the token has no expiry (exp)",
                _ => "the token is not valid",
            })
        })?;
        Ok(data.claims)
    }

    /// Verifies the token once per request; its source, `None` without a token (or when no
    /// token key is configured). The grants are then in [`Rights::grants`].
    fn token(&mut self) -> Result<Option<Source>, RequestError> {
        if self.token.is_none() {
            let Some((raw, source)) = self.raw_token()? else {
                return Ok(None);
            };
            if self.config.jwt_secret.is_none() && self.config.jwt_public_key.is_none() {
                return Ok(None);
            }
            self.token = Some(self.verify(raw).map(|g| (g, source)));
        }
        match &self.token {
            Some(Ok((_, source))) => Ok(Some(*source)),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// Whether the verified token grants `action` on `resource`.
    fn grants(&self, action: Action, resource: &str) -> bool {
        let Some(Ok((grants, _))) = &self.token else {
            return false;
        };
        let patterns = match action {
            Action::Subscribe => &grants.subscribe,
            Action::Publish => &grants.publish,
        };
        patterns.iter().any(|p| pattern_matches(p, resource))
    }

    /// May the request receive every one of `resources` (channels, `file:NAME`,
    /// `camera:NAME`)? Public ones need nothing.
    /// A channel's companion (its joins and leaves) asks the channel's own right too.
    pub fn check_subscribe<R: AsRef<str>>(&mut self, resources: &[R]) -> Result<(), RequestError> {
        let private: Vec<&str> = resources
            .iter()
            .flat_map(|r| [Some(r.as_ref()), presence_base(self.config, r.as_ref())])
            .flatten()
            .filter(|r| self.is_private(r))
            .collect();
        if private.is_empty() {
            return Ok(());
        }
        let ungranted: Vec<&str> = private
            .into_iter()
            .filter(|r| !self.user_grants(r))
            .collect();
        let Some(first) = ungranted.first() else {
            return Ok(());
        };
        let has_user = self.request.remote_user.is_some();
        match self.token()? {
            None if has_user => Err(forbidden(format!("{first} is not granted to this user"))),
            None => Err(unauthorized(&format!(
                "{first} is private: it needs a token"
            ))),
            Some(_) => match ungranted
                .iter()
                .find(|r| !self.grants(Action::Subscribe, r))
            {
                Some(refused) => Err(forbidden(format!("the token does not grant {refused}"))),
                None => Ok(()),
            },
        }
    }

    /// Who subscribes, for presence: the verified token's `sub`, else the user the server
    /// authenticated; `None` for an anonymous subscriber. Asked after a check that verified
    /// the token.
    pub fn subscriber(&self) -> Option<String> {
        match &self.token {
            Some(Ok((Grants { sub: Some(sub), .. }, _))) => Some(sub.clone()),
            _ => self.request.remote_user.clone(),
        }
    }

    /// The holder of the verified token: its `sub`, or, for a token without one, the token
    /// itself (by its digest, never its text). Asked by publishes only.
    fn holder(&self) -> String {
        match &self.token {
            Some(Ok((Grants { sub: Some(sub), .. }, _))) => format!("sub:{sub}"),
            Some(Ok(_)) => token_digest(self.raw_token().ok().flatten().map_or("", |(t, _)| t)),
            _ => String::new(),
        }
    }

    /// May the request read the host's metrics? The users of `metrics_users` may, and whoever
    /// sends `metrics_token` as a bearer token; with neither set, metrics are off (404).
    pub fn check_metrics(&self) -> Result<(), RequestError> {
        if self.config.metrics_token.is_none() && self.config.metrics_users.is_empty() {
            return Err(RequestError::new(
                StatusCode::NOT_FOUND,
                "metrics are off on this server (metrics_token, metrics_users)",
            ));
        }
        if let Some(user) = self.request.remote_user.as_deref()
            && self.config.metrics_users.iter().any(|u| u == user)
        {
            return Ok(());
        }
        let given = self.request.header_str("authorization")?.and_then(bearer);
        match (&self.config.metrics_token, given) {
            (Some(expected), Some(given)) if secret_eq(expected.as_bytes(), given.as_bytes()) => {
                Ok(())
            }
            (_, Some(_)) => Err(forbidden("the metrics token is wrong")),
            (_, None) if self.request.remote_user.is_some() => {
                Err(forbidden("this user may not read the metrics"))
            }
            (_, None) => Err(RequestError::new(
                StatusCode::UNAUTHORIZED,
                "the metrics need authorization",
            )
            .with_header(WWW_AUTHENTICATE, "Bearer realm=\"serverpush\"")),
        }
    }

    /// May the request publish to `channel`, and as whom? Checked in this order: an open
    /// channel; the publish token; a token the page sent on purpose (header or query) that
    /// grants it; the authenticated user's channels; a cookie token's claims. The last two are
    /// credentials a browser sends by itself, so they also need an allowed origin.
    /// A channel's companion is written by the programs alone: no one may forge a join.
    pub fn check_publish(&mut self, channel: &Channel) -> Result<Publisher, RequestError> {
        let channel = channel.as_str();
        if let Some(base) = presence_base(self.config, channel) {
            return Err(forbidden(format!(
                "{channel} carries the joins and leaves of {base}: only the streams publish there"
            )));
        }
        if self.config.open_channels.iter().any(|c| c == channel) {
            return Ok(match self.request.remote_user.as_deref() {
                Some(user) => Publisher::User(user.to_owned()),
                None => Publisher::Anonymous,
            });
        }
        if let (Some(expected), Some((given, Source::Header))) =
            (&self.config.publish_token, self.raw_token()?)
            && secret_eq(expected.as_bytes(), given.as_bytes())
        {
            return Ok(Publisher::PublishToken);
        }
        let token = self.token();
        if let Ok(Some(Source::Header | Source::Query)) = token
            && self.grants(Action::Publish, channel)
        {
            return Ok(Publisher::Token(self.holder()));
        }
        if self.user_grants(channel) {
            self.check_origin()?;
            return Ok(Publisher::User(
                self.request.remote_user.clone().unwrap_or_default(),
            ));
        }
        let source = match token {
            Ok(source) => source,
            // A bearer that is neither the publish token nor a valid JWT is a wrong token.
            Err(_) if self.config.publish_token.is_some() => {
                return Err(forbidden("the publish token is wrong"));
            }
            Err(e) => return Err(e),
        };
        match source {
            Some(source) => {
                if !self.grants(Action::Publish, channel) {
                    return Err(forbidden(format!("the token does not grant {channel}")));
                }
                if source == Source::Cookie {
                    self.check_origin()?;
                }
                Ok(Publisher::Token(self.holder()))
            }
            None if self.raw_token()?.is_some() => Err(forbidden("the publish token is wrong")),
            None if self.request.remote_user.is_some() => Err(forbidden(format!(
                "publishing to {channel} is not granted to this user"
            ))),
            None => Err(RequestError::new(
                StatusCode::UNAUTHORIZED,
                format!("publishing to {channel} needs authorization"),
            )
            .with_header(WWW_AUTHENTICATE, "Bearer realm=\"serverpush\"")),
        }
    }

    /// A publish on ambient credentials must come from an allowed origin: `allowed_origins`,
    /// or the request's own host when that list is empty, over the request's own scheme or
    /// `https` (a site behind a proxy that ends TLS sees `http` while its pages are `https`),
    /// never another scheme. A request without `Origin` (curl, a server-side client) passes
    /// unless the browser said it is cross-site.
    fn check_origin(&self) -> Result<(), RequestError> {
        let Some(origin) = self.request.header_str("origin")? else {
            return match self.request.header_str("sec-fetch-site")? {
                Some("cross-site") => Err(forbidden("a cross-site publish is refused")),
                _ => Ok(()),
            };
        };
        let allowed = if self.config.allowed_origins.is_empty() {
            let host = self.request.header_str("host")?.unwrap_or_default();
            origin.split_once("://").is_some_and(|(scheme, rest)| {
                (scheme == "https" || scheme == self.request.scheme())
                    && !host.is_empty()
                    && rest == host
            })
        } else {
            self.config.allowed_origins.iter().any(|o| o == origin)
        };
        if allowed {
            Ok(())
        } else {
            Err(forbidden("publishing from this origin is refused"))
        }
    }
}

/// A token without a `sub`, named by its digest (never its text).
fn token_digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("jwt:{hex}")
}

/// Whether a secret given equals the one expected, in a time that tells nothing of either, not
/// even their lengths: their SHA-256 digests are compared, in constant time.
pub fn secret_eq(expected: &[u8], given: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    constant_time_eq(&Sha256::digest(expected), &Sha256::digest(given))
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches("news", "news"));
        assert!(!pattern_matches("news", "news2"));
        assert!(pattern_matches("user.*", "user.42"));
        assert!(!pattern_matches("user.*", "user"));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("file:*", "file:status"));
    }

    #[test]
    fn patterns_cover_their_own_kind_only() {
        assert!(!pattern_matches("*", "file:status"));
        assert!(!pattern_matches("*", "camera:yard"));
        assert!(!pattern_matches("file*", "file:status"));
        assert!(!pattern_matches("camera*", "camera:yard"));
        assert!(pattern_matches("file:*", "file:status"));
        assert!(!pattern_matches("file:*", "camera:yard"));
        assert!(!pattern_matches("file:*", "status"));
        assert!(pattern_matches("camera:y*", "camera:yard"));
    }

    #[test]
    fn a_channels_announcements_are_its_companion_only() {
        let config = Config {
            presence_events: vec!["room".into(), "chat-*".into()],
            ..Config::default()
        };
        assert_eq!(presence_base(&config, "room.presence"), Some("room"));
        assert_eq!(presence_base(&config, "chat-1.presence"), Some("chat-1"));
        assert_eq!(presence_base(&config, "room"), None);
        assert_eq!(
            presence_base(&config, "lobby.presence"),
            None,
            "not announced"
        );
        // `chat-*` covers `chat-1.presence`, which announces nothing of its own.
        assert!(!has_presence_events(&config, "chat-1.presence"));
        assert_eq!(presence_base(&config, "chat-1.presence.presence"), None);
    }

    #[test]
    fn cookies() {
        fn get(header: &[u8]) -> Option<&str> {
            cookie(header, TOKEN_COOKIE)
        }
        assert_eq!(get(b"a=1; serverpush_token=abc.def; b=2"), Some("abc.def"));
        assert_eq!(get(b"serverpush_tokenx=1"), None);
        assert_eq!(get(b"serverpush_token=\"abc.def\""), Some("abc.def"));
        assert_eq!(get(b"site=\xff\xfe; serverpush_token=abc"), Some("abc"));
        assert_eq!(get(b"serverpush_token=\xff"), None);
    }

    #[test]
    fn bearer_schemes_are_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
