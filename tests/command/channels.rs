//! `serverpush channels`, `tail` and `publish` on a private spool and a private Redis.

use std::process::Command;

use super::{no_control_characters, serverpush, text};
use crate::util::bin;

#[test]
fn channels_and_tail_read_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serverpush.toml");
    // The spool is made first, as the package or an admin makes it: a root publish does not.
    std::fs::create_dir(dir.path().join("spool")).unwrap();
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
