//! The `serverpush` operator command, one module per subcommand: `check` against planted
//! misconfigurations, `probe` against real servers that stream and servers that buffer,
//! `channels`/`tail`/`publish` on a private spool and a private Redis.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::bin;

mod channels;
mod check;
mod presence;
mod probe;

/// Runs `serverpush ARGS`; the output.
fn serverpush(args: &[&str]) -> Output {
    Command::new(bin("serverpush")).args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const STRONG_TOKEN: &str = "Vq3xP0kZr8Lw2mYb7TnC4hJd9sFg6aEu1";

fn chmod(path: &Path, mode: &str) {
    assert!(
        Command::new("chmod")
            .arg(mode)
            .arg(path)
            .status()
            .unwrap()
            .success()
    );
}

/// Asserts `bytes` hold no control character but line breaks: nothing a terminal would obey.
fn no_control_characters(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(
        raw.is_empty(),
        "{what} printed {raw:?} as they came:\n{}",
        text.escape_debug()
    );
}

#[test]
fn every_subcommand_has_help_and_a_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = serverpush(&["man", "--dir", &dir.path().display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    for sub in [
        "publish", "camsim", "check", "probe", "channels", "tail", "presence", "metrics",
    ] {
        let help = serverpush(&[sub, "--help"]);
        assert!(help.status.success(), "{}", text(&help));
        assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: serverpush"));
        let page = std::fs::read_to_string(dir.path().join(format!("serverpush-{sub}.1"))).unwrap();
        assert!(
            page.contains(".TH serverpush-") && page.contains(".SH OPTIONS"),
            "{page}"
        );
    }
}
