//! `serverpush check`: the config and everything it points at, as the web server's user meets
//! it, and the web servers' configuration around the programs. Each *finding* names a place (a
//! file and line, or a config key) and says how to fix it; errors make the exit status 1.
//!
//! Access is judged from owners and mode bits, for the user and its groups, along the whole
//! path: what the kernel checks, short of ACLs and read-only mounts.

mod access;
mod apache;
mod fcgiwrap;
mod hosting;
mod hub;
mod lighttpd;
mod nginx;
mod secrets;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serverpush::config::{Config, StoreKind};

use crate::cli::CheckArgs;
use access::{Access, Account};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something will not work: the exit status is 1.
    Error,
    /// Worth a look; the exit status stays 0.
    Warning,
    /// What the check found out about the host, for the reader to know.
    Note,
}

/// One thing found wrong.
#[derive(Debug)]
pub struct Finding {
    level: Level,
    /// A file and line, or a config key.
    place: String,
    problem: String,
    fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        };
        write!(
            f,
            "{level}: {}: {}\n  fix: {}",
            self.place, self.problem, self.fix
        )
    }
}

/// The findings so far.
#[derive(Debug, Default)]
pub struct Report {
    findings: Vec<Finding>,
}

impl Report {
    /// Records a finding.
    pub fn add(
        &mut self,
        level: Level,
        place: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.push(Finding {
            level,
            place: place.into(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

/// Checks everything and prints the findings.
pub fn run(args: &CheckArgs) -> Result<ExitCode> {
    let mut report = Report::default();
    let config_path = args.store.config_path();
    let user = args.user();
    let account = match Account::lookup(&user) {
        Ok(account) => Some(account),
        Err(e) => {
            report.add(
                Level::Error,
                "--user",
                e,
                "name the user the web server runs CGI programs as (Debian: www-data)",
            );
            None
        }
    };
    let config = check_config(&mut report, config_path.as_deref(), account.as_ref());
    if let (Some(config), Some(account)) = (&config, &account) {
        check_paths(&mut report, config, account, config_path.as_deref());
    }
    if let Some(account) = &account {
        hosting::check(
            &mut report,
            config.as_ref(),
            config_path.as_deref(),
            account,
        );
    }
    if let Some(config) = &config {
        hub::check(&mut report, config, config_path.as_deref(), args);
        secrets::check(
            &mut report,
            config,
            config_path.as_deref(),
            account.as_ref(),
        );
    }
    // Every stream the programs admit may be held at once.
    let clients = args.clients.unwrap_or_else(|| {
        config
            .as_ref()
            .map_or(100, |c| u64::try_from(c.max_streams).unwrap_or(u64::MAX))
    });
    check_inotify(&mut report, Path::new("/proc/sys/fs/inotify"), clients);
    // Run by the programs' own user, not root: a hosting account checking its own setup over
    // SSH. The host's server configuration is not the account's to read or change.
    let euid = rustix::process::geteuid().as_raw();
    let own_account = euid != 0 && account.as_ref().is_some_and(|a| a.uid() == euid);
    if own_account {
        report.add(
            Level::Note,
            "web servers",
            "run as the programs' own user, so the web servers' configuration is not checked \
             (a hosting account's server is the host's)",
            "an admin checks it with `serverpush check` as root",
        );
    }
    let servers = !own_account;
    if servers && args.apache_dir.is_dir() {
        apache::check(&mut report, args, config_path.as_deref(), clients);
    }
    if servers && args.lighttpd_dir.is_dir() {
        lighttpd::check(&mut report, args, config_path.as_deref());
    }
    if servers && args.nginx_conf.is_file() {
        let expected = nginx::Expected {
            config: config_path.as_deref(),
            heartbeat_secs: config
                .as_ref()
                .map_or(Config::default().heartbeat_secs, |c| c.heartbeat_secs),
            clients,
        };
        nginx::check(&mut report, args, &expected);
    }

    for finding in &report.findings {
        println!("{finding}");
    }
    let errors = report.count(Level::Error);
    let warnings = report.count(Level::Warning);
    let config_name = config_path.map_or_else(
        || "the built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    println!(
        "serverpush check: {config_name}: {errors} error(s), {warnings} warning(s) for \
         {clients} streams as {user}"
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_config(
    report: &mut Report,
    path: Option<&Path>,
    account: Option<&Account>,
) -> Option<Config> {
    if let (Some(path), Some(account)) = (path, account)
        && let Err(why) = account.may(path, Access::READ)
    {
        report.add(
            Level::Error,
            path.display().to_string(),
            format!("the programs cannot read their config: {why}"),
            format!(
                "chgrp {} {} && chmod 0640 {}",
                account.group_name,
                path.display(),
                path.display()
            ),
        );
    }
    match Config::load(path) {
        Ok(config) => Some(config),
        Err(e) => {
            let place = match &e.key {
                Some(key) => format!("{} key {key}", e.path.display()),
                None => e.path.display().to_string(),
            };
            report.add(
                Level::Error,
                place,
                e.message,
                "correct it: `man serverpush` points to the example config, which lists every \
                 key with its default and range",
            );
            None
        }
    }
}

fn key_place(config_path: Option<&Path>, key: &str) -> String {
    match config_path {
        Some(p) => format!("{} key {key}", p.display()),
        None => format!("key {key} (built-in default)"),
    }
}

fn check_paths(
    report: &mut Report,
    config: &Config,
    account: &Account,
    config_path: Option<&Path>,
) {
    if config.store == StoreKind::Spool {
        check_spool(report, &config.spool_dir, account, config_path);
    }
    check_slots(report, config, account, config_path);
    let watched = config
        .cameras
        .iter()
        .map(|(n, p)| ("cameras", n, p))
        .chain(config.files.iter().map(|(n, p)| ("files", n, p)));
    for (table, name, path) in watched {
        let place = key_place(config_path, &format!("{table}.{name}"));
        // The programs watch the directory (a camera renames new frames into place) and read
        // the file.
        let dir = path.parent().unwrap_or(Path::new("/"));
        if let Err(why) = account.may(dir, Access::READ_SEARCH) {
            report.add(
                Level::Error,
                place.clone(),
                format!("{} cannot be watched: {why}", dir.display()),
                format!(
                    "chmod o+rx {} (or give its group to {})",
                    dir.display(),
                    account.name
                ),
            );
        } else if !path.exists() {
            report.add(
                Level::Warning,
                place,
                format!("{} does not exist yet: viewers get 503", path.display()),
                "start the camera or the program that writes it",
            );
        } else if let Err(why) = account.may(path, Access::READ) {
            report.add(
                Level::Error,
                place,
                format!("{} cannot be read: {why}", path.display()),
                format!(
                    "chmod o+r {} (have the writer create it so)",
                    path.display()
                ),
            );
        }
    }
}

/// The streams cap holds only where the slots' directory is the programs' own: the programs
/// refuse another user's directory (or a symlink) and then serve uncapped, with a log line.
fn check_slots(
    report: &mut Report,
    config: &Config,
    account: &Account,
    config_path: Option<&Path>,
) {
    use std::os::unix::fs::MetadataExt;
    let place = key_place(config_path, "streams_dir");
    let dir = config.streams_path_for(account.uid());
    let off = "max_streams is NOT enforced";
    let fix = format!(
        "remove it and leave streams_dir empty (the slots then live in the spool, which only {} \
         can make)",
        account.name
    );
    match std::fs::symlink_metadata(&dir) {
        Ok(meta) if !meta.is_dir() => report.add(
            Level::Error,
            place,
            format!("{off}: {} is not a directory", dir.display()),
            fix,
        ),
        Ok(meta) if meta.uid() != account.uid() => report.add(
            Level::Error,
            place,
            format!(
                "{off}: {} belongs to uid {}, not to {}, so the programs refuse it",
                dir.display(),
                meta.uid(),
                account.name
            ),
            fix,
        ),
        Ok(_) => {}
        Err(_) => {
            let parent = dir.parent().unwrap_or(Path::new("/"));
            if let Err(why) = account.may(parent, Access::WRITE_SEARCH) {
                report.add(
                    Level::Error,
                    place.clone(),
                    format!("{off}: {} cannot be made: {why}", dir.display()),
                    format!("install -d -o {} -m 0700 {}", account.name, dir.display()),
                );
            }
        }
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    if std::fs::metadata(parent).is_ok_and(|m| m.mode() & 0o002 != 0) {
        report.add(
            Level::Warning,
            key_place(config_path, "streams_dir"),
            format!(
                "{} is in {}, where every local user may write: one can make it first and turn \
                 max_streams off",
                dir.display(),
                parent.display()
            ),
            "leave streams_dir empty (the slots then live in the spool)",
        );
    }
}

fn check_spool(report: &mut Report, spool: &Path, account: &Account, config_path: Option<&Path>) {
    let place = key_place(config_path, "spool_dir");
    let fix = format!(
        "install -d -o {} -g {} -m 0750 {} (a Debian package install does this)",
        account.name,
        account.group_name,
        spool.display()
    );
    if !spool.is_dir() {
        let parent = spool.parent().unwrap_or(Path::new("/"));
        if let Err(why) = account.may(parent, Access::WRITE_SEARCH) {
            report.add(
                Level::Error,
                place,
                format!(
                    "{} does not exist, and it cannot be created: {why}",
                    spool.display()
                ),
                fix,
            );
        }
        return;
    }
    if let Err(why) = account.may(spool, Access::WRITE_SEARCH) {
        report.add(Level::Error, place, format!("publishing fails: {why}"), fix);
        return;
    }
    // A channel made by another user (a publish run as root) refuses the web server's writes.
    let Ok(entries) = std::fs::read_dir(spool) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // The spool's rooms (`+waiting`, `+pending`) are no channels: nothing is published there.
        let channel = entry
            .file_name()
            .to_str()
            .is_some_and(|n| serverpush::name::Channel::parse(n).is_ok());
        if channel
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && let Err(why) = account.may(&path, Access::WRITE_SEARCH)
        {
            report.add(
                Level::Error,
                path.display().to_string(),
                format!("publishing to this channel fails: {why}"),
                format!(
                    "chown -R {}:{} {} (and publish from the command line as that user: \
                     runuser -u {} -- serverpush publish …)",
                    account.name,
                    account.group_name,
                    path.display(),
                    account.name
                ),
            );
        }
    }
}

/// Every streaming viewer and waiting subscriber holds one inotify instance with one watch.
fn check_inotify(report: &mut Report, dir: &Path, clients: u64) {
    for (name, per_client) in [("max_user_instances", 1), ("max_user_watches", 1)] {
        let path = dir.join(name);
        let Some(limit) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        else {
            continue;
        };
        // Other programs of the same user hold some too.
        let needed = clients * per_client + 16;
        if limit < needed {
            report.add(
                Level::Error,
                path.display().to_string(),
                format!(
                    "{limit} is below the {needed} that {clients} streams need: the rest fall \
                     back to looking five times a second"
                ),
                format!(
                    "sysctl -w fs.inotify.{name}={} and keep it in /etc/sysctl.d/ \
                     (the Debian package sets 8192 in /usr/lib/sysctl.d/50-serverpush.conf)",
                    needed.next_power_of_two()
                ),
            );
        }
    }
}

/// A line of a server's config file, with where it came from.
#[derive(Clone, Debug)]
pub struct Line {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub number: usize,
    /// The text, trimmed, comments removed.
    pub text: String,
}

impl Line {
    /// `file:line`.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.number)
    }
}

/// The meaningful lines of `file` (blank lines and `#` comments dropped).
pub fn lines_of(file: &Path) -> Vec<Line> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let text = l.trim();
            (!text.is_empty() && !text.starts_with('#')).then(|| Line {
                file: file.to_owned(),
                number: i + 1,
                text: text.to_owned(),
            })
        })
        .collect()
}

/// The `*.conf` (or other `suffix`) files of `dir`, sorted as the servers include them.
pub fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix) && p.exists())
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_inotify_limit_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("max_user_instances"), "128\n").ok();
        std::fs::write(dir.path().join("max_user_watches"), "65536\n").ok();
        let mut report = Report::default();
        check_inotify(&mut report, dir.path(), 100);
        assert_eq!(report.count(Level::Error), 0);
        check_inotify(&mut report, dir.path(), 500);
        assert_eq!(report.count(Level::Error), 1);
        assert!(report.findings[0].place.ends_with("max_user_instances"));
    }
}
