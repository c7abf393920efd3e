//! Ring 2: `nph-webcam` run as a CGI program against camera files the tests write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serverpush::source::camsim::{Writing, jpeg, picture, write_frame};

use crate::client::multipart_parts;
use crate::harness::{Cgi, CgiRequest, split_head};
use crate::util::{bin, wait_for};

const T: Duration = Duration::from_secs(10);

/// A camera directory, a config naming it, and the test frames' bytes.
pub struct Camera {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub config: PathBuf,
}

impl Camera {
    pub fn new(extra_config: &str) -> Camera {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cam.jpg");
        let config = dir.path().join("serverpush.toml");
        std::fs::write(
            &config,
            format!(
                "{}\n{extra_config}\n[cameras]\ndefault = \"{}\"\nback = \"{}\"\n",
                if extra_config.contains("first_frame_wait_secs") {
                    ""
                } else {
                    "first_frame_wait_secs = 1"
                },
                file.display(),
                dir.path().join("back.jpg").display()
            ),
        )
        .unwrap();
        Camera { dir, file, config }
    }

    pub fn write(&self, number: u64, writing: Writing) {
        write_frame(&self.file, &frame(number), writing).unwrap();
    }

    pub fn run(&self, query: &str) -> Cgi {
        self.request(query).spawn(&bin("nph-webcam"))
    }

    pub fn request<'a>(&'a self, query: &'a str) -> CgiRequest<'a> {
        let mut req = CgiRequest::get("nph-webcam", query);
        req.config = Some(&self.config);
        req
    }
}

/// Test frame `number`: 96×64.
pub fn frame(number: u64) -> Vec<u8> {
    jpeg(&picture(96, 64, number), 80).unwrap()
}

/// Which test frame a part is, if it is one whole.
fn frame_numbers(parts: &[Vec<u8>], upto: u64) -> Vec<u64> {
    let table: HashMap<Vec<u8>, u64> = (1..=upto).map(|n| (frame(n), n)).collect();
    parts
        .iter()
        .map(|p| {
            *table
                .get(p)
                .unwrap_or_else(|| panic!("a part that is no whole test frame ({} bytes)", p.len()))
        })
        .collect()
}

fn parts_of(cgi: &mut Cgi, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + T;
    cgi.read_until_count(b"\r\n\r\n", 1, T);
    loop {
        let (_, body) = split_head(&cgi.out);
        let parts = multipart_parts(body);
        if parts.len() >= count {
            return parts;
        }
        assert!(
            Instant::now() < deadline,
            "wanted {count} parts, got {}",
            parts.len()
        );
        cgi.read_until_count(
            b"\r\n--",
            crate::client::occurrences(&cgi.out, b"\r\n--") + 1,
            T,
        );
    }
}

#[test]
fn frames_arrive_in_order_as_written() {
    let cam = Camera::new("");
    cam.write(1, Writing::Rename);
    let mut cgi = cam.run("");
    assert_eq!(frame_numbers(&parts_of(&mut cgi, 1), 1), vec![1]);
    let (head, _) = split_head(&cgi.out);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: multipart/x-mixed-replace;boundary="));
    for n in 2..=6 {
        cam.write(n, Writing::Rename);
        let parts = parts_of(&mut cgi, n as usize);
        assert_eq!(frame_numbers(&parts, 6), (1..=n).collect::<Vec<_>>());
    }
    assert!(cgi.out.windows(13).any(|w| w == b"X-Timestamp: "));
    assert!(cgi.alive());
}

#[test]
fn simulator_frames_arrive_in_order() {
    let cam = Camera::new("");
    let mut sim = std::process::Command::new(bin("serverpush-camsim"))
        .args([
            "--out",
            cam.file.to_str().unwrap(),
            "--fps",
            "20",
            "--width",
            "96",
            "--height",
            "64",
        ])
        .args(["--quality", "80", "--frames", "60"])
        .spawn()
        .unwrap();
    let mut cgi = cam.run("");
    let parts = parts_of(&mut cgi, 10);
    let numbers = frame_numbers(&parts, 60);
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order: {numbers:?}"
    );
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn a_frame_written_in_place_slowly_is_never_sent_torn() {
    let cam = Camera::new("");
    cam.write(1, Writing::Rename);
    let mut cgi = cam.run("");
    parts_of(&mut cgi, 1);
    for n in 2..=4 {
        cam.write(
            n,
            Writing::InPlaceSlowly {
                pause: Duration::from_millis(150),
            },
        );
        let parts = parts_of(&mut cgi, n as usize);
        // Every part is a whole frame (frame_numbers panics otherwise), each sent once.
        assert_eq!(frame_numbers(&parts, 4), (1..=n).collect::<Vec<_>>());
    }
}

#[test]
fn identical_rewrites_are_not_resent_and_keepalive_resends() {
    let cam = Camera::new("keepalive_secs = 2");
    cam.write(1, Writing::Rename);
    let mut cgi = cam.run("");
    parts_of(&mut cgi, 1);
    let start = Instant::now();
    cam.write(1, Writing::Rename);
    cam.write(
        1,
        Writing::InPlaceSlowly {
            pause: Duration::ZERO,
        },
    );
    // The next part is the keepalive, two seconds after the first, not the rewrites.
    let parts = parts_of(&mut cgi, 2);
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(frame_numbers(&parts, 1), vec![1, 1]);
    let parts = parts_of(&mut cgi, 3);
    assert_eq!(frame_numbers(&parts, 1), vec![1, 1, 1]);
}

#[test]
fn fps_caps_the_rate_and_the_newest_frame_wins() {
    let cam = Camera::new("");
    cam.write(1, Writing::Rename);
    let mut cgi = cam.run("fps=2");
    parts_of(&mut cgi, 1);
    let start = Instant::now();
    for n in 2..=20 {
        cam.write(n, Writing::Rename);
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = start.elapsed();
    let parts = parts_of(&mut cgi, 3);
    let numbers = frame_numbers(&parts, 20);
    // About one second of writing at 20 frames/s, capped to 2 frames/s: at most 3 parts in
    // that time, the last of them a recent frame.
    let in_time = (written.as_secs_f64() * 2.0).ceil() as usize + 1;
    assert!(numbers.len() <= in_time + 1, "{numbers:?}");
    cgi.read_until_count(b"\r\n--", 0, T);
    let all = frame_numbers(&multipart_parts(split_head(&cgi.out).1), 20);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let parts = parts_of(&mut cgi, numbers.len() + 1);
    assert_eq!(
        frame_numbers(&parts, 20).last(),
        Some(&20),
        "the newest frame wins"
    );
}

#[test]
fn snapshot_etag_and_304() {
    let cam = Camera::new("");
    cam.write(3, Writing::Rename);
    let (status, out, _) = cam.run("action=snapshot").finish(T);
    assert!(status.success());
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: image/jpeg"));
    assert!(head.contains(&format!("Content-Length: {}", frame(3).len())));
    assert!(head.contains("Last-Modified: "));
    assert_eq!(body, frame(3).as_slice());
    let etag = head
        .split("ETag: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .to_owned();

    let (_, out, _) = cam
        .request("action=snapshot")
        .var("HTTP_IF_NONE_MATCH", etag.clone())
        .spawn(&bin("nph-webcam"))
        .finish(T);
    let (head, body) = split_head(&out);
    assert!(head.starts_with("HTTP/1.1 304 Not Modified"), "{head}");
    assert!(body.is_empty());

    cam.write(4, Writing::Rename);
    let (_, out, _) = cam
        .request("action=snapshot")
        .var("HTTP_IF_NONE_MATCH", etag)
        .spawn(&bin("nph-webcam"))
        .finish(T);
    assert!(out.starts_with(b"HTTP/1.1 200 OK"));
}

#[test]
fn still_image_user_agent_gets_a_snapshot() {
    let cam = Camera::new("");
    cam.write(1, Writing::Rename);
    let (_, out, _) = cam
        .request("")
        .var(
            "HTTP_USER_AGENT",
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
        )
        .spawn(&bin("nph-webcam"))
        .finish(T);
    let (head, body) = split_head(&out);
    assert!(head.contains("Content-Type: image/jpeg"), "{head}");
    assert_eq!(body, frame(1).as_slice());
}

#[test]
fn width_and_quality_give_a_jpeg_of_the_asked_size() {
    let cam = Camera::new("webcam_widths = [32, 48]\nwebcam_qualities = [20, 50]");
    cam.write(1, Writing::Rename);
    let (_, out, _) = cam.run("action=snapshot&width=48&quality=50").finish(T);
    let (_, body) = split_head(&out);
    let image = image::load_from_memory_with_format(body, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((image.width(), image.height()), (48, 32));
    let mut cgi = cam.run("width=32&quality=20");
    let parts = parts_of(&mut cgi, 1);
    let image = image::load_from_memory_with_format(&parts[0], image::ImageFormat::Jpeg).unwrap();
    assert_eq!((image.width(), image.height()), (32, 21));
}

#[test]
fn camera_by_path_info() {
    let cam = Camera::new("");
    write_frame(&cam.dir.path().join("back.jpg"), &frame(7), Writing::Rename).unwrap();
    let (_, out, _) = cam
        .request("action=snapshot")
        .var("PATH_INFO", "/back")
        .spawn(&bin("nph-webcam"))
        .finish(T);
    assert_eq!(split_head(&out).1, frame(7).as_slice());
}

#[test]
fn a_stream_waits_for_the_first_frame() {
    let cam = Camera::new("first_frame_wait_secs = 5");
    let mut cgi = cam.run("");
    // Waiting for it: watching the camera's directory, with nothing written.
    wait_for(T, "the stream to watch for its first frame", || {
        cgi.watching().then_some(())
    });
    assert!(cgi.out.is_empty() && cgi.alive());
    cam.write(2, Writing::Rename);
    assert_eq!(frame_numbers(&parts_of(&mut cgi, 1), 2), vec![2]);
}

fn status_of(cam: &Camera, query: &str) -> (u16, String, String) {
    let (status, out, stderr) = cam.run(query).finish(T);
    assert!(status.success(), "{query}: {status}");
    assert!(!stderr.contains("panicked"), "{query}: {stderr}");
    let (head, body) = split_head(&out);
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, String::from_utf8_lossy(body).into_owned(), stderr)
}

#[test]
fn bad_input_gets_a_clear_4xx_or_503() {
    let cam = Camera::new("");
    cam.write(1, Writing::Rename);
    for (query, want) in [
        ("cam=nope", 404),
        ("cam=../../etc/passwd", 404),
        ("cam=%2e%2e%2f", 404),
        ("cam=/etc/passwd", 404),
        ("cam=default%00", 404),
        ("fps=0", 400),
        ("fps=-1", 400),
        ("fps=NaN", 400),
        ("fps=1e9", 400),
        ("width=0", 400),
        ("width=100000", 400),
        ("quality=0", 400),
        ("quality=101", 400),
    ] {
        let (code, body, stderr) = status_of(&cam, query);
        assert_eq!(code, want, "{query}: {body}");
        assert!(
            !body.is_empty() && stderr.contains(&want.to_string()),
            "{query}"
        );
    }
}

#[test]
fn broken_camera_files_get_503() {
    let cam = Camera::new("first_frame_wait_secs = 0");
    type Setup = Box<dyn Fn(&Path)>;
    let setups: Vec<(&str, Setup)> = vec![
        ("missing", Box::new(|_: &Path| {})),
        (
            "empty",
            Box::new(|p: &Path| std::fs::write(p, b"").unwrap()),
        ),
        (
            "a directory",
            Box::new(|p: &Path| std::fs::create_dir(p).unwrap()),
        ),
        (
            "not an image",
            Box::new(|p: &Path| std::fs::write(p, b"hello, not a picture").unwrap()),
        ),
        (
            "torn",
            Box::new(|p: &Path| std::fs::write(p, &frame(1)[..500]).unwrap()),
        ),
    ];
    for (what, setup) in setups {
        let _ = std::fs::remove_file(&cam.file);
        let _ = std::fs::remove_dir(&cam.file);
        setup(&cam.file);
        for query in ["", "action=snapshot"] {
            let (code, body, _) = status_of(&cam, query);
            assert_eq!(code, 503, "{what} {query}: {body}");
            assert!(body.contains("camera"), "{what}: {body}");
        }
    }
}

/// A re-encoded variant is made once per frame for all its viewers: viewers take it from the
/// shared cache (a planted cache entry is what they get), and only the widths and qualities
/// the config lists can be asked for.
#[test]
fn variants_are_shared_and_limited_to_the_config() {
    let cache = tempfile::tempdir().unwrap();
    let frames = cache.path().join("frames");
    let cam = Camera::new(&format!(
        "webcam_widths = [48]\nwebcam_qualities = [50]\nframe_cache_dir = \"{}\"",
        frames.display()
    ));
    cam.write(1, Writing::Rename);
    // The first viewer encodes and leaves the variant in the cache.
    let (_, out, _) = cam.run("action=snapshot&width=48&quality=50").finish(T);
    let (_, first) = split_head(&out);
    let digest = serverpush::source::frame::digest(&frame(1));
    let entry = frames.join(format!("{digest:016x}-w48-q50.jpg"));
    assert_eq!(std::fs::read(&entry).unwrap(), first);
    // Later viewers read it instead of encoding: a planted entry is what they are sent.
    let planted = jpeg(&picture(48, 32, 99), 50).unwrap();
    std::fs::write(&entry, &planted).unwrap();
    for _ in 0..3 {
        let mut viewer = cam.run("width=48&quality=50");
        assert_eq!(parts_of(&mut viewer, 1)[0], planted);
    }
    // A variant the config does not list is refused.
    for query in ["width=32", "quality=20", "width=48&quality=51"] {
        let (_, out, _) = cam.run(query).finish(T);
        let (head, body) = split_head(&out);
        assert!(head.starts_with("HTTP/1.1 400"), "{query}: {head}");
        assert!(String::from_utf8_lossy(body).contains("must be one of"));
    }
}
