//! The third security review's findings, each reproduced by a test that failed before its fix:
//! a root publish and the spool owner's links, idempotency keys that survive a killed publisher
//! and belong to their publisher, a wiped channel under an open stream, the streams cap, and the
//! rights' edge cases. (The browser client's findings are in `client_js`, the terminal's and
//! the config's in `command`.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::{Cgi, CgiRequest, split_head};
use crate::longpoll::{Spool, TOKEN};
use crate::util::{add_user, bin, require_tool, wait_for};

const T: Duration = Duration::from_secs(20);
const SECRET: &str = "a-test-secret-of-more-than-32-bytes!";

/// An unprivileged user made for one test and removed after it.
struct ThrowawayUser {
    name: String,
}

impl ThrowawayUser {
    fn new() -> ThrowawayUser {
        // One name per test of this run: tests run in parallel.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("sptest{}x{n}", std::process::id() % 100_000);
        add_user(
            &name,
            &[
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ],
        );
        ThrowawayUser { name }
    }

    fn uid(&self) -> u32 {
        let out = Command::new("id")
            .arg("-u")
            .arg(&self.name)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

fn chown(path: &Path, user: &str) {
    let out = Command::new("chown")
        .arg("-h")
        .arg(format!("{user}:{user}"))
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "chown {}: {out:?}", path.display());
}

/// `serverpush publish status hello` with the spool's config, as this process's user (root).
fn publish_status(spool: &Spool) -> std::process::Output {
    Command::new(bin("serverpush"))
        .arg("publish")
        .arg("--config")
        .arg(&spool.config)
        .args(["status", "hello"])
        .output()
        .unwrap()
}

/// Finding 1: a root `serverpush publish` (a cron job) into a spool its web user owns follows
/// none of that user's links and acts as that user.
#[test]
fn a_root_publish_never_follows_the_spool_owners_links() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (it makes a user)"
    );
    let user = ThrowawayUser::new();
    let spool = Spool::new("");
    std::fs::set_permissions(spool.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown(&spool.spool, &user.name);
    // A directory only root may write, with a root-only file in it.
    let vault = spool.dir.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = vault.join("secret");
    std::fs::write(&secret, "root's own").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    // What the web server's user plants: a channel whose lock points into the vault, and links
    // at the names the store writes over.
    let channel = spool.spool.join("status");
    std::fs::create_dir(&channel).unwrap();
    std::os::unix::fs::symlink(vault.join("made-by-lock"), channel.join("lock")).unwrap();
    std::os::unix::fs::symlink(&secret, channel.join("epoch")).unwrap();
    std::os::unix::fs::symlink(&vault, channel.join(".waiting")).unwrap();
    for name in [&channel, &channel.join("lock"), &channel.join("epoch")] {
        chown(name, &user.name);
    }
    let publish = || publish_status(&spool);
    let refused = publish();
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        !vault.join("made-by-lock").exists(),
        "the lock's link was followed"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a regular file"),
        "{refused:?}"
    );
    std::fs::remove_file(channel.join("lock")).unwrap();
    let done = publish();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's own");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The store acted as the spool's owner: what it made is that user's.
    let message = std::fs::read_dir(&channel)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".msg"))
        .unwrap();
    assert_eq!(message.metadata().unwrap().uid(), user.uid());
    assert_eq!(
        std::fs::symlink_metadata(channel.join("epoch"))
            .unwrap()
            .uid(),
        user.uid()
    );
    assert!(
        std::fs::symlink_metadata(channel.join("epoch"))
            .unwrap()
            .is_file()
    );
}

/// Publishes `text` with `key` through `nph-longpoll`, killed by strace at its `when`th call of
/// `calls` (`when` 0: not killed); the status line's code, when it answered.
fn keyed_publish(spool: &Spool, text: &str, key: &str, calls: &str, when: u32) -> Option<u16> {
    let req = spool
        .post("idem", text.as_bytes())
        .var("HTTP_IDEMPOTENCY_KEY", key.to_owned());
    let cgi = if when == 0 {
        req.spawn(&bin("nph-longpoll"))
    } else {
        let inject = format!("inject={calls}:signal=KILL:when={when}");
        req.spawn_with(
            &[
                "/usr/bin/strace",
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                &inject,
                "--",
            ],
            &bin("nph-longpoll"),
        )
    };
    let (_, out, _) = cgi.finish(T);
    // A killed publisher may have written nothing.
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).and_then(|c| c.parse().ok())
}

/// Finding 2: a publisher killed at any step of a keyed publish (at each file it opens or
/// makes, and at each rename), then retried with its key, leaves its message stored exactly
/// once.
#[test]
fn a_keyed_publish_killed_at_any_step_is_stored_once_by_its_retry() {
    require_tool("/usr/bin/strace", "strace");
    let steps = [("rename,renameat,renameat2", 4), ("openat", 40)];
    for (calls, most) in steps {
        for when in 1..=most {
            let spool = Spool::new("");
            let text = format!("once-{when}");
            let killed = keyed_publish(&spool, &text, "retry-1", calls, when);
            let retried = keyed_publish(&spool, &text, "retry-1", calls, 0);
            assert_eq!(retried, Some(201), "killed at {calls} {when}");
            let v = spool.json(spool.get("channel=idem&since=idem:0&timeout=0"));
            let data = Spool::datas(&v);
            assert_eq!(
                data,
                vec![text.as_str()],
                "killed at {calls} {when} (answered {killed:?})"
            );
        }
    }
}

/// Finding 3: a key is its publisher's, byte for byte.
#[test]
fn idempotency_keys_are_scoped_to_their_publisher() {
    let spool = Spool::new("");
    let publish = |user: &str, text: &'static str, key: &str| {
        let mut req = spool.get("channel=open");
        req.method = "POST";
        req.body = text.as_bytes();
        let req = req
            .var("REMOTE_USER", user.to_owned())
            .var("HTTP_IDEMPOTENCY_KEY", key.to_owned());
        let (code, body) = spool.run(req);
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (code, v["id"].as_u64(), v["duplicate"].as_bool())
    };
    assert_eq!(publish("ann", "from ann", "K"), (201, Some(1), None));
    assert_eq!(publish("bob", "from bob", "K"), (201, Some(2), None));
    assert_eq!(publish("ann", "from ann", "K"), (201, Some(1), Some(true)));
    // Not trimmed into another publisher's key: refused as it is.
    assert_eq!(publish("ann", "spaced", " K").0, 400);
    let v = spool.json(spool.get("channel=open&since=open:0&timeout=0"));
    assert_eq!(v["messages"].as_array().unwrap().len(), 2, "{v}");
}

/// Finding 4: a stream whose channel directory is wiped hears the channel made again at once,
/// not at its next heartbeat.
#[test]
fn a_stream_hears_a_wiped_channel_made_again() {
    let spool = Spool::new("heartbeat_secs = 60\n");
    let publish = |text: &'static str| {
        let (code, _) = spool.run(spool.post("wiped", text.as_bytes()));
        assert_eq!(code, 201);
    };
    publish("before");
    let mut sse = spool
        .get("channel=wiped&transport=sse&since=wiped:0")
        .spawn(&bin("nph-longpoll"));
    sse.read_until_count(b"before", 1, T);
    wait_for(T, "the stream to watch", || sse.watching().then_some(()));
    std::fs::remove_dir_all(spool.spool.join("wiped")).unwrap();
    let started = Instant::now();
    publish("after one");
    sse.read_until_count(b"after one", 1, Duration::from_secs(5));
    publish("after two");
    sse.read_until_count(b"after two", 1, Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&sse.out).contains("event: missed"));
    kill(sse);
}

fn kill(mut cgi: Cgi) {
    cgi.signal("KILL");
    cgi.wait_exit(T);
}

/// Finding 7: a webcam viewer waiting for a first frame holds a slot, so the cap counts it.
#[test]
fn webcam_viewers_waiting_for_a_first_frame_hold_slots() {
    let spool = Spool::new("max_streams = 3\nfirst_frame_wait_secs = 30\n");
    let cam = spool.dir.path().join("cam.jpg");
    let mut config = std::fs::read_to_string(&spool.config).unwrap();
    config.push_str(&format!("[cameras]\ndefault = \"{}\"\n", cam.display()));
    std::fs::write(&spool.config, config).unwrap();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut req = CgiRequest::get("nph-webcam", "");
        req.config = Some(&spool.config);
        let viewer = req.spawn(&bin("nph-webcam"));
        waiting.push(viewer);
    }
    // Each of the three holds its slot before it waits: wait until all do, then nine more.
    let streams = spool.dir.path().join("streams");
    wait_for(T, "three slots held", || {
        (held_slots(&streams) == 3).then_some(())
    });
    for _ in 0..9 {
        let mut req = CgiRequest::get("nph-webcam", "");
        req.config = Some(&spool.config);
        let (_, out, _) = req.spawn(&bin("nph-webcam")).finish(Duration::from_secs(5));
        let (head, _) = split_head(&out);
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    }
    for viewer in waiting {
        kill(viewer);
    }
}

/// How many slot files in `dir` are locked by a process (from `/proc/locks` against their
/// inodes).
fn held_slots(dir: &Path) -> usize {
    let inodes: Vec<u64> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.ino())
                .collect()
        })
        .unwrap_or_default();
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .filter(|l| l.contains("FLOCK"))
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|field| field.rsplit(':').next()?.parse::<u64>().ok())
        .filter(|ino| inodes.contains(ino))
        .count()
}

/// Finding 7: without `streams_dir` the slots live in the spool, where only the programs' user
/// can make them.
#[test]
fn stream_slots_live_in_the_spool_by_default() {
    let spool = Spool::new("streams_dir = \"\"\nmax_streams = 1\n");
    let mut first = spool
        .get("channel=cap&transport=sse")
        .spawn(&bin("nph-longpoll"));
    first.read_until_count(b"\r\n\r\n", 1, T);
    let slots = spool.spool.join("+streams");
    wait_for(T, "a slot in the spool", || {
        (held_slots(&slots) == 1).then_some(())
    });
    let (code, body) = spool.run(spool.get("channel=cap&transport=sse"));
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));
    kill(first);
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(claims: Value) -> String {
    token_with_header(Header::new(Algorithm::HS256), claims)
}

fn token_with_header(header: Header, claims: Value) -> String {
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// The status code of `req` run by `program`.
fn code_of(req: CgiRequest, program: &str) -> u16 {
    let (exit, out, stderr) = req.spawn(&bin(program)).finish(T);
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (head, _) = split_head(&out);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A site with private files and cameras, for finding 9.
fn private_site() -> Spool {
    let dir = std::env::temp_dir();
    Spool::new(&format!(
        "jwt_secret = \"{SECRET}\"\nprivate_channels = [\"room.*\"]\nprivate_files = [\"*\"]\nprivate_cameras = [\"yard\", \"pool.*\"]\nremote_user_channels = [\"{{user}}*\"]\n[files]\nsecret = \"{0}/secret.txt\"\n[cameras]\nyard = \"{0}/yard.jpg\"\nstreet = \"{0}/street.jpg\"\n",
        dir.display()
    ))
}

/// Finding 9: a channel pattern grants channels only, never files or cameras.
#[test]
fn a_channel_pattern_grants_no_file_or_camera() {
    let site = private_site();
    let as_user = |query: &'static str, user: &'static str, program: &'static str| {
        let mut req = CgiRequest::get(program, query);
        req.config = Some(&site.config);
        code_of(req.var("REMOTE_USER", user), program)
    };
    assert_eq!(
        as_user("file=secret&timeout=0", "file", "nph-longpoll"),
        403
    );
    assert_eq!(
        as_user("cam=yard&action=snapshot", "camera", "nph-webcam"),
        403
    );
    // The user's own channels still are granted.
    assert_eq!(
        as_user("channel=room.z.1&timeout=0", "room.z", "nph-longpoll"),
        200
    );
    let t = token(json!({ "exp": now() + 3600, "serverpush": { "subscribe": ["*"] } }));
    let mut req = CgiRequest::get("nph-longpoll", "");
    let q = format!("file=secret&timeout=0&token={t}");
    req.query = q.as_bytes();
    req.config = Some(&site.config);
    assert_eq!(code_of(req, "nph-longpoll"), 403);
}

/// Finding 9: a stranger learns no private camera's or file's name.
#[test]
fn private_names_are_not_told_to_strangers() {
    let site = private_site();
    let cam = |query: &'static str| {
        let mut req = CgiRequest::get("nph-webcam", query);
        req.config = Some(&site.config);
        let (_, out, _) = req.spawn(&bin("nph-webcam")).finish(T);
        let (head, body) = split_head(&out);
        (
            head.split(' ').nth(1).unwrap().to_owned(),
            String::from_utf8_lossy(body).into_owned(),
        )
    };
    let (code, list) = cam("action=list");
    assert_eq!(code, "200");
    assert!(list.contains("street") && !list.contains("yard"), "{list}");
    // A private camera that exists and one that does not look alike.
    assert_eq!(cam("cam=yard&action=snapshot").0, "401");
    assert_eq!(cam("cam=pool.deep&action=snapshot").0, "401");
    let file = |query: &'static str| {
        let mut req = CgiRequest::get("nph-longpoll", query);
        req.config = Some(&site.config);
        code_of(req, "nph-longpoll")
    };
    assert_eq!(file("file=secret&timeout=0"), 401);
    assert_eq!(file("file=nosuch&timeout=0"), 401);
}

/// Finding 9: the origin rule, bearer schemes in any case, quoted and neighbouring cookies,
/// `crit`, and which credential a publish is judged on.
#[test]
fn rights_edge_cases() {
    let site = private_site();
    let publish_token =
        token(json!({ "exp": now() + 3600, "serverpush": { "publish": ["room.a"] } }));
    let post = |vars: Vec<(&'static str, String)>| {
        let mut req = site.get("");
        req.method = "POST";
        req.body = b"hi";
        let mut req = req.var("PATH_INFO", "/room.a");
        for (k, v) in vars {
            req = req.var(k, v);
        }
        code_of(req, "nph-longpoll")
    };
    // A user's channel on basic auth: only from the site's own origin, over http or https.
    let by_user = |origin: &str| {
        post(vec![
            ("REMOTE_USER", "room.a".to_owned()),
            ("HTTP_HOST", "example.test".to_owned()),
            ("HTTP_ORIGIN", origin.to_owned()),
        ])
    };
    assert_eq!(by_user("http://example.test"), 201);
    assert_eq!(by_user("https://example.test"), 201);
    assert_eq!(by_user("ftp://example.test"), 403);
    assert_eq!(by_user("example.test://example.test"), 403);
    // A header token granting the channel is enough, even beside a user whose own right to the
    // channel would need the origin this request does not have.
    assert_eq!(
        post(vec![
            ("HTTP_AUTHORIZATION", format!("bearer {publish_token}")),
            ("REMOTE_USER", "room.a".to_owned()),
            ("HTTP_HOST", "example.test".to_owned()),
            ("HTTP_ORIGIN", "https://elsewhere.test".to_owned()),
        ]),
        201
    );
    let subscribe_token =
        token(json!({ "exp": now() + 3600, "serverpush": { "subscribe": ["room.a"] } }));
    let subscribe = |vars: Vec<(&'static str, Vec<u8>)>| {
        let mut req = site.get("channel=room.a&timeout=0");
        for (k, v) in vars {
            req = req.var(k, v);
        }
        code_of(req, "nph-longpoll")
    };
    assert_eq!(
        subscribe(vec![(
            "HTTP_AUTHORIZATION",
            format!("BEARER {subscribe_token}").into_bytes()
        )]),
        200
    );
    assert_eq!(
        subscribe(vec![(
            "HTTP_COOKIE",
            format!("serverpush_token=\"{subscribe_token}\"").into_bytes()
        )]),
        200
    );
    let mut cookies = b"site=\xff\xfe; ".to_vec();
    cookies.extend_from_slice(format!("serverpush_token={subscribe_token}").as_bytes());
    assert_eq!(subscribe(vec![("HTTP_COOKIE", cookies)]), 200);
    let mut critical = Header::new(Algorithm::HS256);
    critical.crit = Some(vec!["exp".to_owned()]);
    let critical = token_with_header(
        critical,
        json!({ "exp": now() + 3600, "serverpush": { "subscribe": ["room.a"] } }),
    );
    assert_eq!(
        subscribe(vec![(
            "HTTP_AUTHORIZATION",
            format!("Bearer {critical}").into_bytes()
        )]),
        401
    );
    // The publish token (not a JWT) still works, in any case of the scheme.
    let mut req = site.post("room.b", b"x");
    req.vars.retain(|(k, _)| *k != "HTTP_AUTHORIZATION");
    let req = req.var("HTTP_AUTHORIZATION", format!("bearer {TOKEN}"));
    assert_eq!(code_of(req, "nph-longpoll"), 201);
}

/// Finding 7: `serverpush check` says loudly when the slot directory is another user's (made
/// first in a place every user may write), and warns about such a place.
#[test]
fn check_says_when_the_streams_cap_is_off() {
    let (user, _) = crate::fixtures::run_as();
    let spool = Spool::new("");
    let planted = spool.dir.path().join("shared");
    std::fs::create_dir(&planted).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let slots = planted.join("slots");
    std::fs::create_dir(&slots).unwrap();
    let other = ThrowawayUser::new();
    chown(&slots, &other.name);
    let text = std::fs::read_to_string(&spool.config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("streams_dir"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    std::fs::write(
        &spool.config,
        format!("{text}streams_dir = \"{}\"\n", slots.display()),
    )
    .unwrap();
    let empty = spool.dir.path().join("none");
    let out = Command::new(bin("serverpush"))
        .arg("check")
        .arg("--config")
        .arg(&spool.config)
        .args(["--user", &user])
        .arg("--apache-dir")
        .arg(&empty)
        .arg("--lighttpd-dir")
        .arg(&empty)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("max_streams is NOT enforced") && report.contains("belongs to uid"),
        "{report}"
    );
    assert!(
        report.contains("where every local user may write"),
        "{report}"
    );
}

/// Finding 7: a HEAD for a camera stream is answered at once, waits for no frame and takes no
/// slot, even with every slot taken.
#[test]
fn a_head_for_a_camera_stream_waits_for_nothing() {
    let spool = Spool::new("max_streams = 0\nfirst_frame_wait_secs = 30\n");
    let cam = spool.dir.path().join("cam.jpg");
    let mut config = std::fs::read_to_string(&spool.config).unwrap();
    config.push_str(&format!("[cameras]\ndefault = \"{}\"\n", cam.display()));
    std::fs::write(&spool.config, config).unwrap();
    let mut req = CgiRequest::get("nph-webcam", "");
    req.method = "HEAD";
    req.config = Some(&spool.config);
    let started = Instant::now();
    let (_, out, _) = req.spawn(&bin("nph-webcam")).finish(T);
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("multipart/x-mixed-replace") && body.is_empty(),
        "{head}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Finding 1: as root, a publish refuses a spool that does not exist (it would be root's) and
/// one that is root's but writable by others.
#[test]
fn a_root_publish_refuses_a_missing_or_shared_root_spool() {
    assert!(rustix::process::geteuid().is_root(), "this test needs root");
    let spool = Spool::new("");
    let publish = || publish_status(&spool);
    std::fs::set_permissions(&spool.spool, std::fs::Permissions::from_mode(0o777)).unwrap();
    let shared = publish();
    assert!(!shared.status.success(), "{shared:?}");
    assert!(String::from_utf8_lossy(&shared.stderr).contains("others may write"));
    assert!(!spool.spool.join("status").exists());
    std::fs::remove_dir(&spool.spool).unwrap();
    let missing = publish();
    assert!(!missing.status.success(), "{missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
    assert!(!spool.spool.exists());
}
