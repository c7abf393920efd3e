//! `serverpush check` against an installation laid out as the package lays it out, with one
//! misconfiguration planted at a time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{STRONG_TOKEN, chmod, serverpush, text};
use crate::fixtures::run_as;
use crate::util::repo;

/// An installation laid out as the Debian package lays it out, in a private directory: a config,
/// a spool owned by the server's user, Apache's and lighttpd's enabled snippets.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn good() -> Layout {
        crate::util::require_tool("/usr/sbin/nginx", "nginx");
        crate::util::require_tool("/usr/sbin/fcgiwrap", "fcgiwrap");
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

        // nginx: a main file with a server {} block that includes the package's snippets, and
        // fcgiwrap's unit with the package's drop-in.
        let nginx = root.join("nginx");
        std::fs::create_dir_all(nginx.join("snippets")).unwrap();
        let render = |template: &str| {
            std::fs::read_to_string(repo().join("apache-conf").join(template))
                .unwrap()
                .replace("@CGI_BIN@", "/usr/lib/cgi-bin/serverpush")
                .replace("@CONFIG@", &layout.config().display().to_string())
                .replace("@FCGIWRAP@", "/run/fcgiwrap.socket")
                .replace("@SNIPPETS@", &nginx.join("snippets").display().to_string())
        };
        std::fs::write(
            nginx.join("snippets/serverpush.conf"),
            render("serverpush-nginx.conf.in")
                + &std::fs::read_to_string(repo().join("debian/nginx-demo.conf")).unwrap(),
        )
        .unwrap();
        std::fs::write(
            layout.nginx_fastcgi_snippet(),
            render("serverpush-fastcgi.conf.in"),
        )
        .unwrap();
        std::fs::write(
            layout.nginx_conf(),
            format!(
                "pid {n}/nginx.pid;\nerror_log {n}/error.log;\nevents {{}}\n\
                 http {{\n    include /etc/nginx/mime.types;\n    gzip on;\n\
                 \x20   server {{\n        listen 127.0.0.1:8;\n        root {n};\n\
                 \x20       include {n}/snippets/serverpush.conf;\n    }}\n}}\n",
                n = nginx.display()
            ),
        )
        .unwrap();
        let units = root.join("units/usr/lib/systemd/system");
        std::fs::create_dir_all(units.join("fcgiwrap.service.d")).unwrap();
        std::fs::copy(
            "/usr/lib/systemd/system/fcgiwrap.service",
            units.join("fcgiwrap.service"),
        )
        .expect("fcgiwrap's unit (the fcgiwrap package)");
        std::fs::copy(
            repo().join("debian/fcgiwrap-serverpush.conf"),
            layout.fcgiwrap_drop_in(),
        )
        .unwrap();
        layout
    }

    fn nginx_conf(&self) -> PathBuf {
        self.dir.path().join("nginx/nginx.conf")
    }

    fn nginx_fastcgi_snippet(&self) -> PathBuf {
        self.dir
            .path()
            .join("nginx/snippets/serverpush-fastcgi.conf")
    }

    fn fcgiwrap_drop_in(&self) -> PathBuf {
        self.dir
            .path()
            .join("units/usr/lib/systemd/system/fcgiwrap.service.d/serverpush.conf")
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
        let nginx = self.nginx_conf().display().to_string();
        let units = self.dir.path().join("units").display().to_string();
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
            "--nginx-conf",
            &nginx,
            "--fcgiwrap-root",
            &units,
        ])
    }
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

/// Each way the nginx snippets can be undone, planted one at a time in the included file, is
/// found at the location that runs the programs (`nginx -T` reads the files as nginx does).
#[test]
fn check_finds_nginx_misconfigurations() {
    let plants: [(&str, &str, &str, Level); 6] = [
        (
            "fastcgi_param NO_BUFFERING 1;",
            "",
            "NO_BUFFERING",
            Level::Error,
        ),
        (
            "fastcgi_buffering off;",
            "fastcgi_buffering on; fastcgi_ignore_headers X-Accel-Buffering;",
            "X-Accel-Buffering header is ignored",
            Level::Error,
        ),
        (
            "fastcgi_buffering off;",
            "",
            "fastcgi_buffering is on",
            Level::Warning,
        ),
        (
            "fastcgi_read_timeout 60s;",
            "fastcgi_read_timeout 10s;",
            "not above heartbeat_secs = 15",
            Level::Error,
        ),
        ("gzip off;", "", "gzip is on", Level::Warning),
        (
            "fastcgi_param NO_BUFFERING 1;",
            "fastcgi_param NO_BUFFERING 1; fastcgi_param SERVER_SOFTWARE Apache;",
            "SERVER_SOFTWARE does not name nginx",
            Level::Error,
        ),
    ];
    for (from, to, words, level) in plants {
        let layout = Layout::good();
        let snippet = layout.dir.path().join("nginx/snippets/serverpush.conf");
        Layout::edit(&layout.nginx_fastcgi_snippet(), |t| t.replace(from, to));
        let output = layout.check(50);
        for location in ["location ~ ^/cgi-bin", "location ~ ^/\\.well-known/mercure"] {
            let place = format!("{}:{}", snippet.display(), line_of(&snippet, location));
            match level {
                Level::Error => finds(&output, &place, words),
                Level::Warning => assert!(
                    warnings_at(&output, &place)
                        .iter()
                        .any(|w| w.contains(words) && w.contains("fix: ")),
                    "{from} -> {to}: no warning at {place} about {words:?}\n{}",
                    text(&output)
                ),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Level {
    Error,
    Warning,
}

/// fcgiwrap's workers, read as systemd reads its unit and the package's drop-in: enough for
/// 50 streams with the drop-in, one without it, and flagged when fewer than the streams.
#[test]
fn check_finds_too_few_fcgiwrap_workers() {
    let layout = Layout::good();
    let output = layout.check(120);
    assert!(output.status.success(), "{}", text(&output));
    finds(
        &layout.check(121),
        &layout.fcgiwrap_drop_in().display().to_string(),
        "120 worker(s)",
    );
    std::fs::remove_file(layout.fcgiwrap_drop_in()).unwrap();
    let unit = layout
        .dir
        .path()
        .join("units/usr/lib/systemd/system/fcgiwrap.service");
    finds(
        &layout.check(50),
        &unit.display().to_string(),
        "1 worker(s)",
    );
}

/// nginx that runs none of the programs is worth a warning, not an error.
#[test]
fn check_warns_when_nginx_runs_no_program() {
    let layout = Layout::good();
    Layout::edit(&layout.nginx_conf(), |t| {
        t.lines()
            .filter(|l| !l.contains("serverpush.conf"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let output = layout.check(50);
    assert!(output.status.success(), "{}", text(&output));
    let place = layout.nginx_conf().display().to_string();
    assert!(
        warnings_at(&output, &place)
            .iter()
            .any(|w| w.contains("no nginx location runs the programs")),
        "{}",
        text(&output)
    );
}

/// `hub = true` is explained under each installed server: a warning where it has no effect
/// (Apache, lighttpd: why), a note where it applies (nginx), and a warning with Redis.
#[test]
fn check_says_where_hub_mode_applies() {
    let layout = Layout::good();
    layout.write_config("hub = true\n");
    let output = layout.check(50);
    assert!(output.status.success(), "{}", text(&output));
    let place = format!("{} key hub", layout.config().display());
    let warnings = warnings_at(&output, &place);
    assert!(
        warnings.iter().any(|w| w.contains("under apache")
            && w.contains("recorded pid")
            && w.contains("fix: ")),
        "{}",
        text(&output)
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("under lighttpd") && w.contains("1.4.69")),
        "{}",
        text(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("note: {place}: under nginx"))),
        "{}",
        text(&output)
    );
    layout.write_config("hub = true\nstore = \"redis\"\n");
    let output = layout.check(50);
    let warnings = warnings_at(&output, &place);
    assert!(
        warnings.iter().any(|w| w.contains("spool store only")),
        "{}",
        text(&output)
    );
}
