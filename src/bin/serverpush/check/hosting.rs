//! What a hosting account's setup needs: a config file the programs will trust, streams that fit
//! under the account's process cap, and whether suEXEC runs the programs (which then get no
//! `SERVERPUSH_CONFIG` and look for their file themselves).

use std::path::Path;

use serverpush::config::Config;
use serverpush::config::search::{self, SYSTEM_PATH};

use super::{Level, Report, access::Account};

/// Where suEXEC's helper is installed: Debian's, then the usual places of other builds.
const SUEXEC_PATHS: &[&str] = &[
    "/usr/lib/apache2/suexec",
    "/usr/sbin/suexec",
    "/usr/local/apache2/bin/suexec",
];

/// Processes an account runs beside its streams (a shell, the publishes, one-shot requests):
/// what `max_streams` should leave free under the process cap.
const HEADROOM: u64 = 5;

/// Checks the config file's trust for `account`, the process cap when the check runs as that
/// account, and reports suEXEC.
pub fn check(
    report: &mut Report,
    config: Option<&Config>,
    config_path: Option<&Path>,
    account: &Account,
) {
    if let Some(path) = config_path
        && let Some(why) = search::refusal(path, account.uid())
    {
        report.add(
            Level::Error,
            path.display().to_string(),
            format!(
                "the programs, running as {}, refuse this file: it {why}",
                account.name
            ),
            format!(
                "make it {}'s (or root's) and writable by its owner alone: chmod 600 it, in a \
                 folder only its owner can change",
                account.name
            ),
        );
    }
    let user = rustix::process::geteuid().as_raw();
    if user != 0 && user == account.uid() {
        let max_streams = config.map_or(Config::default().max_streams, |c| c.max_streams);
        check_process_cap(report, max_streams, process_cap());
    }
    if let Some(suexec) = SUEXEC_PATHS.iter().map(Path::new).find(|p| is_setuid(p)) {
        let found = config_path.map_or_else(
            || "none: the built-in defaults".to_owned(),
            |p| p.display().to_string(),
        );
        report.add(
            Level::Note,
            suexec.display().to_string(),
            format!(
                "suEXEC is installed: where Apache runs the programs through it (an account's \
                 public_html, a SuexecUserGroup site), they run as the account and are not \
                 given SERVERPUSH_CONFIG; they read serverpush.toml beside them in cgi-bin/, \
                 else the one in the account's home, else {SYSTEM_PATH} (this check read: \
                 {found})"
            ),
            "keep the config in one of those places, writable by the account alone",
        );
    }
}

/// The soft limit on this user's processes (`ulimit -u`), `None` when there is none.
fn process_cap() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nproc).current
}

fn check_process_cap(report: &mut Report, max_streams: usize, cap: Option<u64>) {
    let Some(cap) = cap else { return };
    let streams = u64::try_from(max_streams).unwrap_or(u64::MAX);
    let fits = cap.saturating_sub(HEADROOM);
    let (level, problem) = if streams > fits {
        (
            Level::Error,
            format!(
                "max_streams is {streams}, but this account may run {cap} processes at once \
                 (ulimit -u; Apache's RLimitNPROC may set another cap for CGI programs), and \
                 each open stream is one: the last streams would fail to start instead of \
                 getting 503 with Retry-After"
            ),
        )
    } else {
        (
            Level::Note,
            format!(
                "this account may run {cap} processes at once (ulimit -u); max_streams \
                 {streams} leaves {} for everything else",
                cap - streams
            ),
        )
    };
    report.add(
        level,
        "max_streams",
        problem,
        format!("keep max_streams at most {fits}, the cap less what the site's other scripts need"),
    );
}

fn is_setuid(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o4000 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(report: &Report) -> Vec<Level> {
        report.findings.iter().map(|f| f.level).collect()
    }

    #[test]
    fn streams_over_the_process_cap_are_an_error() {
        let mut report = Report::default();
        check_process_cap(&mut report, 30, Some(30));
        assert_eq!(levels(&report), [Level::Error]);
        assert!(
            report.findings[0].fix.contains("at most 25"),
            "{:?}",
            report.findings
        );
        let mut report = Report::default();
        check_process_cap(&mut report, 20, Some(64));
        assert_eq!(levels(&report), [Level::Note]);
        let mut report = Report::default();
        check_process_cap(&mut report, 20, None);
        assert!(report.findings.is_empty());
    }
}
