//! The `serverpush` operator command: `check` against planted misconfigurations, `probe`
//! against real servers that stream and servers that buffer, and `channels`/`tail`/`publish`
//! on a private spool and a private Redis.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::fixtures::{Server, Site, run_as};
use crate::util::{bin, repo};

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

/// An installation laid out as the Debian package lays it out, in a private directory: a config,
/// a spool owned by the server's user, Apache's and lighttpd's enabled snippets.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn good() -> Layout {
        let dir = tempfile::Builder::new()
            .prefix("serverpush-check-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_owned();
        chmod(&root, "0755");
        let spool = root.join("spool");
        std::fs::create_dir(&spool).unwrap();
        let (user, _) = run_as();
        assert!(
            Command::new("chown")
                .arg(&user)
                .arg(&spool)
                .status()
                .unwrap()
                .success()
        );
        let layout = Layout { dir };
        layout.write_config(&format!("publish_token = \"{STRONG_TOKEN}\"\n"));

        // Apache: Debian's modules and the package's snippet (the source's, with its paths).
        let apache = root.join("apache2");
        for sub in ["mods-enabled", "conf-enabled", "sites-enabled"] {
            std::fs::create_dir_all(apache.join(sub)).unwrap();
        }
        std::fs::write(apache.join("apache2.conf"), "Timeout 300\n").unwrap();
        for module in [
            "mpm_event",
            "cgid",
            "deflate",
            "filter",
            "env",
            "alias",
            "rewrite",
        ] {
            for ext in ["load", "conf"] {
                let from = Path::new("/etc/apache2/mods-available").join(format!("{module}.{ext}"));
                if from.exists() {
                    std::fs::copy(
                        &from,
                        apache.join("mods-enabled").join(format!("{module}.{ext}")),
                    )
                    .unwrap();
                }
            }
        }
        let snippet = std::fs::read_to_string(repo().join("apache-conf/serverpush.conf.in"))
            .unwrap()
            .replace("@CGI_BIN@", "/usr/lib/cgi-bin/serverpush")
            .replace("@CONFIG@", &layout.config().display().to_string());
        std::fs::write(layout.apache_snippet(), snippet).unwrap();

        // lighttpd: a stock-like main file and the package's snippet.
        let lighttpd = root.join("lighttpd");
        std::fs::create_dir_all(lighttpd.join("conf-enabled")).unwrap();
        std::fs::write(
            lighttpd.join("lighttpd.conf"),
            "server.modules = ( \"mod_access\", \"mod_alias\" )\nserver.port = 80\n\
             include \"/etc/lighttpd/conf-enabled/*.conf\"\n",
        )
        .unwrap();
        let snippet = std::fs::read_to_string(repo().join("debian/lighttpd-50-serverpush.conf"))
            .unwrap()
            .replace(
                "/etc/serverpush/serverpush.toml",
                &layout.config().display().to_string(),
            );
        std::fs::write(layout.lighttpd_snippet(), snippet).unwrap();
        layout
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("serverpush.toml")
    }

    fn write_config(&self, extra: &str) {
        let spool = self.dir.path().join("spool");
        std::fs::write(
            self.config(),
            format!("{extra}spool_dir = \"{}\"\n", spool.display()),
        )
        .unwrap();
        // Readable by all: a warning for a file with a token, not an error.
        chmod(&self.config(), "0644");
    }

    fn apache_snippet(&self) -> PathBuf {
        self.dir.path().join("apache2/conf-enabled/serverpush.conf")
    }

    fn lighttpd_snippet(&self) -> PathBuf {
        self.dir
            .path()
            .join("lighttpd/conf-enabled/50-serverpush.conf")
    }

    fn edit(path: &Path, change: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(path).unwrap();
        let changed = change(text.clone());
        assert_ne!(
            text,
            changed,
            "the edit of {} changed nothing",
            path.display()
        );
        std::fs::write(path, changed).unwrap();
    }

    /// `serverpush check` on this layout.
    fn check(&self, clients: u64) -> Output {
        let (user, _) = run_as();
        let config = self.config().display().to_string();
        let apache = self.dir.path().join("apache2").display().to_string();
        let lighttpd = self.dir.path().join("lighttpd").display().to_string();
        serverpush(&[
            "check",
            "--config",
            &config,
            "--user",
            &user,
            "--clients",
            &clients.to_string(),
            "--apache-dir",
            &apache,
            "--lighttpd-dir",
            &lighttpd,
        ])
    }
}

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

/// The line number of the first line of `path` containing `needle`.
fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} in {}", path.display()))
}

/// Asserts the check failed with an error at `place` whose text holds `words`.
fn finds(output: &Output, place: &str, words: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", text(output));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("error: {place}")) && l.contains(words)),
        "no error at {place} about {words:?}:\n{}",
        text(output)
    );
    assert!(stdout.contains("  fix: "), "{}", text(output));
}

#[test]
fn check_passes_a_good_installation() {
    let layout = Layout::good();
    let output = layout.check(50);
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("0 error(s)"));
}

#[test]
fn check_finds_an_unwritable_spool() {
    let layout = Layout::good();
    let spool = layout.dir.path().join("spool");
    assert!(
        Command::new("chown")
            .arg("root")
            .arg(&spool)
            .status()
            .unwrap()
            .success()
    );
    chmod(&spool, "0755");
    finds(
        &layout.check(50),
        &format!("{} key spool_dir", layout.config().display()),
        "cannot write",
    );
}

#[test]
fn check_finds_a_missing_cgipassauth() {
    let layout = Layout::good();
    let snippet = layout.apache_snippet();
    let block = line_of(&snippet, "<Directory");
    Layout::edit(&snippet, |t| t.replace("    CGIPassAuth On\n", ""));
    finds(
        &layout.check(50),
        &format!("{}:{block}", snippet.display()),
        "CGIPassAuth",
    );
}

/// With mod_http2 enabled, a block without the rewrite to the plain names would send HTTP/2
/// requests to the nph- programs, which Apache buffers: flagged; the shipped block passes.
#[test]
fn check_finds_http2_reaching_the_nph_programs() {
    let layout = Layout::good();
    let mods = layout.dir.path().join("apache2/mods-enabled");
    std::fs::write(
        mods.join("http2.load"),
        "LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so\n",
    )
    .unwrap();
    let output = layout.check(50);
    assert!(
        output.status.success(),
        "the shipped block: {}",
        text(&output)
    );
    let snippet = layout.apache_snippet();
    let block = line_of(&snippet, "<Directory");
    Layout::edit(&snippet, |t| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("RewriteRule"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    finds(
        &layout.check(50),
        &format!("{}:{block}", snippet.display()),
        "HTTP/2",
    );
}

#[test]
fn check_finds_deflate_on_the_programs() {
    let layout = Layout::good();
    let snippet = layout.apache_snippet();
    Layout::edit(&snippet, |t| {
        t.replace(
            "    CGIPassAuth On\n",
            "    CGIPassAuth On\n    SetOutputFilter DEFLATE\n",
        )
    });
    let line = line_of(&snippet, "SetOutputFilter DEFLATE");
    finds(
        &layout.check(50),
        &format!("{}:{line}", snippet.display()),
        "compresses",
    );

    // Without `SetEnv no-gzip`, Debian's own deflate.conf compresses the plain-named programs.
    let layout = Layout::good();
    let deflate = layout.dir.path().join("apache2/mods-enabled/deflate.conf");
    if deflate.exists() {
        Layout::edit(&layout.apache_snippet(), |t| {
            t.replace("    SetEnv no-gzip 1\n", "")
        });
        let line = line_of(&deflate, "AddOutputFilterByType DEFLATE");
        finds(
            &layout.check(50),
            &format!("{}:{line}", deflate.display()),
            "compresses",
        );
    }
}

#[test]
fn check_finds_lighttpd_without_streaming() {
    let layout = Layout::good();
    let snippet = layout.lighttpd_snippet();
    Layout::edit(&snippet, |t| {
        t.replace("server.stream-response-body = 2", "")
    });
    finds(
        &layout.check(50),
        &snippet.display().to_string(),
        "stream-response-body",
    );
}

#[test]
fn check_finds_a_short_token() {
    let layout = Layout::good();
    layout.write_config("publish_token = \"0123456789abcdef\"\n");
    finds(
        &layout.check(50),
        &format!("{} key publish_token", layout.config().display()),
        "weak",
    );
}

/// The warnings at `place`, each with the line of its fix.
fn warnings_at(output: &Output, place: &str) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with(&format!("warning: {place}: ")))
        .map(|(i, l)| format!("{l}\n{}", lines.get(i + 1).unwrap_or(&"")))
        .collect()
}

/// Every secret the config holds is flagged while other users can read the file, each under
/// its key with the fix; readable by the owner and the web server's group only, none is.
#[test]
fn check_warns_of_secrets_other_users_can_read() {
    let layout = Layout::good();
    let config = layout.config().display().to_string();
    let (_, group) = run_as();
    let fix = format!("fix: chown root:{group} {config} && chmod 0640 {config}");
    for (key, setting) in [
        (
            "jwt_secret",
            format!("jwt_secret = \"{}\"\n", "k".repeat(32)),
        ),
        (
            "redis_url",
            "redis_url = \"redis://:s3cret@127.0.0.1:6379/0\"\n".to_owned(),
        ),
        (
            "redis_url",
            "redis_url = \"redis://app:s3cret@127.0.0.1:6379/0\"\n".to_owned(),
        ),
        (
            "publish_token",
            format!("publish_token = \"{STRONG_TOKEN}\"\n"),
        ),
    ] {
        // Written 0644, as the package installed it before.
        layout.write_config(&setting);
        let output = layout.check(50);
        assert!(output.status.success(), "{key}: {}", text(&output));
        let found = warnings_at(&output, &format!("{config} key {key}"));
        assert!(
            found.len() == 1
                && found[0].contains("every local user can read it")
                && found[0].contains(&fix),
            "{setting}: {found:?}\n{}",
            text(&output)
        );
        assert!(
            Command::new("chgrp")
                .arg(&group)
                .arg(layout.config())
                .status()
                .unwrap()
                .success()
        );
        chmod(&layout.config(), "0640");
        let output = layout.check(50);
        assert!(output.status.success(), "{key}: {}", text(&output));
        assert_eq!(
            warnings_at(&output, &format!("{config} key {key}")),
            Vec::<String>::new(),
            "{setting}: {}",
            text(&output)
        );
    }
}

#[test]
fn check_finds_a_low_inotify_limit() {
    let layout = Layout::good();
    // More streams than any limit the kernel accepts (a signed 32-bit number): the finding does
    // not depend on what this machine's limit is at the moment.
    finds(
        &layout.check(4_000_000_000),
        "/proc/sys/fs/inotify/max_user_instances",
        "streams need",
    );
}

#[test]
fn check_finds_a_bad_config_key() {
    let layout = Layout::good();
    layout.write_config("heartbeat_secs = 0\n");
    finds(
        &layout.check(50),
        &format!("{} key heartbeat_secs", layout.config().display()),
        "from 1 to 300",
    );
}

/// `serverpush probe URL`: the output and whether it said live.
fn probe(url: &str) -> (bool, String) {
    let output = serverpush(&["probe", "--interval", "0.3", "--ticks", "5", url]);
    let report = text(&output);
    eprintln!("serverpush probe {url}: {report}");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{report}");
    (output.status.success(), report)
}

#[test]
fn probe_reports_live_through_apache() {
    let site = Site::new("");
    let apache = Server::apache(&site);
    for program in ["nph-clock", "clock"] {
        let (live, report) = probe(&format!(
            "http://127.0.0.1:{}/cgi-bin/{program}",
            apache.port
        ));
        assert!(live && report.contains("  live:"), "{report}");
    }
}

/// Over HTTP/2 (HTTPS with ALPN, and h2c) the probe says which protocol it used and finds the
/// shipped configuration live; an `nph-` program reached over HTTP/2 without the rewrite is
/// reported as buffered.
#[test]
fn probe_reports_the_protocol_and_http2_buffering() {
    let site = Site::new("");
    let apache = Server::apache_tls(&site);
    let tls = apache.tls_port.unwrap();
    let run = |args: &[&str]| {
        let output = serverpush(&[&["probe", "--interval", "0.5", "--ticks", "4"], args].concat());
        (output.status.success(), text(&output))
    };
    let https = format!("https://127.0.0.1:{tls}/cgi-bin/nph-clock");
    let (live, report) = run(&["--insecure", &https]);
    assert!(live && report.contains("protocol: HTTP/2"), "{report}");
    let h2c = format!("http://127.0.0.1:{}/cgi-bin/nph-clock", apache.port);
    let (live, report) = run(&["--http2", &h2c]);
    assert!(live && report.contains("protocol: HTTP/2"), "{report}");
    let (live, report) = run(&[&h2c]);
    assert!(live && report.contains("protocol: HTTP/1.1"), "{report}");
    // Without the rewrite, HTTP/2 reaches the nph- program and Apache holds its output back.
    drop(apache);
    let site = Site::new("");
    let cgi_bin = site.cgi_bin.display().to_string();
    let plain = Server::apache_with(&site, |c| {
        format!("{c}\n<Directory \"{cgi_bin}\">\n    RewriteEngine Off\n</Directory>\n")
    });
    let h2c = format!("http://127.0.0.1:{}/cgi-bin/nph-clock", plain.port);
    let (live, report) = run(&["--http2", &h2c]);
    assert!(!live && report.contains("protocol: HTTP/2"), "{report}");
}

#[test]
fn probe_names_compression_through_apache_with_deflate() {
    let site = Site::new("");
    let cgi_bin = site.cgi_bin.display().to_string();
    let apache = Server::apache_with(&site, |conf| {
        // mod_deflate applied to the programs, as a site-wide compression setup would.
        format!(
            "{conf}\nLoadModule filter_module @MODULES@/mod_filter.so\n\
             LoadModule deflate_module @MODULES@/mod_deflate.so\n\
             <Directory \"{cgi_bin}\">\n    UnsetEnv no-gzip\n    SetOutputFilter DEFLATE\n</Directory>\n"
        )
        .replace("@MODULES@", "/usr/lib/apache2/modules")
    });
    // The plain name: Apache's filters apply to parsed-header output (and to every program
    // over HTTP/2); an nph- program's output bypasses them over HTTP/1.x.
    let (live, report) = probe(&format!("http://127.0.0.1:{}/cgi-bin/clock", apache.port));
    assert!(!live, "{report}");
    assert!(report.contains("likely culprit: compression"), "{report}");
    assert!(report.contains("no-gzip"), "{report}");
}

#[test]
fn probe_names_lighttpd_without_streaming() {
    let site = Site::new("");
    let server = Server::lighttpd_with(&site, |conf| {
        conf.replace("server.stream-response-body = 2", "")
    });
    let (live, report) = probe(&format!(
        "http://127.0.0.1:{}/cgi-bin/nph-clock",
        server.port
    ));
    assert!(!live, "{report}");
    assert!(report.contains("only when the stream ended"), "{report}");
    assert!(
        report.contains("server.stream-response-body = 2"),
        "{report}"
    );
}

/// An NPH program that answers as a hostile server (or anything in front of one) might: control
/// characters in its head, in a stream and in a long-poll's body. NPH output passes through
/// Apache untouched, so they reach the client as written.
const HOSTILE_PROGRAM: &str = r#"#!/bin/sh
case "$REQUEST_METHOD:$PATH_INFO" in
POST:*)
    cat > /dev/null
    printf 'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"id":1}\n'
    ;;
GET:/*)
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n'
    printf '{"data":"\033]0;owned\007ok\rfaked line\033]52;c;b3duZWQ=\007\302\2331A"}\n'
    ;;
*)
    printf 'HTTP/1.1 200 OK\r\nServer: hostile\033]0;owned\007\r\n'
    printf 'Content-Type: text/plain\033[2J\r\nContent-Encoding: gzip\033]52;c;b3duZWQ=\007\r\n'
    printf 'Via: 1.1 proxy\033[1A\302\233K\177\r\nConnection: close\r\n\r\n'
    printf 'data: tick\033[2J\r\n\r\n'
    ;;
esac
"#;

/// `probe` shows what a server sent with its control characters escaped: the head, the
/// headers it quotes in a culprit, and a long-poll's body.
#[test]
fn probe_escapes_control_characters_from_the_server() {
    let site = Site::new("");
    let program = site.cgi_bin.join("nph-hostile");
    std::fs::write(&program, HOSTILE_PROGRAM).unwrap();
    chmod(&program, "0755");
    let apache = Server::apache(&site);
    let url = format!("http://127.0.0.1:{}/cgi-bin/nph-hostile", apache.port);
    let output = serverpush(&[
        "probe",
        "--interval",
        "0.3",
        "--ticks",
        "3",
        "--channel",
        "hostile",
        "--longpoll-url",
        &url,
        &url,
    ]);
    let report = text(&output);
    eprintln!("serverpush probe {url}: {report}");
    assert_eq!(output.status.code(), Some(1), "{report}");
    no_control_characters("serverpush probe", &output.stdout);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for shown in [
        "head: Server: hostile\\x1b]0;owned\\x07\n",
        "Content-Type is \"text/plain\\x1b[2J\"",
        "Content-Encoding: gzip\\x1b]52;c;b3duZWQ=\\x07",
        "via: 1.1 proxy\\x1b[1A\\u{9b}K\\x7f",
        "failed: {\"data\":\"\\x1b]0;owned\\x07ok\\rfaked line",
    ] {
        assert!(stdout.contains(shown), "no {shown:?} in {report}");
    }
}

#[test]
fn probe_times_a_long_poll_round_trip() {
    let site = Site::new(&format!(
        "spool_dir = \"@SPOOL@\"\npublish_token = \"{STRONG_TOKEN}\"\n"
    ));
    let apache = Server::apache(&site);
    let url = format!("http://127.0.0.1:{}/cgi-bin/nph-clock", apache.port);
    let output = serverpush(&[
        "probe",
        "--interval",
        "0.3",
        "--ticks",
        "4",
        "--channel",
        "probe",
        "--token",
        STRONG_TOKEN,
        &url,
    ]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("long-poll round trip on probe"), "{report}");
}

#[test]
fn channels_and_tail_read_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serverpush.toml");
    std::fs::write(
        &config,
        format!("spool_dir = \"{}\"\n", dir.path().join("spool").display()),
    )
    .unwrap();
    let config = config.display().to_string();
    for (channel, message) in [("news", "one"), ("news", "two\nlines"), ("alerts", "three")] {
        let out = serverpush(&["publish", "--config", &config, channel, message]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // The old name still publishes.
    let old = Command::new(bin("serverpush-publish"))
        .args(["--config", &config, "news", "four"])
        .output()
        .unwrap();
    assert!(old.status.success(), "{}", text(&old));
    assert_eq!(String::from_utf8_lossy(&old.stdout).trim(), "3");

    let list = serverpush(&["channels", "--config", &config]);
    let listing = String::from_utf8_lossy(&list.stdout);
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{listing}");
    assert_eq!(rows[0][..5], ["alerts", "1", "1", "1", "5"], "{listing}");
    assert_eq!(rows[1][..5], ["news", "1", "3", "3", "16"], "{listing}");

    let tail = serverpush(&[
        "tail",
        "--config",
        &config,
        "--since",
        "1",
        "--no-follow",
        "news",
    ]);
    let lines: Vec<String> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&tail));
    assert!(
        lines[0].starts_with("2 ") && lines[0].ends_with(" two\\nlines"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("3 ") && lines[1].ends_with(" four"),
        "{lines:?}"
    );

    // Following: a message published later is printed as it comes.
    let mut follow = Command::new(bin("serverpush"))
        .args(["tail", "--config", &config, "news"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while std::io::Read::read(&mut stdout, &mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    });
    // Published until the follower prints one: it may not be watching yet when the first lands.
    crate::util::wait_for(std::time::Duration::from_secs(10), "tail to print", || {
        serverpush(&["publish", "--config", &config, "news", "five"]);
        reader.is_finished().then_some(())
    });
    let _ = follow.kill();
    let _ = follow.wait();
    let line = reader.join().unwrap();
    assert!(line.ends_with(" five"), "{line}");
}

/// What a published message, a store or a server could send to take over the operator's
/// terminal: a window title (OSC 0), the clipboard (OSC 52), a cleared screen, a carriage
/// return over a faked line, a bell, DEL, and the one-character CSI of C1.
const HOSTILE: &str =
    "\x1b]0;owned\x07ok\rfaked line\x1b]52;c;b3duZWQ=\x07\x1b[2J\x7f\u{9b}1A\nnext";

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

/// `tail` shows a message's control characters escaped, on its one line; `channels` shows a
/// channel's epoch so too (Redis returns it as any writer of the store left it).
#[test]
fn tail_and_channels_escape_control_characters() {
    let redis = crate::fixtures::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serverpush.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"redis\"\nredis_url = \"{}\"\nredis_key_prefix = \"esc:\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let out = serverpush(&["publish", "--config", &config, "news", HOSTILE]);
    assert!(out.status.success(), "{}", text(&out));

    let tail = serverpush(&[
        "tail",
        "--config",
        &config,
        "--since",
        "0",
        "--no-follow",
        "news",
    ]);
    assert!(tail.status.success(), "{}", text(&tail));
    no_control_characters("serverpush tail", &tail.stdout);
    no_control_characters("serverpush tail", &tail.stderr);
    let shown = String::from_utf8_lossy(&tail.stdout);
    assert!(
        shown.lines().count() == 1
            && shown.ends_with(
                " \\x1b]0;owned\\x07ok\\rfaked line\\x1b]52;c;b3duZWQ=\\x07\\x1b[2J\\x7f\\u{9b}1A\\nnext\n"
            ),
        "{}",
        text(&tail)
    );

    let mut con = redis.connection();
    redis::cmd("HSET")
        .arg("esc:{news}:m")
        .arg("epoch")
        .arg(HOSTILE)
        .query::<()>(&mut con)
        .unwrap();
    let list = serverpush(&["channels", "--config", &config]);
    assert!(list.status.success(), "{}", text(&list));
    no_control_characters("serverpush channels", &list.stdout);
    no_control_characters("serverpush channels", &list.stderr);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing.lines().count() == 2 && listing.contains("  \\x1b]0;owned\\x07ok\\r"),
        "{}",
        text(&list)
    );
}

#[test]
fn every_subcommand_has_help_and_a_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = serverpush(&["man", "--dir", &dir.path().display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    for sub in ["publish", "camsim", "check", "probe", "channels", "tail"] {
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

#[test]
fn channels_and_tail_read_redis() {
    let redis = crate::fixtures::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serverpush.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"redis\"\nredis_url = \"{}\"\nredis_key_prefix = \"cmd:\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    for (channel, message) in [("b-news", "one"), ("b-news", "two"), ("a-alerts", "three")] {
        let out = serverpush(&["publish", "--config", &config, channel, message]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let list = serverpush(&["channels", "--config", &config]);
    let listing = String::from_utf8_lossy(&list.stdout);
    let names: Vec<&str> = listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["a-alerts", "b-news"], "{}", text(&list));
    let tail = serverpush(&[
        "tail",
        "--config",
        &config,
        "--since",
        "0",
        "--no-follow",
        "b-news",
    ]);
    let out = String::from_utf8_lossy(&tail.stdout);
    assert!(
        out.starts_with("1 ") && out.contains(" one\n2 ") && out.ends_with(" two\n"),
        "{}",
        text(&tail)
    );
}
