//! The config's *secrets*: the values that give rights to whoever reads them. `publish_token`
//! publishes to every channel, `jwt_secret` signs a token for any channel and any right, and a
//! password in `redis_url` opens the store itself. `jwt_public_key` names a public key, which
//! is no secret.
//!
//! One rule covers them all: a config file that holds a secret is not readable by every local
//! user. A publish token must also be strong, since it can be tried over HTTP.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use redis::IntoConnectionInfo;
use serverpush::config::Config;

use super::access::Account;
use super::{Level, Report, key_place};

/// A secret the config holds.
#[derive(Debug, PartialEq, Eq)]
struct Secret {
    /// The config key that holds it.
    key: &'static str,
    /// What anyone who reads it can do.
    grants: &'static str,
}

/// The secrets `config` holds, in the order of the keys in the example config.
fn secrets(config: &Config) -> Vec<Secret> {
    let mut found = Vec::new();
    if has_password(&config.redis_url) {
        found.push(Secret {
            key: "redis_url",
            grants: "its password opens the Redis store: every channel's messages, and \
                     publishing any message",
        });
    }
    if config.publish_token.is_some() {
        found.push(Secret {
            key: "publish_token",
            grants: "it publishes to every channel",
        });
    }
    if config.metrics_token.is_some() {
        found.push(Secret {
            key: "metrics_token",
            grants: "it reads the host's metrics: its channels' names and how many follow them",
        });
    }
    if config.jwt_secret.is_some() {
        found.push(Secret {
            key: "jwt_secret",
            grants: "it signs tokens for every channel, file and camera, to subscribe and to \
                     publish",
        });
    }
    found
}

/// Whether a Redis URL holds a password, parsed as the store parses it when it connects:
/// `redis://:PASSWORD@host`, `redis://USER:PASSWORD@host`, or `?pass=` of a `unix://` URL.
/// Asked of the spool store's config too: a password left in the file can be read there all
/// the same.
fn has_password(redis_url: &str) -> bool {
    redis_url.into_connection_info().is_ok_and(|info| {
        info.redis_settings()
            .password()
            .is_some_and(|p| !p.is_empty())
    })
}

/// Checks the secrets of `config`, read from `config_path`; `account` is the web server's
/// user, whose group the fix gives the file to.
pub fn check(
    report: &mut Report,
    config: &Config,
    config_path: Option<&Path>,
    account: Option<&Account>,
) {
    check_token(report, config, config_path);
    let Some(path) = config_path else {
        return;
    };
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    if mode & 0o004 == 0 {
        return;
    }
    // A warning, not an error: nothing fails for it, and on a host with no other users nothing
    // leaks either.
    let group = account.map_or("www-data", |a| a.group_name.as_str());
    let file = path.display();
    for secret in secrets(config) {
        report.add(
            Level::Warning,
            key_place(config_path, secret.key),
            format!(
                "{file} holds a secret and every local user can read it (mode {:04o}): {}",
                mode & 0o7777,
                secret.grants
            ),
            format!("chown root:{group} {file} && chmod 0640 {file}"),
        );
    }
}

/// Shortest publish token accepted without an error: 32 random characters of base64 carry
/// about 190 bits.
const TOKEN_MIN_CHARS: usize = 32;

fn check_token(report: &mut Report, config: &Config, config_path: Option<&Path>) {
    let Some(token) = &config.publish_token else {
        return;
    };
    let distinct = token
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if token.len() < TOKEN_MIN_CHARS || distinct < 12 {
        report.add(
            Level::Error,
            key_place(config_path, "publish_token"),
            format!(
                "the token is weak ({} characters, {distinct} different): a publisher's token \
                 is tried over HTTP as often as an attacker likes",
                token.len()
            ),
            format!("use {TOKEN_MIN_CHARS} or more random characters: openssl rand -base64 33"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "Vq3xP0kZr8Lw2mYb7TnC4hJd9sFg6aEu1";

    #[test]
    fn short_or_repetitive_tokens_are_weak() {
        for (token, weak) in [
            ("0123456789abcdef", true),
            (&"ab".repeat(20), true),
            (TOKEN, false),
        ] {
            let config = Config {
                publish_token: Some(token.to_owned()),
                ..Config::default()
            };
            let mut report = Report::default();
            check(&mut report, &config, None, None);
            assert_eq!(report.count(Level::Error) == 1, weak, "{token}");
        }
    }

    #[test]
    fn passwords_in_redis_urls() {
        for (url, password) in [
            ("redis://127.0.0.1:6379/0", false),
            ("redis://:s3cret@127.0.0.1:6379/0", true),
            ("redis://app:s3cret@redis.internal/2", true),
            ("redis://app@redis.internal/2", false),
            ("redis://app:@redis.internal/2", false),
            ("unix:///run/redis/redis.sock", false),
            ("unix:///run/redis/redis.sock?db=1&pass=s3cret", true),
            ("redis+unix:///run/redis/redis.sock?pass=s3cret", true),
        ] {
            assert_eq!(has_password(url), password, "{url}");
        }
    }

    #[test]
    fn every_secret_is_named_and_nothing_else() {
        assert_eq!(secrets(&Config::default()), []);
        let config = Config {
            publish_token: Some(TOKEN.to_owned()),
            jwt_secret: Some("k".repeat(32)),
            jwt_public_key: Some("/etc/serverpush/jwt.pem".into()),
            redis_url: "redis://:s3cret@127.0.0.1/0".to_owned(),
            ..Config::default()
        };
        let keys: Vec<&str> = secrets(&config).iter().map(|s| s.key).collect();
        assert_eq!(keys, ["redis_url", "publish_token", "jwt_secret"]);
    }

    #[test]
    fn a_file_others_can_read_is_flagged_for_each_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serverpush.toml");
        std::fs::write(&path, "").unwrap();
        let config = Config {
            jwt_secret: Some("k".repeat(32)),
            redis_url: "redis://app:s3cret@127.0.0.1/0".to_owned(),
            ..Config::default()
        };
        let findings = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let mut report = Report::default();
            check(&mut report, &config, Some(&path), None);
            report
                .findings
                .iter()
                .map(|f| (f.level, f.place.clone(), f.fix.clone()))
                .collect::<Vec<_>>()
        };
        let file = path.display();
        let fix = format!("chown root:www-data {file} && chmod 0640 {file}");
        assert_eq!(
            findings(0o644),
            [
                (Level::Warning, format!("{file} key redis_url"), fix.clone()),
                (Level::Warning, format!("{file} key jwt_secret"), fix),
            ]
        );
        assert_eq!(findings(0o640), []);
        assert_eq!(findings(0o600), []);
    }
}
