//! The command line: every subcommand and option, defined once. `--help`, the man pages
//! (`serverpush man`) and the parser all come from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serverpush::name::Channel;

/// The default config, where the Debian package installs it.
pub const PACKAGE_CONFIG: &str = serverpush::config::search::SYSTEM_PATH;

/// Operate serverpush: publish to channels, check an installation, probe a live stream.
///
/// serverpush is a suite of CGI programs (nph-clock, nph-webcam, nph-longpoll) that push live
/// data through Apache httpd or lighttpd. This command is for the people who run it.
#[derive(Debug, Parser)]
#[command(name = "serverpush", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish a message to a channel, from the server itself (cron jobs, scripts)
    Publish(PublishArgs),
    /// Play a camera: write a moving test picture to an image file
    Camsim(CamsimArgs),
    /// Check the config and everything it points at, as the web server's user meets it
    Check(CheckArgs),
    /// Open a clock stream through the real path a browser uses and tell whether it is live
    Probe(ProbeArgs),
    /// List the channels in the store: names, first and last ids, sizes
    Channels(StoreArgs),
    /// Print a channel's messages as they are published
    Tail(TailArgs),
    /// List the streams open now (who is connected, to what, since when), or a channel's
    Presence(PresenceArgs),
    /// Print this host's figures in Prometheus's text format (for node_exporter's textfile
    /// collector or a scrape)
    Metrics(MetricsArgs),
    /// Write the man pages
    #[command(hide = true)]
    Man(ManArgs),
}

/// The config file option every store-using subcommand shares.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The serverpush config file [default: $SERVERPUSH_CONFIG, else serverpush.toml beside
    /// this command, else in its user's home, else /etc/serverpush/serverpush.toml, the first
    /// that exists, else the built-in defaults]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl CheckArgs {
    /// The programs' user: `--user`, else www-data for root, else the user running the check.
    pub fn user(&self) -> String {
        if let Some(user) = &self.user {
            return user.clone();
        }
        let uid = rustix::process::geteuid().as_raw();
        if uid == 0 {
            return "www-data".to_owned();
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        passwd
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid.to_string()).then(|| name.to_owned())
            })
            .unwrap_or_else(|| "www-data".to_owned())
    }
}

impl StoreArgs {
    /// The config file to read, `None` for the defaults.
    pub fn config_path(&self) -> Option<PathBuf> {
        use serverpush::config::search::FILE_NAME;
        if let Some(path) = &self.config {
            return Some(path.clone());
        }
        if let Some(path) = std::env::var_os("SERVERPUSH_CONFIG").filter(|v| !v.is_empty()) {
            return Some(path.into());
        }
        // The places an account's programs find theirs (config::search), as far as a command run
        // from a shell knows them: beside itself, and its user's home (from the password file,
        // as the programs take it).
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(FILE_NAME)));
        let uid = rustix::process::geteuid().as_raw();
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| serverpush::config::search::home_in(&passwd, uid))
            .map(|home| home.join(FILE_NAME));
        beside
            .into_iter()
            .chain(home)
            .chain([PathBuf::from(PACKAGE_CONFIG)])
            .find(|p| p.exists())
    }
}

/// `serverpush publish`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each id is printed on its own line. The store is the one the config \
    names (the spool directory or Redis), the same the CGI programs read."
)]
pub struct PublishArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The message's content type
    #[arg(long = "type", value_name = "TYPE", default_value = "text/plain")]
    pub content_type: String,
    /// Publish the message N times, with {n} in it replaced by 1..N
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u64,
    /// The channel: 1 to 64 of A-Z a-z 0-9 _ . -
    pub channel: Channel,
    /// The message [default: standard input]
    pub message: Option<String>,
}

/// `serverpush camsim`.
#[derive(Debug, Args)]
#[command(after_help = "It stops by itself after --frames frames or --seconds seconds.")]
pub struct CamsimArgs {
    /// The image file to write (the path a camera of the config names)
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Frames per second
    #[arg(long, default_value_t = 10.0)]
    pub fps: f64,
    /// Picture width in pixels
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Picture height in pixels
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// JPEG quality, 1 to 100
    #[arg(long, default_value_t = 80)]
    pub quality: u8,
    /// Stop after N frames
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after S seconds
    #[arg(long, value_name = "S", default_value_t = 3600.0)]
    pub seconds: f64,
    /// Rewrite the file in place, pausing MS milliseconds halfway through each frame (what some
    /// cameras do), instead of renaming a whole new file over it
    #[arg(long, value_name = "MS")]
    pub in_place_slowly: Option<u64>,
}

/// `serverpush check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Every finding names the file and line, or the key, and says how to \
    fix it. The exit status is 0 when nothing is wrong, 1 when something is."
)]
pub struct CheckArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The user the web server runs CGI programs as [default: www-data when run as root, else
    /// the user running it: a hosting account, whose programs suEXEC runs as itself]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The streams (viewers and waiting subscribers) expected at once: checked against the
    /// inotify limits, Apache's MaxRequestWorkers and fcgiwrap's workers [default: the config's max_streams]
    #[arg(long, value_name = "N")]
    pub clients: Option<u64>,
    /// Apache's configuration directory (skipped when absent)
    #[arg(long, value_name = "DIR", default_value = "/etc/apache2")]
    pub apache_dir: PathBuf,
    /// lighttpd's configuration directory (skipped when absent)
    #[arg(long, value_name = "DIR", default_value = "/etc/lighttpd")]
    pub lighttpd_dir: PathBuf,
    /// nginx's main configuration file, read through `nginx -T` (skipped when absent)
    #[arg(long, value_name = "FILE", default_value = "/etc/nginx/nginx.conf")]
    pub nginx_conf: PathBuf,
    /// Where fcgiwrap's systemd unit, its drop-ins and /etc/default/fcgiwrap are read from, for
    /// its worker count (an image's root, or the system's)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub fcgiwrap_root: PathBuf,
    /// The directory holding the CGI programs
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/usr/lib/cgi-bin/serverpush"
    )]
    pub cgi_dir: PathBuf,
}

/// `serverpush probe`.
#[derive(Debug, Args)]
#[command(
    after_help = "The exit status is 0 only when the stream is live. Needs curl, which \
    speaks HTTPS, HTTP/2 and the proxy settings of the environment as browsers do."
)]
pub struct ProbeArgs {
    /// The clock program's URL, as a browser would open it
    /// (http://HOST/serverpush/cgi-bin/nph-clock)
    pub url: String,
    /// Seconds between ticks
    #[arg(long, value_name = "SECS", default_value_t = 0.5)]
    pub interval: f64,
    /// Ticks to wait for
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub ticks: u32,
    /// Also time a long-poll round trip on this channel (publish, then see it arrive)
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// The publish token for --channel
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SERVERPUSH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The long-poll program's URL [default: the clock URL with nph-longpoll for nph-clock]
    #[arg(long, value_name = "URL")]
    pub longpoll_url: Option<String>,
    /// Speak HTTP/2 over plain HTTP too (h2c, as `curl --http2-prior-knowledge`); HTTPS
    /// negotiates HTTP/2 by itself when the server offers it
    #[arg(long)]
    pub http2: bool,
    /// Accept a certificate that does not verify (a self-signed test server)
    #[arg(long, short = 'k')]
    pub insecure: bool,
}

/// `serverpush presence`.
#[derive(Debug, Args)]
#[command(
    after_help = "Read from the stream slots: every stream and waiting long-poll writes what it \
    serves into its slot when it starts, and a slot is free again the moment its process ends, \
    however it ends. A subscriber is the user the web server authenticated (REMOTE_USER), when \
    there is one."
)]
pub struct PresenceArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only the streams serving this channel
    pub channel: Option<Channel>,
}

/// `serverpush metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The most channels given a figure of their own (a label per channel)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
}

/// `serverpush tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Start after this id (0 for everything retained) [default: only new messages]
    #[arg(long, value_name = "N")]
    pub since: Option<u64>,
    /// Print what is there and stop instead of waiting for more
    #[arg(long)]
    pub no_follow: bool,
    /// The channel to follow
    pub channel: Channel,
}

/// `serverpush man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write serverpush.1 and one page per subcommand into DIR [default: print serverpush.1]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
