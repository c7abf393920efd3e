//! The *config* is one TOML file shared by every program, whose path the web server passes in
//! `SERVERPUSH_CONFIG` (`SetEnv` in Apache, `setenv.add-environment` in lighttpd,
//! `fastcgi_param` in nginx), or which the programs find themselves ([`search`]: beside them, or
//! in their user's home, as on a shared host whose suEXEC passes no such variable).
//!
//! Every key has a default, so no file at all is a valid setup. Unknown keys and out-of-range
//! values are errors that name the file and the key: a typo must not silently fall back to a
//! default. Relative paths in a file (`spool_dir = "spool"`) are relative to the file's
//! directory, so an account's config can name its home's directories without knowing where
//! the home is.

pub mod search;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::name::{NAME_RULE, is_callback, is_name, is_pattern};

/// The settings every program reads.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seconds between heartbeats on an otherwise silent stream. Keep it below the server's CGI
    /// timeout (Apache `Timeout`/`CGIDScriptTimeout`, lighttpd `cgi.limits` `read-timeout`):
    /// a silent stream is cut by the server, and a departed client is noticed only on a write.
    pub heartbeat_secs: u64,
    /// Seconds after which a stream ends normally so the client reconnects and frees what it
    /// has accumulated.
    pub max_lifetime_secs: u64,
    /// Spaces sent before the first unit of the chunked transport.
    pub chunked_padding_bytes: usize,
    /// Padding of the iframe transport (at least 1 KiB is always sent).
    pub iframe_padding_bytes: usize,
    /// The `retry:` delay sent to SSE clients, in milliseconds.
    pub sse_retry_ms: u32,
    /// The parent-page functions an iframe stream may call. A request names one of these, never
    /// any function: `callback=eval` would run the pushed text as script in the server's origin.
    pub iframe_callbacks: Vec<String>,
    /// Camera names and the image files their cameras write (`[cameras]`).
    pub cameras: BTreeMap<String, PathBuf>,
    /// User-agent substrings that get one snapshot instead of a stream (browsers that cannot
    /// show `multipart/x-mixed-replace`).
    pub still_image_user_agents: Vec<String>,
    /// Seconds after which a webcam stream re-sends its last frame when nothing new came: its
    /// heartbeat, which comes after `heartbeat_secs` if that is shorter.
    pub keepalive_secs: u64,
    /// Seconds a webcam stream waits for a first complete frame before answering 503.
    pub first_frame_wait_secs: u64,
    /// The widths a viewer may ask a camera to be scaled to (`?width=`). Each width and
    /// quality is a variant encoded once per frame for all its viewers; the list bounds them.
    pub webcam_widths: Vec<u32>,
    /// The JPEG qualities a viewer may ask for (`?quality=`).
    pub webcam_qualities: Vec<u8>,
    /// Where re-encoded frames are shared between viewers (`{uid}` is the programs' user id),
    /// best on a tmpfs.
    pub frame_cache_dir: String,
    /// Where channels are kept: the spool directory of this host, or a Redis server that
    /// several hosts share.
    pub store: StoreKind,
    /// The directory of the spool store, writable by the server's CGI user.
    pub spool_dir: PathBuf,
    /// The Redis store's server: `redis://[:password@]host:port/db` or
    /// `unix:///path/redis.sock`.
    pub redis_url: String,
    /// Prepended to every Redis key, so sites can share a server.
    pub redis_key_prefix: String,
    /// The longest a connection to Redis may take, in milliseconds.
    pub redis_connect_timeout_ms: u64,
    /// The longest a Redis command may take, in milliseconds (a blocking wait adds its own
    /// time).
    pub redis_command_timeout_ms: u64,
    /// Seconds a publish's `Idempotency-Key` is remembered, so a retry returns the first id.
    pub idempotency_secs: u64,
    /// How many streams and waiting long-polls this host serves at once, across all the
    /// programs; the next one gets 503 with `Retry-After`. One-shot answers are never counted.
    /// Keep it below the server's worker limit (Apache `MaxRequestWorkers`) by what the site
    /// needs for everything else. 0 refuses every stream.
    pub max_streams: usize,
    /// Where the stream slots are kept (`{uid}` is the program's user id): a directory of this
    /// host shared by the programs of every site that should share the cap. Empty (the
    /// default) is `+streams` in `spool_dir` (a name no channel can have), which only the
    /// programs' user can make: a
    /// directory in a place every user can write (`/dev/shm`, `/tmp`) can be made first by
    /// someone else, and the cap is then off.
    pub streams_dir: String,
    /// A bearer token that authorizes publishing (`Authorization: Bearer …`).
    pub publish_token: Option<String>,
    /// Channels that need a right to subscribe (exact names, or prefixes ending in `*`); the
    /// others are public.
    pub private_channels: Vec<String>,
    /// Watched files (`[files]` names) that need a right, as patterns.
    pub private_files: Vec<String>,
    /// Cameras (`[cameras]` names) that need a right, as patterns.
    pub private_cameras: Vec<String>,
    /// What a user the web server authenticated (`REMOTE_USER`) may subscribe and publish to:
    /// patterns with `{user}` (`"user.{user}"`, `"camera:{user}"`).
    pub remote_user_channels: Vec<String>,
    /// The HS256 secret of subscriber and publisher tokens (JWT), at least 32 bytes.
    pub jwt_secret: Option<String>,
    /// A PEM public key (RSA for RS256, EC P-256 for ES256) for tokens.
    pub jwt_public_key: Option<PathBuf>,
    /// Seconds of clock difference allowed on a token's `exp` and `nbf`.
    pub jwt_leeway_secs: u64,
    /// Origins (`https://example.com`) a browser may publish from on its own credentials (a
    /// cookie token, basic auth); empty means the request's own host only.
    pub allowed_origins: Vec<String>,
    /// Channels anyone may publish to (a public chat).
    pub open_channels: Vec<String>,
    /// The largest message body accepted; larger ones get 413.
    pub max_message_bytes: u64,
    /// Messages kept per channel.
    pub retention_messages: u64,
    /// Seconds a message is kept.
    pub retention_secs: u64,
    /// The longest a long-poll waits before answering with no messages. Keep it below the
    /// server's CGI timeout.
    pub longpoll_timeout_secs: u64,
    /// Channels one subscribe request may name at most.
    pub max_subscribe_channels: usize,
    /// The most one long-poll answer (or one round of a stream) carries, in bytes as JSON
    /// encodes the messages; the rest follows from the cursor in the next answer. It bounds a
    /// program's memory whatever the channels hold.
    pub max_answer_bytes: usize,
    /// Names of files other programs write, for watched-file long-polls (`[files]`).
    pub files: BTreeMap<String, PathBuf>,
    /// True when the Mercure hub serves subscribers without a token (public updates only).
    pub mercure_anonymous: bool,
    /// True when the Mercure hub publishes its subscriptions (private updates on
    /// `/.well-known/mercure/subscriptions/{topic}/{subscriber}`) and answers its
    /// subscriptions API, as the protocol's active-subscriptions feature says.
    pub mercure_subscriptions: bool,
    /// Origins (`https://app.example.com`) whose pages may use the Mercure hub from another
    /// origin, with credentials; `*` lets any other page subscribe, without them.
    pub cors_origins: Vec<String>,
    /// A bearer token that lets a scraper read the host's metrics (`nph-longpoll?metrics`).
    pub metrics_token: Option<String>,
    /// Users the web server authenticated (`REMOTE_USER`) who may read the metrics.
    pub metrics_users: Vec<String>,
    /// Count refused requests and streams turned away for the metrics: a byte per refusal
    /// beside the slots, kept until a metrics read folds it, so only where something reads them.
    pub metrics_counters: bool,
    /// Channels (names, or prefixes ending in `*`) whose streams' starts and ends are published
    /// as `join` and `leave` messages on the channel `NAME.presence`, which subscribers of the
    /// channel may follow.
    pub presence_events: Vec<String>,
    /// Hub mode: a channel stream, once started, is handed to one long-lived process of the
    /// programs' user (started by the first stream that finds none, ended after a minute
    /// without a stream), which serves every handed stream from one loop; the programs exit.
    /// Under lighttpd and nginx only (see `serverpush check`); off by default.
    pub hub: bool,
    /// Seconds a hub without a stream stays before it leaves.
    pub hub_idle_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_secs: 15,
            max_lifetime_secs: 3600,
            chunked_padding_bytes: 4000,
            iframe_padding_bytes: 1024,
            sse_retry_ms: 2000,
            iframe_callbacks: vec!["comet.printServerTime".into(), "serverpush.receive".into()],
            cameras: BTreeMap::new(),
            still_image_user_agents: vec!["MSIE ".into(), "Trident/".into()],
            keepalive_secs: 5,
            first_frame_wait_secs: 10,
            webcam_widths: vec![160, 320, 480, 640, 800, 1024, 1280],
            webcam_qualities: vec![30, 50, 70, 85, 95],
            frame_cache_dir: "/dev/shm/serverpush-{uid}-frames".into(),
            store: StoreKind::Spool,
            spool_dir: PathBuf::from("/var/spool/serverpush"),
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_key_prefix: "serverpush:".into(),
            redis_connect_timeout_ms: 1000,
            redis_command_timeout_ms: 2000,
            idempotency_secs: 600,
            max_streams: 100,
            streams_dir: String::new(),
            publish_token: None,
            private_channels: Vec::new(),
            private_files: Vec::new(),
            private_cameras: Vec::new(),
            remote_user_channels: Vec::new(),
            jwt_secret: None,
            jwt_public_key: None,
            jwt_leeway_secs: 30,
            allowed_origins: Vec::new(),
            open_channels: Vec::new(),
            max_message_bytes: 64 * 1024,
            retention_messages: 1000,
            retention_secs: 3600,
            longpoll_timeout_secs: 25,
            max_subscribe_channels: 16,
            max_answer_bytes: 1 << 20,
            files: BTreeMap::new(),
            mercure_anonymous: false,
            mercure_subscriptions: false,
            cors_origins: Vec::new(),
            metrics_token: None,
            metrics_users: Vec::new(),
            metrics_counters: false,
            presence_events: Vec::new(),
            hub: false,
            hub_idle_secs: 60,
        }
    }
}

/// Which channel store the programs use.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded spool directory (one host).
    #[default]
    Spool,
    /// Redis streams (several hosts).
    Redis,
}

/// Why the config could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The key at fault, when one is.
    pub key: Option<String>,
    /// What is wrong, on one line.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config file {}", self.path.display())?;
        if let Some(key) = &self.key {
            write!(f, ", key {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The directory of the stream slots for this process's user: `streams_dir`, or `+streams`
    /// in the spool when it is empty.
    pub fn streams_path(&self) -> PathBuf {
        self.streams_path_for(rustix::process::geteuid().as_raw())
    }

    /// The directory of the stream slots for the user `uid` (`serverpush check` asks for the
    /// web server's user).
    pub fn streams_path_for(&self, uid: u32) -> PathBuf {
        if self.streams_dir.is_empty() {
            // `+` is not allowed in a channel name: no channel can take this directory.
            self.spool_dir.join("+streams")
        } else {
            self.streams_dir.replace("{uid}", &uid.to_string()).into()
        }
    }

    /// Loads the file at `path`, or the defaults when `path` is `None` (the operator's
    /// command, which names its file or takes the system's).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            key: None,
            message: e.to_string(),
        })?;
        Config::parse_file(&text, path)
    }

    /// Loads the file at `path` as a CGI program does, when the file is one its user may trust
    /// ([`search::open_trusted`]), or the defaults when `path` is `None`.
    pub fn load_trusted(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = search::open_trusted(path)?;
        Config::parse_file(&text, path)
    }

    /// Parses the text of the file at `path`, its relative paths taken from the file's
    /// directory.
    fn parse_file(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // A relative SERVERPUSH_CONFIG is relative to the program's working folder (where the
        // server starts it): its relative paths are taken from there too.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let base = absolute.parent().unwrap_or(Path::new(""));
        Config::parse_in(text, Some(base)).map_err(|(key, message)| ConfigError {
            path: path.to_owned(),
            key,
            message,
        })
    }

    /// Parses TOML text; the error is the key (when known) and a one-line message.
    pub fn parse(text: &str) -> Result<Config, (Option<String>, String)> {
        Config::parse_in(text, None)
    }

    /// Parses TOML text whose relative paths are relative to `base` (the file's directory).
    pub fn parse_in(text: &str, base: Option<&Path>) -> Result<Config, (Option<String>, String)> {
        let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| (None, one_line(e.message().to_owned())))?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = (key != ".").then_some(key);
            (key, one_line(e.into_inner().message().to_owned()))
        })?;
        if let Some(base) = base.filter(|b| !b.as_os_str().is_empty()) {
            config.resolve_relative(base);
        }
        config
            .validate()
            .map_err(|(key, m)| (Some(key.to_owned()), m))?;
        Ok(config)
    }

    /// Makes the relative paths absolute from `base`. A template path (`frame_cache_dir`,
    /// `streams_dir`) stays as it is when `base` is not UTF-8, and validation then names it.
    fn resolve_relative(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() && !path.as_os_str().is_empty() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.spool_dir);
        if let Some(key) = &mut self.jwt_public_key {
            resolve(key);
        }
        self.cameras.values_mut().for_each(resolve);
        self.files.values_mut().for_each(resolve);
        for template in [&mut self.frame_cache_dir, &mut self.streams_dir] {
            if !template.is_empty()
                && !template.starts_with('/')
                && let Some(base) = base.to_str()
            {
                *template = format!("{}/{template}", base.trim_end_matches('/'));
            }
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=300).contains(&self.heartbeat_secs) {
            return Err(("heartbeat_secs", "must be from 1 to 300".into()));
        }
        if !(1..=30 * 24 * 3600).contains(&self.max_lifetime_secs) {
            return Err(("max_lifetime_secs", "must be from 1 to 2592000".into()));
        }
        if !(1..=86400).contains(&self.hub_idle_secs) {
            return Err(("hub_idle_secs", "must be from 1 to 86400".into()));
        }
        if self.chunked_padding_bytes > 65536 {
            return Err(("chunked_padding_bytes", "must be at most 65536".into()));
        }
        if self.iframe_padding_bytes > 65536 {
            return Err(("iframe_padding_bytes", "must be at most 65536".into()));
        }
        if !(1..=300).contains(&self.keepalive_secs) {
            return Err(("keepalive_secs", "must be from 1 to 300".into()));
        }
        if self.first_frame_wait_secs > 50 {
            return Err(("first_frame_wait_secs", "must be at most 50".into()));
        }
        if let Some(bad) = self.iframe_callbacks.iter().find(|c| !is_callback(c)) {
            return Err((
                "iframe_callbacks",
                format!("{bad:?} is not a dotted JavaScript identifier"),
            ));
        }
        if !(1..=16 << 20).contains(&self.max_message_bytes) {
            return Err(("max_message_bytes", "must be from 1 to 16777216".into()));
        }
        if self.retention_messages == 0 {
            return Err(("retention_messages", "must be at least 1".into()));
        }
        if !(1..=3600).contains(&self.longpoll_timeout_secs) {
            return Err(("longpoll_timeout_secs", "must be from 1 to 3600".into()));
        }
        if !(4096..=64 << 20).contains(&self.max_answer_bytes) {
            return Err(("max_answer_bytes", "must be from 4096 to 67108864".into()));
        }
        if !(1..=1000).contains(&self.max_subscribe_channels) {
            return Err(("max_subscribe_channels", "must be from 1 to 1000".into()));
        }
        if self
            .publish_token
            .as_deref()
            .is_some_and(|t| t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err((
                "publish_token",
                "must be at least 16 visible ASCII characters".into(),
            ));
        }
        if self
            .metrics_token
            .as_deref()
            .is_some_and(|t| t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err((
                "metrics_token",
                "must be at least 16 visible ASCII characters".into(),
            ));
        }
        if self.jwt_secret.as_deref().is_some_and(|s| s.len() < 32) {
            return Err(("jwt_secret", "must be at least 32 bytes".into()));
        }
        if self.jwt_leeway_secs > 300 {
            return Err(("jwt_leeway_secs", "must be at most 300".into()));
        }
        for (key, list) in [
            ("private_channels", &self.private_channels),
            ("private_files", &self.private_files),
            ("private_cameras", &self.private_cameras),
            ("presence_events", &self.presence_events),
        ] {
            if let Some(bad) = list.iter().find(|p| p.contains(':') || !is_pattern(p)) {
                return Err((
                    key,
                    format!("{bad:?} is not a name or a prefix ending in *"),
                ));
            }
        }
        if let Some(bad) = self
            .remote_user_channels
            .iter()
            .find(|p| !is_pattern(&p.replace("{user}", "u")))
        {
            return Err((
                "remote_user_channels",
                format!("{bad:?} is not a pattern (a name with {{user}}, or a prefix ending in *)"),
            ));
        }
        let not_an_origin = |o: &&String| {
            let Some((scheme, host)) = o.split_once("://") else {
                return true;
            };
            !matches!(scheme, "http" | "https")
                || host.is_empty()
                || !host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        };
        if let Some(bad) = self.allowed_origins.iter().find(not_an_origin) {
            return Err((
                "allowed_origins",
                format!("{bad:?} is not an origin like https://example.com"),
            ));
        }
        if let Some(bad) = self
            .cors_origins
            .iter()
            .filter(|o| *o != "*")
            .find(not_an_origin)
        {
            return Err((
                "cors_origins",
                format!("{bad:?} is not an origin like https://example.com, or *"),
            ));
        }
        if let Some(name) = self.open_channels.iter().find(|n| !is_name(n)) {
            return Err(("open_channels", format!("channel {name:?}: {NAME_RULE}")));
        }
        if self.store == StoreKind::Redis {
            // Checked here so a bad URL is a config error naming the key; the URL itself is
            // never echoed, since it may hold a password.
            use redis::IntoConnectionInfo;
            let scheme = self.redis_url.split("://").next().unwrap_or_default();
            if !matches!(scheme, "redis" | "unix" | "redis+unix")
                || self.redis_url.as_str().into_connection_info().is_err()
            {
                return Err((
                    "redis_url",
                    "must be redis://[:password@]host:port/db or unix:///path/redis.sock".into(),
                ));
            }
        }
        if !(1..=60_000).contains(&self.redis_connect_timeout_ms) {
            return Err(("redis_connect_timeout_ms", "must be from 1 to 60000".into()));
        }
        if !(1..=60_000).contains(&self.redis_command_timeout_ms) {
            return Err(("redis_command_timeout_ms", "must be from 1 to 60000".into()));
        }
        if self.redis_key_prefix.len() > 64
            || !self.redis_key_prefix.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err((
                "redis_key_prefix",
                "must be at most 64 visible ASCII characters".into(),
            ));
        }
        if self.max_streams > 1_000_000 {
            return Err(("max_streams", "must be at most 1000000".into()));
        }
        if self.webcam_widths.iter().any(|w| !(16..=4096).contains(w)) {
            return Err(("webcam_widths", "each must be from 16 to 4096".into()));
        }
        if self.webcam_qualities.iter().any(|q| !(1..=100).contains(q)) {
            return Err(("webcam_qualities", "each must be from 1 to 100".into()));
        }
        if self.webcam_widths.len() * self.webcam_qualities.len().max(1) > 64 {
            return Err((
                "webcam_widths",
                "at most 64 width and quality variants in all".into(),
            ));
        }
        if !self.frame_cache_dir.starts_with('/') {
            return Err((
                "frame_cache_dir",
                "must be an absolute path, or relative to the config file".into(),
            ));
        }
        if !self.streams_dir.is_empty() && !self.streams_dir.starts_with('/') {
            return Err((
                "streams_dir",
                "must be an absolute path, relative to the config file, or empty".into(),
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.idempotency_secs) {
            return Err(("idempotency_secs", "must be from 1 to 604800".into()));
        }
        if let Some(name) = self.files.keys().find(|n| !is_name(n)) {
            return Err(("files", format!("file {name:?}: {NAME_RULE}")));
        }
        if let Some(name) = self.cameras.keys().find(|n| !is_name(n)) {
            return Err(("cameras", format!("camera {name:?}: {NAME_RULE}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example lists every key with its default.
    #[test]
    fn the_example_file_is_the_defaults() {
        let text = include_str!("../apache-conf/serverpush.toml");
        assert_eq!(Config::parse(text), Ok(Config::default()));
    }

    /// The hosting archive's config: relative to its folder (the account's home), and valid.
    #[test]
    fn the_hosting_example_is_relative_to_its_folder() {
        let text = include_str!("../hosting/serverpush.toml");
        let config = Config::parse_in(text, Some(Path::new("/home/a"))).unwrap();
        assert_eq!(config.spool_dir, Path::new("/home/a/serverpush-spool"));
        assert_eq!(
            config.cameras["default"],
            Path::new("/home/a/camera/cam.jpg")
        );
        assert_eq!(config.open_channels, ["chat"]);
        assert_eq!(config.max_streams, 20);
    }

    #[test]
    fn relative_paths_are_taken_from_the_files_folder() {
        let text = "spool_dir = \"spool\"\nstreams_dir = \"slots/{uid}\"\n\
                    frame_cache_dir = \"frames\"\njwt_public_key = \"keys/k.pem\"\n\
                    [files]\nstatus = \"status.json\"\n[cameras]\ncam = \"/srv/cam.jpg\"\n";
        let config = Config::parse_in(text, Some(Path::new("/home/a/"))).unwrap();
        assert_eq!(config.spool_dir, Path::new("/home/a/spool"));
        assert_eq!(config.streams_dir, "/home/a/slots/{uid}");
        assert_eq!(config.frame_cache_dir, "/home/a/frames");
        assert_eq!(
            config.jwt_public_key.as_deref(),
            Some(Path::new("/home/a/keys/k.pem"))
        );
        assert_eq!(config.files["status"], Path::new("/home/a/status.json"));
        assert_eq!(
            config.cameras["cam"],
            Path::new("/srv/cam.jpg"),
            "absolute stays"
        );
        // Without a file (text alone), a relative template path is an error naming the key.
        assert_eq!(
            Config::parse(text).unwrap_err().0.as_deref(),
            Some("frame_cache_dir")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serverpush.toml");
        std::fs::write(&path, "spool_dir = \"spool\"\n").unwrap();
        let loaded = Config::load_trusted(Some(&path)).unwrap();
        assert_eq!(loaded.spool_dir, dir.path().join("spool"));
        assert_eq!(
            Config::load(Some(&path)).unwrap(),
            loaded,
            "the command reads it alike"
        );
    }

    #[test]
    fn empty_is_defaults() {
        assert_eq!(Config::parse(""), Ok(Config::default()));
    }

    #[test]
    fn values() {
        let c = Config::parse("heartbeat_secs = 2\nmax_lifetime_secs = 10\n");
        assert!(c.is_ok_and(|c| c.heartbeat_secs == 2 && c.max_lifetime_secs == 10));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("heartbeat_secs = \"x\"", Some("heartbeat_secs")),
            ("heartbeat_secs = 0", Some("heartbeat_secs")),
            ("heartbeat_secs = -3", Some("heartbeat_secs")),
            ("hearbeat_secs = 3", Some("hearbeat_secs")),
            ("heartbeat_secs = ", None),
        ] {
            let err = Config::parse(text).err();
            assert!(err.is_some(), "{text}");
            let (got, message) = err.unwrap();
            assert_eq!(got.as_deref(), key, "{text}: {message}");
            assert!(!message.contains('\n'));
        }
        // An unknown key is named in the message.
        let err = Config::parse("hearbeat_secs = 3").err().unwrap();
        assert!(err.1.contains("hearbeat_secs"), "{}", err.1);
    }

    #[test]
    fn cameras() {
        let c = Config::parse("[cameras]\ndefault = \"/var/lib/serverpush/cam.jpg\"\n");
        assert!(c.is_ok_and(|c| {
            c.cameras
                .get("default")
                .is_some_and(|p| p.ends_with("cam.jpg"))
        }));
        let bad = Config::parse("[cameras]\n\"a/b\" = \"/x\"\n").err();
        assert_eq!(bad.and_then(|e| e.0), Some("cameras".to_owned()));
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = Config::load(Some(Path::new("/nonexistent/serverpush.toml"))).err();
        assert!(err.is_some_and(|e| e.to_string().contains("/nonexistent/serverpush.toml")));
    }
}
