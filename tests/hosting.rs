//! Shared hosting: the release archive (`scripts/build-tarball.sh`) installed by a hosting
//! account as its `INSTALL` says, in `~account/public_html/`, served by an Apache that runs each
//! account's CGI programs as that account through suEXEC (Debian's `apache2-suexec-pristine`)
//! with `mod_userdir`, CGI enabled by the account's `.htaccess` alone; and the archive's
//! programs on a root that holds nothing else.
//!
//! Each test makes a throwaway account with a home and removes both, and starts its own Apache
//! on loopback. suEXEC logs to its compiled-in `/var/log/apache2/suexec.log`; the tests read the
//! lines their run added.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::browser::{Browser, CHAT_LINES, clock_panes_changed, clock_panes_shown, say_hello_bob};
use crate::client::{request, send};
use crate::curl::{Protocol, curl};
use crate::fixtures::Server;
use crate::util::{add_user, free_port, repo, require_tool, run_build_script, wait_for};

const T: Duration = Duration::from_secs(20);
const SUEXEC: &str = "/usr/lib/apache2/suexec";
const SUEXEC_LOG: &str = "/var/log/apache2/suexec.log";
const TOKEN: &str = "Kq3vT9xZp2Lm8RwY4sNb7HdJc6FgA1eU";
const JWT_SECRET: &str = "f8Kd2LqP9sXv4ZmN7bRt1WcYh6GjE3uA5oTi0Qn";

/// The release archive, built once per run with the project's own script.
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dest = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dist");
        let path = run_build_script("scripts/build-tarball.sh", &[&dest]);
        assert!(
            path.to_string_lossy().ends_with("-linux.tar.gz") && path.is_file(),
            "{}",
            path.display()
        );
        path
    })
}

/// The archive's top folder name (`serverpush-VERSION-ARCH-linux`).
fn archive_dir_name() -> String {
    let name = archive()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    name.trim_end_matches(".tar.gz").to_owned()
}

/// A hosting account: a user with a home (mode 0711, as hosts make them, so the web server may
/// pass through to `public_html`), removed with every process it still runs.
struct Account {
    name: String,
    home: PathBuf,
    uid: u32,
}

impl Account {
    fn new() -> Account {
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("sphost{}x{n}", std::process::id() % 100_000);
        let home = PathBuf::from("/home").join(&name);
        let _ = Command::new("userdel").args(["--remove", &name]).output();
        let home_option = home.display().to_string();
        add_user(
            &name,
            &[
                "--create-home",
                "--shell",
                "/bin/sh",
                "--home-dir",
                &home_option,
            ],
        );
        let out = Command::new("id").arg("-u").arg(&name).output().unwrap();
        let uid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        set_mode(&home, 0o711);
        Account { name, home, uid }
    }

    /// Runs `script` with `sh` as the account, in its home, as an SSH session would.
    fn sh(&self, script: &str) -> std::process::Output {
        Command::new("/usr/sbin/runuser")
            .args(["-u", &self.name, "--", "env"])
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("USER={}", self.name))
            .args(["sh", "-c"])
            .arg(format!("cd && {script}"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `script` as the account and requires it to succeed.
    fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "as {}: {script}\n{}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The account's programs now running (process id and name).
    fn programs(&self) -> Vec<(u32, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
                continue;
            };
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
            };
            let comm = field("Name:").unwrap_or_default();
            if field("Uid:").as_deref() == Some(&self.uid.to_string())
                && ["clock", "longpoll", "webcam", "mercure"]
                    .iter()
                    .any(|p| comm.ends_with(p))
            {
                found.push((pid, comm));
            }
        }
        found
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.name])
            .output();
        let _ = wait_for_removal(&self.name);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn wait_for_removal(name: &str) -> bool {
    for _ in 0..50 {
        let out = Command::new("userdel").args(["--remove", name]).output();
        // 6: no such user (gone already); 10: the password file is locked by another.
        match out.map(|o| o.status.code()) {
            Ok(Some(0 | 6)) => return true,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Installs the archive as the account would, following `INSTALL`: upload, unpack, copy the
/// parts into place, set the permissions suEXEC wants, and edit the two lines of the config.
fn install_as_instructed(account: &Account) {
    let upload = account.home.join(archive().file_name().unwrap());
    std::fs::copy(archive(), &upload).unwrap();
    let chown = Command::new("chown")
        .arg(format!("{0}:{0}", account.name))
        .arg(&upload)
        .status()
        .unwrap();
    assert!(chown.success());
    let dir = archive_dir_name();
    // A hosting account comes with its public_html.
    account.sh_ok("mkdir -m 755 public_html");
    // The commands of INSTALL's steps 1 to 3, as written there.
    let install = std::fs::read_to_string(repo().join("hosting/INSTALL.in")).unwrap();
    let version = dir.split('-').nth(1).unwrap().to_owned();
    let arch = dir.split('-').nth(2).unwrap().to_owned();
    let commands: Vec<String> = install
        .lines()
        .skip_while(|l| !l.starts_with("Install"))
        .take_while(|l| !l.starts_with("  4."))
        .filter(|l| l.starts_with("       "))
        .map(|l| {
            l.trim()
                .replace("@VERSION@", &version)
                .replace("@ARCH@", &arch)
        })
        .collect();
    assert!(commands.len() >= 8, "INSTALL's commands: {commands:?}");
    for command in &commands {
        account.sh_ok(command);
    }
    // Step 4: the two lines; and the test's own: a shorter heartbeat, so that a stream that
    // writes nothing else learns sooner that its client left, and the Mercure hub's secret.
    account.sh_ok(&format!(
        "sed -i -e 's/^# publish_token = .*/publish_token = \"{TOKEN}\"/' \
         -e 's/^open_channels = .*/open_channels = [\"chat\", \"open\"]\\nheartbeat_secs = 3\\n\
         jwt_secret = \"{JWT_SECRET}\"\\nmercure_anonymous = true/' serverpush.toml"
    ));
}

/// Which module runs the CGI programs.
#[derive(Clone, Copy, Debug)]
enum Cgi {
    /// mod_cgid under mpm_event (Debian's default), with mod_http2.
    Cgid,
    /// mod_cgi under mpm_prefork.
    Cgi,
}

/// The host's Apache: suEXEC and user directories, CGI allowed in `.htaccess` files, each
/// account's programs run as the account.
fn host_apache(dir: &Path, account: &Account, cgi: Cgi) -> Server {
    require_tool("/usr/sbin/apache2", "apache2");
    require_tool(SUEXEC, "apache2-suexec-pristine");
    let port = free_port();
    let modules = "/usr/lib/apache2/modules";
    let (mpm, cgi_module, http2) = match cgi {
        Cgi::Cgid => (
            "LoadModule mpm_event_module @M@/mod_mpm_event.so",
            "LoadModule cgid_module @M@/mod_cgid.so\nScriptSock \"@ROOT@/cgid.sock\"",
            "LoadModule http2_module @M@/mod_http2.so\nProtocols h2c http/1.1",
        ),
        Cgi::Cgi => (
            "LoadModule mpm_prefork_module @M@/mod_mpm_prefork.so",
            "LoadModule cgi_module @M@/mod_cgi.so",
            "",
        ),
    };
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let conf = format!(
        r#"ServerRoot "@ROOT@"
PidFile "@ROOT@/httpd.pid"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
User www-data
Group www-data
{mpm}
LoadModule authz_core_module @M@/mod_authz_core.so
LoadModule authn_core_module @M@/mod_authn_core.so
LoadModule authn_file_module @M@/mod_authn_file.so
LoadModule auth_basic_module @M@/mod_auth_basic.so
LoadModule authz_user_module @M@/mod_authz_user.so
LoadModule mime_module @M@/mod_mime.so
LoadModule dir_module @M@/mod_dir.so
LoadModule env_module @M@/mod_env.so
LoadModule rewrite_module @M@/mod_rewrite.so
LoadModule userdir_module @M@/mod_userdir.so
LoadModule suexec_module @M@/mod_suexec.so
{cgi_module}
{http2}
ErrorLog "@ROOT@/error.log"
LogLevel warn
TypesConfig /etc/mime.types
Timeout 60
DocumentRoot "{www}"
DirectoryIndex index.html
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{www}">
    Require all granted
</Directory>
# What a shared host allows its accounts (Debian's userdir.conf, with CGI switchable).
UserDir public_html
UserDir disabled root
<Directory "/home/*/public_html">
    AllowOverride FileInfo AuthConfig Limit Indexes Options=ExecCGI,Indexes,SymLinksIfOwnerMatch,MultiViews
    Options MultiViews Indexes SymLinksIfOwnerMatch IncludesNoExec
    Require all granted
</Directory>
"#,
        www = www.display()
    )
    .replace("@ROOT@", &dir.display().to_string())
    .replace("@M@", modules);
    let path = dir.join("httpd.conf");
    std::fs::write(&path, conf).unwrap();
    Server::apache_from(
        &path,
        port,
        &format!(
            "/~{}/serverpush/cgi-bin/nph-clock?transport=json",
            account.name
        ),
    )
}

/// The lines suEXEC logged since `from` (its length then).
fn suexec_log_since(from: u64) -> String {
    let text = std::fs::read(SUEXEC_LOG).unwrap_or_default();
    String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default()).into_owned()
}

fn post(port: u16, target: &str, body: &str, extra: &[&str]) -> crate::client::Response {
    let length = format!("Content-Length: {}", body.len());
    let body = format!("\r\n{body}");
    let mut lines = vec![
        "Content-Type: application/x-www-form-urlencoded",
        length.as_str(),
    ];
    lines.extend_from_slice(extra);
    lines.push(body.as_str());
    let mut response = request(port, "POST", target, "HTTP/1.1", &lines);
    response.read_to_end(T);
    response
}

fn get_to_end(port: u16, target: &str) -> crate::client::Response {
    let mut response = request(port, "GET", target, "HTTP/1.1", &["Connection: close"]);
    response.read_to_end(T);
    response
}

/// Everything a site needs, under suEXEC with `cgi`: the archive installed as INSTALL says.
fn serves_an_account(cgi: Cgi) {
    let account = Account::new();
    install_as_instructed(&account);
    let dir = tempfile::Builder::new()
        .prefix("serverpush-test-host-")
        .tempdir()
        .unwrap();
    set_mode(dir.path(), 0o755);
    let log_start = std::fs::metadata(SUEXEC_LOG).map_or(0, |m| m.len());
    let apache = host_apache(dir.path(), &account, cgi);
    let port = apache.port;
    let base = format!("/~{}/serverpush", account.name);

    // The clock streams live, as the account.
    let mut clock = request(
        port,
        "GET",
        &format!("{base}/cgi-bin/nph-clock?transport=sse"),
        "HTTP/1.1",
        &[],
    );
    assert_eq!(clock.status(), 200, "{}", clock.head_text());
    clock.read_until_count(b"\ndata: ", 2, T);
    assert!(!clock.closed, "the clock streams, it does not end");
    let running = account.programs();
    assert!(
        running.iter().any(|(_, name)| name == "nph-clock"),
        "the clock runs as {} (uid {}): {running:?}",
        account.name,
        account.uid
    );

    // Publish with the token and long-poll, the spool in the account's home.
    let channel = format!("{base}/cgi-bin/nph-longpoll/news");
    for data in ["hello", "again"] {
        let published = post(
            port,
            &channel,
            &format!("data={data}"),
            &[&format!("Authorization: Bearer {TOKEN}")],
        );
        assert_eq!(published.status(), 201, "{}", published.head_text());
    }
    let refused = post(port, &channel, "data=anon", &[]);
    assert!(
        matches!(refused.status(), 401 | 403),
        "a publish without the token: {}",
        refused.head_text()
    );
    let polled = get_to_end(port, &format!("{channel}?since=0"));
    let body = String::from_utf8_lossy(&polled.body).into_owned();
    assert!(body.contains("hello") && body.contains("again"), "{body}");
    let spool = account.home.join("serverpush-spool");
    let news = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("news"))
        .unwrap_or_else(|| panic!("the channel in {}", spool.display()));
    assert_eq!(
        news.metadata().unwrap().uid(),
        account.uid,
        "the account's own files"
    );

    // SSE resumed after the first message gets the second alone.
    let mut sse = request(
        port,
        "GET",
        &channel,
        "HTTP/1.1",
        &["Accept: text/event-stream", "Last-Event-ID: news:1"],
    );
    sse.read_until_count(b"\ndata: ", 1, T);
    let text = String::from_utf8_lossy(&sse.body).into_owned();
    assert!(text.contains("again") && !text.contains("hello"), "{text}");
    sse.close();

    // The open channel of the config's second edited line takes anyone's message.
    let open = post(
        port,
        &format!("{base}/cgi-bin/nph-longpoll/open"),
        "data=hi",
        &[],
    );
    assert_eq!(open.status(), 201, "{}", open.head_text());

    // The Mercure hub beside the pages: an anonymous subscriber gets what a publisher with a
    // token signed by the account's secret sends.
    let topic = "topic=https%3A%2F%2Fexample.com%2Fnews";
    let mut hub = request(
        port,
        "GET",
        &format!("{base}/cgi-bin/nph-mercure?{topic}"),
        "HTTP/1.1",
        &["Accept: text/event-stream"],
    );
    assert_eq!(hub.status(), 200, "{}", hub.head_text());
    let publisher = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "mercure": { "publish": ["*"] } }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let published = post(
        port,
        &format!("{base}/cgi-bin/nph-mercure"),
        &format!("{topic}&data=hosted"),
        &[&format!("Authorization: Bearer {publisher}")],
    );
    assert_eq!(published.status(), 200, "{}", published.head_text());
    hub.read_until_count(b"data: hosted", 1, T);
    hub.close();

    // The webcam: a picture the account puts in its camera folder (the simulator writes one
    // frame, as an upload and rename would), as a snapshot and as a stream.
    account.sh_ok("bin/serverpush camsim --out camera/cam.jpg --frames 1 --width 160 --height 120");
    let snapshot = get_to_end(port, &format!("{base}/cgi-bin/nph-webcam?action=snapshot"));
    assert_eq!(snapshot.status(), 200, "{}", snapshot.head_text());
    assert!(snapshot.body.starts_with(&[0xff, 0xd8]), "a JPEG");
    let mut webcam = request(
        port,
        "GET",
        &format!("{base}/cgi-bin/nph-webcam"),
        "HTTP/1.1",
        &[],
    );
    assert_eq!(webcam.status(), 200, "{}", webcam.head_text());
    webcam.read_until_count(b"Content-Type: image/jpeg", 1, T);
    webcam.close();

    // HTTP/2 (h2c) reaches the parsed-header name through the .htaccess rewrite, and streams.
    if let Cgi::Cgid = cgi {
        let mut h2 = curl(
            &apache,
            Protocol::H2c,
            &format!("{base}/cgi-bin/nph-clock?transport=sse"),
            &[],
        );
        let arrivals = h2.read_until_count(b"\ndata: ", 2, T);
        assert!(h2.status_line().starts_with("HTTP/2 200"), "{}", h2.head());
        assert!(!h2.ended && arrivals.len() >= 2, "h2c streams live");
        // A channel whose name starts like a program's keeps its name through the rewrite.
        let odd = format!("{base}/cgi-bin/nph-longpoll/nph-x");
        let token = format!("Authorization: Bearer {TOKEN}");
        assert_eq!(post(port, &odd, "data=odd", &[&token]).status(), 201);
        let mut read = curl(&apache, Protocol::H2c, &format!("{odd}?since=0"), &[]);
        read.read_to_end(T);
        assert!(
            read.status_line().starts_with("HTTP/2 200"),
            "{}",
            read.head()
        );
        assert!(
            read.text().contains("\"channel\":\"nph-x\""),
            "{}",
            read.text()
        );
    }

    // The demo pages in Chromium, from the account's folder: every pane of the clock moves,
    // and two chat pages talk.
    if let Cgi::Cgid = cgi {
        let page = |name: &str| format!("http://127.0.0.1:{port}{base}/{name}");
        let alice = Browser::start();
        alice.open(&page("clock.html"));
        let first = clock_panes_shown(&alice, "the account's clock page");
        clock_panes_changed(&alice, "the account's clock page", &first);
        let bob = Browser::start();
        say_hello_bob(&alice, &bob, &page("chat.html"));
        wait_for(T, "bob to see alice's line", || {
            (bob.eval(CHAT_LINES) == serde_json::json!(["hello bob", "imgs:0"])).then_some(())
        });
    }

    // The config is never served: beside the programs, nor one left in the pages' folder.
    std::fs::copy(
        account.home.join("serverpush.toml"),
        account.home.join("public_html/serverpush/serverpush.toml"),
    )
    .unwrap();
    for target in [
        format!("{base}/cgi-bin/serverpush.toml"),
        format!("{base}/serverpush.toml"),
    ] {
        let got = get_to_end(port, &target);
        assert!(
            !got.body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "{target} gave the token away: {}",
            got.head_text()
        );
    }
    std::fs::remove_file(account.home.join("public_html/serverpush/serverpush.toml")).unwrap();

    // The search order: beside the programs first, then the home; a file that others can
    // write is refused with a clear answer and a line in the error log.
    let beside = account
        .home
        .join("public_html/serverpush/cgi-bin/serverpush.toml");
    account.sh_ok(
        "printf 'spool_dir = \"../../../serverpush-spool\"\\nopen_channels = [\"beside\"]\\n' \
         > public_html/serverpush/cgi-bin/serverpush.toml && \
         chmod 600 public_html/serverpush/cgi-bin/serverpush.toml",
    );
    let beside_open = format!("{base}/cgi-bin/nph-longpoll/beside");
    assert_eq!(post(port, &beside_open, "data=x", &[]).status(), 201);
    assert_ne!(
        post(
            port,
            &format!("{base}/cgi-bin/nph-longpoll/open"),
            "data=x",
            &[]
        )
        .status(),
        201
    );
    std::fs::remove_file(&beside).unwrap();
    assert_ne!(post(port, &beside_open, "data=x", &[]).status(), 201);
    account.sh_ok("chmod 666 serverpush.toml");
    let untrusted = get_to_end(port, &format!("{channel}?since=0"));
    assert_eq!(untrusted.status(), 500, "{}", untrusted.head_text());
    wait_for(T, "the refusal in the error log", || {
        apache
            .error_log()
            .contains("is writable by its group or by everyone")
            .then_some(())
    });
    account.sh_ok("chmod 600 serverpush.toml");
    assert_eq!(
        get_to_end(port, &format!("{channel}?since=0")).status(),
        200
    );

    // Departure: the account's streams end with their clients.
    let streams: Vec<_> = (0..5)
        .map(|_| {
            send(
                port,
                "GET",
                &format!("{base}/cgi-bin/nph-clock?transport=sse"),
                "HTTP/1.1",
                &[],
            )
        })
        .collect();
    let clocks = || {
        account
            .programs()
            .into_iter()
            .filter(|(_, name)| name == "nph-clock")
            .count()
    };
    wait_for(T, "6 clocks running", || (clocks() >= 6).then_some(()));
    drop(streams);
    clock.close();
    // A clock writes every second, so its program learns at once that its client left.
    wait_for(T, "the departed clients' clocks to end", || {
        (clocks() == 0).then_some(())
    });

    // Private channels for the users an .htaccess authenticates (HTTP basic auth): each may
    // read and write its own channel, no one else's.
    account.sh_ok(
        "htpasswd -bc .htpasswd alice alices-secret 2>/dev/null && \
         htpasswd -b .htpasswd bob bobs-secret 2>/dev/null && chmod 644 .htpasswd && \
         sed -i 's/^max_streams = .*/&\\nremote_user_channels = [\"user.{user}\"]\\nprivate_channels = [\"user.*\"]/' \
         serverpush.toml",
    );
    let htaccess = account
        .home
        .join("public_html/serverpush/cgi-bin/.htaccess");
    let shipped = std::fs::read_to_string(&htaccess).unwrap();
    std::fs::write(
        &htaccess,
        format!(
            "{shipped}\n<Files \"nph-longpoll\">\n    AuthType Basic\n    AuthName members\n    \
             AuthUserFile {}/.htpasswd\n    Require valid-user\n</Files>\n",
            account.home.display()
        ),
    )
    .unwrap();
    // base64 of alice:alices-secret and bob:bobs-secret.
    let alice = "Authorization: Basic YWxpY2U6YWxpY2VzLXNlY3JldA==";
    let bob = "Authorization: Basic Ym9iOmJvYnMtc2VjcmV0";
    let own = format!("{base}/cgi-bin/nph-longpoll/user.alice");
    assert_eq!(post(port, &own, "data=note", &[alice]).status(), 201);
    let mine = get_to_end(port, &format!("{own}?since=0"));
    assert_eq!(
        mine.status(),
        401,
        "no credentials: the server asks for them"
    );
    let mut read = request(
        port,
        "GET",
        &format!("{own}?since=0"),
        "HTTP/1.1",
        &[alice, "Connection: close"],
    );
    read.read_to_end(T);
    assert_eq!(read.status(), 200, "{}", read.head_text());
    assert!(String::from_utf8_lossy(&read.body).contains("note"));
    let mut other = request(
        port,
        "GET",
        &format!("{own}?since=0"),
        "HTTP/1.1",
        &[bob, "Connection: close"],
    );
    other.read_to_end(T);
    assert!(matches!(other.status(), 403 | 404), "{}", other.head_text());
    assert!(!String::from_utf8_lossy(&other.body).contains("note"));
    std::fs::write(&htaccess, &shipped).unwrap();

    // `serverpush probe` as the account: the clock live through the host, the publish token
    // accepted; without CGIPassAuth it names the missing header.
    let clock_url = format!("http://127.0.0.1:{port}{base}/cgi-bin/nph-clock");
    let probe = format!(
        "bin/serverpush probe --interval 0.2 --ticks 3 --channel news --token {TOKEN} {clock_url}"
    );
    let probed = account.sh_ok(&probe);
    assert!(probed.contains("live: units arrive one by one"), "{probed}");
    assert!(probed.contains("with the token was accepted"), "{probed}");
    std::fs::write(&htaccess, shipped.replace("CGIPassAuth On", "")).unwrap();
    let hidden = account.sh(&probe);
    let said = String::from_utf8_lossy(&hidden.stderr);
    assert!(
        !hidden.status.success() && said.contains("CGIPassAuth On"),
        "{said}{}",
        String::from_utf8_lossy(&hidden.stdout)
    );
    std::fs::write(&htaccess, &shipped).unwrap();

    // The operator's command, run by the account over SSH, reads the same config and says what
    // the host allows.
    let report = account.sh_ok("prlimit --nproc=64 bin/serverpush check");
    assert!(
        report.contains(&format!("streams as {}", account.name)),
        "the account's own check, as itself: {report}"
    );
    assert!(report.contains("suEXEC is installed"), "{report}");
    assert!(report.contains("may run 64 processes"), "{report}");
    assert!(report.contains("serverpush.toml: 0 error(s)"), "{report}");

    // suEXEC ran the programs (a line per run) and refused none.
    let log = suexec_log_since(log_start);
    assert!(
        log.contains(&format!("uid: ({}/{})", account.uid, account.name)),
        "suEXEC ran the programs: {log}"
    );
    let refusals: Vec<&str> = log.lines().filter(|l| !l.contains("]: uid: (")).collect();
    assert!(refusals.is_empty(), "suEXEC refused: {refusals:#?}");
    assert!(
        !apache.error_log().contains("suexec policy violation"),
        "{}",
        apache.error_log()
    );
    // The channel stream closed earlier writes only its heartbeats: it learns of its departed
    // client at the second, as under any Apache. Then nothing of the account is left.
    wait_for(T, "every program of the account to end", || {
        account.programs().is_empty().then_some(())
    });
}

/// The archive under suEXEC with mod_cgid and mpm_event (with h2c), then with mod_cgi under
/// mpm_prefork: one after the other, so that suEXEC's one log holds one run's lines at a time.
#[test]
fn the_archive_serves_an_account_under_suexec() {
    serves_an_account(Cgi::Cgid);
    serves_an_account(Cgi::Cgi);
}

/// The archive's programs run on a root that holds nothing but them and `/proc`: they need no
/// library, no file and no user database from the host.
#[test]
fn the_archives_programs_need_nothing_from_the_host() {
    require_tool("/usr/bin/unshare", "util-linux");
    let dir = tempfile::Builder::new()
        .prefix("serverpush-test-bare-")
        .tempdir()
        .unwrap();
    let unpacked = Command::new("tar")
        .arg("xzf")
        .arg(archive())
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(unpacked.success());
    let cgi = dir
        .path()
        .join(archive_dir_name())
        .join("serverpush/cgi-bin");
    for name in [
        "nph-clock",
        "clock",
        "nph-longpoll",
        "longpoll",
        "nph-webcam",
        "webcam",
    ] {
        assert!(cgi.join(name).is_file(), "{name} in the archive");
    }
    assert!(cgi.join(".htaccess").is_file());
    let mercure = std::fs::read_to_string(cgi.parent().unwrap().join("mercure.html")).unwrap();
    assert!(
        mercure.contains("\"cgi-bin/nph-mercure\""),
        "the hub beside the page"
    );
    let install =
        std::fs::read_to_string(dir.path().join(archive_dir_name()).join("INSTALL")).unwrap();
    assert!(install.contains("only Linux 3.2.0 or later"), "{install}");

    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::create_dir_all(root.join("spool")).unwrap();
    for name in ["nph-clock", "nph-longpoll"] {
        std::fs::copy(cgi.join(name), root.join(name)).unwrap();
    }
    std::fs::write(
        root.join("serverpush.toml"),
        "spool_dir = \"spool\"\nopen_channels = [\"bare\"]\n",
    )
    .unwrap();
    let run = |program: &str, method: &str, query: &str, path_info: &str, body: &str| {
        let mut child = Command::new("/usr/bin/unshare")
            .arg("--mount")
            .arg(format!("--mount-proc={}", root.join("proc").display()))
            .arg("--fork")
            .arg("/usr/sbin/chroot")
            .arg(&root)
            .arg(format!("/{program}"))
            .env_clear()
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .env("SERVER_SOFTWARE", "bare-root")
            .env("SERVER_NAME", "127.0.0.1")
            .env("SERVER_PORT", "80")
            .env("REQUEST_METHOD", method)
            .env("QUERY_STRING", query)
            .env("PATH_INFO", path_info)
            .env("SCRIPT_NAME", format!("/cgi-bin/{program}"))
            .env("SCRIPT_FILENAME", format!("/{program}"))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("CONTENT_TYPE", "application/x-www-form-urlencoded")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (text, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (clock, stderr) = run("nph-clock", "GET", "transport=json", "", "");
    assert!(clock.starts_with("HTTP/1.1 200"), "{clock}{stderr}");
    // The config beside the program (found with no variable naming it), the spool relative to
    // it, a publish and a read.
    let (published, stderr) = run("nph-longpoll", "POST", "", "/bare", "data=inside");
    assert!(published.starts_with("HTTP/1.1 201"), "{published}{stderr}");
    let (read, stderr) = run("nph-longpoll", "GET", "since=0", "/bare", "");
    assert!(read.contains("inside"), "{read}{stderr}");
}
