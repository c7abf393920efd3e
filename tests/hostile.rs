//! Hostile input and faults, each reproduced first, each with a clear answer and nothing stored
//! wrongly: chunked bodies, answers bounded in memory, subscribers that must not create
//! channels, FIFOs and symlinks where files should be, form data that is not UTF-8, a full disk
//! and a missing spool.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::harness::split_head;
use crate::longpoll::{Spool, bare};
use crate::util::{StoreExt, bin, ch, require_tool};

const T: Duration = Duration::from_secs(30);

/// Publishes `body` with no `CONTENT_LENGTH`, as Apache passes a chunked request body.
#[test]
fn a_body_without_a_length_is_read_to_its_end() {
    let spool = Spool::new("");
    let mut req = spool.post("chunked", b"sent in chunks");
    // The harness sets CONTENT_LENGTH for a body; a server passing a chunked body does not.
    req.vars.push(("CONTENT_LENGTH", Vec::new()));
    let (code, body) = spool.run(req);
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let v = spool.json(spool.get("channel=chunked&since=0"));
    assert_eq!(v["messages"][0]["data"], "sent in chunks");
    let big = vec![b'x'; 70_000];
    let mut req = spool.post("chunked", &big);
    req.vars.push(("CONTENT_LENGTH", Vec::new()));
    assert_eq!(spool.run(req).0, 413);
    assert_eq!(spool.store().last_id("chunked"), 1, "nothing more stored");
}

/// A chunked POST through a real server is stored whole.
fn chunked_post_through(server: &Server, site: &Site) {
    let body = "hello in two chunks";
    let mut r = request(
        server.port,
        "POST",
        "/cgi-bin/nph-longpoll/chat",
        "HTTP/1.1",
        &[
            "Transfer-Encoding: chunked",
            "Content-Type: text/plain",
            "Connection: close",
            "\r\n6\r\nhello \r\nd\r\nin two chunks\r\n0\r\n\r\n",
        ],
    );
    assert_eq!(r.status(), 201, "{}: {}", server.name, r.head_text());
    r.read_complete(T);
    let mut store = serverpush::store::SpoolStore::new(
        &site.spool,
        serverpush::store::Retention {
            messages: 100,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        },
    );
    use serverpush::store::ChannelStore;
    let batch = store.read_after(&ch("chat"), 0, 10).unwrap();
    assert_eq!(batch.messages.len(), 1, "{}", server.name);
    assert_eq!(batch.messages[0].data, body, "{}", server.name);
}

#[test]
fn a_chunked_post_through_every_server() {
    for (_, start) in crate::fixtures::SERVERS {
        let site = Site::new(crate::served::LONGPOLL_CONFIG);
        chunked_post_through(&start(&site), &site);
    }
}

/// Runs `nph-longpoll` for `query` under `/usr/bin/time`; returns the body and the peak RSS in
/// KiB.
fn peak_memory(spool: &Spool, query: &str) -> (Vec<u8>, u64) {
    require_tool("/usr/bin/time", "time");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss=%M"])
        .arg(bin("nph-longpoll"))
        .env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "GET")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("QUERY_STRING", query)
        .env("SERVERPUSH_CONFIG", &spool.config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss in {stderr}"));
    let (_, body) = split_head(&out.stdout);
    (body.to_vec(), kib)
}

/// Channels full of large messages that JSON escapes sixfold: every answer stays within
/// `max_answer_bytes` (one message more at most), the process's peak memory stays small, and
/// following the cursor delivers everything once.
#[test]
fn answers_are_bounded_whatever_the_channels_hold() {
    let spool = Spool::new("max_message_bytes = 65536\n");
    let mut store = spool.store();
    let control = "\u{1}".repeat(60_000);
    for n in 0..40 {
        store.put("big1", &format!("{n}{control}"));
        store.put("big2", &format!("{n}{control}"));
    }
    let mut cursor = "big1:0,big2:0".to_owned();
    let mut got = 0;
    let mut answers = 0;
    let mut peak = 0;
    while got < 80 {
        answers += 1;
        assert!(answers < 100, "no progress");
        let query = format!("channel=big1&channel=big2&since={cursor}");
        let (body, kib) = peak_memory(&spool, &query);
        peak = peak.max(kib);
        assert!(
            body.len() <= (1 << 20) + 6 * 65_536 + 4096,
            "answer of {} bytes",
            body.len()
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        got += v["messages"].as_array().unwrap().len();
        cursor = v["cursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(got, 80);
    assert_eq!(bare(&Value::from(cursor)), "big1:40,big2:40");
    assert!(
        answers >= 20,
        "each answer carries about 1 MiB: {answers} answers"
    );
    // Unbounded, one answer would hold 80 × 360 KiB of JSON (and more while building it).
    assert!(peak < 12 * 1024, "peak RSS {peak} KiB");
}

/// A subscriber never creates a channel (any GET would leave directories behind), yet one
/// waiting on a channel that does not exist wakes when its first message is published. A
/// stream waits in the pending room, which no listing shows as a channel.
#[test]
fn subscribers_never_create_channels() {
    let spool = Spool::new("");
    let waiting = spool
        .get("channel=later&channel=never&timeout=20")
        .spawn(&bin("nph-longpoll"));
    for query in ["channel=ghost1&timeout=0", "channel=ghost2&transport=sse"] {
        let mut cgi = spool.get(query).spawn(&bin("nph-longpoll"));
        cgi.read_until_count(b"HTTP/1.1 200", 1, T);
    }
    let started = Instant::now();
    spool.store().put("later", "first");
    let (_, out, stderr) = waiting.finish(T);
    let (_, body) = split_head(&out);
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(v["messages"][0]["data"], "first");
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut dirs: Vec<String> = std::fs::read_dir(&spool.spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The spool's rooms for channels not made yet, where long-polls and streams wait.
        .filter(|name| {
            name != serverpush::store::bell::NEW_CHANNELS_ROOM
                && name != serverpush::store::spool::pending::PENDING_ROOM
        })
        .collect();
    dirs.sort();
    assert_eq!(dirs, vec!["later"], "only the published channel exists");
    let listed = serverpush::store::ChannelStore::channels(&mut spool.store()).unwrap();
    assert_eq!(
        listed.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["later"]
    );
}

/// A FIFO where a camera, a watched file or a message should be, and symlinks in the spool:
/// answered at once, never waited on, never followed.
#[test]
fn fifos_and_symlinks_are_refused_at_once() {
    let files = tempfile::tempdir().unwrap();
    let fifo = files.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let spool = Spool::new(&format!(
        "first_frame_wait_secs = 0\n[files]\npipe = \"{0}\"\n[cameras]\npipe = \"{0}\"\n",
        fifo.display()
    ));
    let started = Instant::now();
    let (_, out, stderr) = spool
        .get("file=pipe&timeout=0")
        .spawn(&bin("nph-longpoll"))
        .finish(T);
    let (head, _) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 500"), "a watched FIFO: {head}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    let mut cam = crate::harness::CgiRequest::get("nph-webcam", "cam=pipe&action=snapshot");
    cam.config = Some(&spool.config);
    let (_, out, stderr) = cam.spawn(&bin("nph-webcam")).finish(T);
    let (head, _) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "nothing waited on the FIFO"
    );

    // A FIFO, then a symlink to a file outside, where messages 2 and 3 should be.
    let mut store = spool.store();
    store.put("m", "one");
    let dir = spool.spool.join("m");
    let made = Command::new("mkfifo")
        .arg(dir.join(format!("{:020}.msg", 2)))
        .status()
        .unwrap();
    assert!(made.success());
    let outside = files.path().join("secret.msg");
    std::fs::write(
        &outside,
        "{\"time\":\"2020-01-01T00:00:00.000Z\",\"type\":\"text/plain\"}\nsecret",
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(format!("{:020}.msg", 3))).unwrap();
    let v = spool.json(spool.get("channel=m&since=0&timeout=0"));
    let datas = Spool::datas(&v);
    assert_eq!(
        datas,
        vec!["one"],
        "neither the FIFO nor the link is served"
    );
    assert_eq!(v["missed"], true);
    assert_eq!(bare(&v["cursor"]), "m:3");

    // A channel directory that is a symlink receives nothing.
    let elsewhere = files.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, spool.spool.join("linked")).unwrap();
    let (_, out, stderr) = spool
        .post("linked", b"x")
        .spawn(&bin("nph-longpoll"))
        .finish(T);
    let (head, _) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert!(stderr.contains("not a directory"), "{stderr}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn form_data_that_is_not_utf8_is_415_like_a_raw_body() {
    let spool = Spool::new("");
    let form = spool
        .post("f", b"data=%FF%FE")
        .var("CONTENT_TYPE", "application/x-www-form-urlencoded");
    assert_eq!(spool.run(form).0, 415);
    assert_eq!(spool.run(spool.post("f", b"\xff\xfe")).0, 415);
    assert_eq!(spool.store().last_id("f"), 0);
}

/// Mounts a tmpfs of `size` at `at`; unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root");
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk: publishes get 507 with the reason in the log, every stored message stays
/// intact and readable, a waiting subscriber is unaffected, and no temporary file is left.
#[test]
fn a_full_disk_is_507_and_loses_nothing_stored() {
    let spool = Spool::new("");
    let _disk = Tmpfs::mount(&spool.spool, "256k");
    let mut stored = Vec::new();
    let payload = "x".repeat(3000);
    let mut refused = None;
    for n in 0..400 {
        let body = format!("{n}:{payload}");
        let (status, out, stderr) = spool
            .post("full", body.as_bytes())
            .spawn(&bin("nph-longpoll"))
            .finish(T);
        assert!(status.success(), "{stderr}");
        let (head, _) = split_head(&out);
        if head.starts_with("HTTP/1.1 201") {
            stored.push(body);
        } else {
            refused = Some((head, stderr));
            break;
        }
    }
    let (head, stderr) = refused.expect("the disk filled up");
    assert!(head.starts_with("HTTP/1.1 507"), "{head}");
    assert!(stderr.contains("full"), "{stderr}");
    assert!(!stored.is_empty());
    let v = spool.json(spool.get("channel=full&since=0&timeout=0"));
    let got: Vec<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, stored, "every stored message, intact");
    let leftovers: Vec<_> = std::fs::read_dir(spool.spool.join("full"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A subscriber waiting at the end of the full channel waits as usual, unharmed.
    let query = format!(
        "channel=full&since={}&timeout=1",
        v["cursor"].as_str().unwrap()
    );
    let started = Instant::now();
    let v = spool.json(spool.get(&query));
    assert_eq!(v["messages"].as_array().unwrap().len(), 0);
    assert_eq!(v["missed"], false);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// A spool that is missing or that the programs cannot write: a clear 500 whose log line names
/// the directory, and no system error text in the answer.
#[test]
fn a_missing_or_unwritable_spool_is_a_clear_500() {
    let spool = Spool::new("");
    std::fs::remove_dir(&spool.spool).unwrap();
    // The exit status says the program failed; the answer is complete all the same.
    let (_, out, stderr) = spool
        .get("channel=a&timeout=5")
        .spawn(&bin("nph-longpoll"))
        .finish(T);
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert!(
        stderr.contains(&spool.spool.display().to_string()),
        "{stderr}"
    );
    let body = String::from_utf8_lossy(body);
    assert!(
        !body.contains("No such file") && !body.contains("os error"),
        "{body}"
    );

    // Unwritable: a read-only tmpfs.
    std::fs::create_dir(&spool.spool).unwrap();
    let _ro = Tmpfs::mount(&spool.spool, "64k");
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&spool.spool)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let (_, out, stderr) = spool.post("a", b"x").spawn(&bin("nph-longpoll")).finish(T);
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert!(
        stderr.contains("Read-only") || stderr.contains("read-only"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(body).contains("os error"));
}
