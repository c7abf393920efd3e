//! Scenario 6: webcam frames to many viewers.

#[allow(unused_imports)]
use super::*;

// Scenario 6: webcam

pub(crate) struct Webcam {
    pub(crate) name: String,
    pub(crate) viewers: usize,
    pub(crate) min_fps: f64,
    pub(crate) median_fps: f64,
    pub(crate) delay_p50: f64,
    pub(crate) delay_p99: f64,
}

/// Reads parts and their `X-Timestamp` for `secs`; returns (arrival, stamp) per new frame.
pub(crate) fn view(port: u16, path: &str, secs: u64) -> Vec<(SystemTime, Option<f64>)> {
    let mut r = request(port, "GET", path, "HTTP/1.1", &[]);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut out = Vec::new();
    let mut parsed = 0;
    while Instant::now() < deadline {
        r.read_some(Duration::from_millis(200));
        let now = SystemTime::now();
        // Each part ends with a boundary line after its data; count parts by their headers.
        let text = &r.body;
        let mut at = parsed;
        while let Some(rel) = client::find(&text[at..], b"Content-Type: image/jpeg") {
            let start = at + rel;
            let Some(len_at) = client::find(&text[start..], b"Content-Length: ") else {
                // The seed's parts carry no length (nor a timestamp): a part is counted when the
                // next one starts.
                match client::find(&text[start + 10..], b"Content-Type: image/jpeg") {
                    Some(next) => {
                        out.push((now, None));
                        at = start + 10 + next;
                        continue;
                    }
                    None => break,
                }
            };
            let Some(blank) = client::find(&text[start..], b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&text[start..start + blank]).into_owned();
            let length: usize = head[len_at + 16..]
                .split("\r\n")
                .next()
                .unwrap_or("0")
                .trim()
                .parse()
                .unwrap_or(0);
            let end = start + blank + 4 + length;
            if text.len() < end {
                break;
            }
            let stamp = head
                .split("X-Timestamp: ")
                .nth(1)
                .and_then(|s| s.split("\r\n").next())
                .and_then(|s| s.trim().parse().ok());
            out.push((now, stamp));
            at = end;
        }
        parsed = at;
    }
    out
}

pub(crate) fn webcam(name: &str, port: u16, path: &str, viewers: usize, secs: u64) -> Webcam {
    let handles: Vec<_> = (0..viewers)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || view(port, &path, secs))
        })
        .collect();
    let mut fps = Vec::new();
    let mut delays = Vec::new();
    for h in handles {
        let frames = h.join().unwrap();
        // Frames, not keepalive repeats: count distinct stamps (or all parts for the seed).
        let mut stamps: Vec<_> = frames
            .iter()
            .filter_map(|(_, s)| *s)
            .map(|s| (s * 1e6) as u64)
            .collect();
        stamps.dedup();
        let count = if stamps.is_empty() {
            frames.len()
        } else {
            stamps.len()
        };
        fps.push(count as f64 / secs as f64);
        for (at, stamp) in frames {
            if let Some(stamp) = stamp {
                let at = at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64();
                delays.push((at - stamp) * 1000.0);
            }
        }
    }
    let fps_sorted = sorted(fps);
    let delays = sorted(delays);
    Webcam {
        name: name.to_owned(),
        viewers,
        min_fps: fps_sorted.first().copied().unwrap_or(0.0),
        median_fps: percentile(&fps_sorted, 0.5),
        delay_p50: percentile(&delays, 0.5),
        delay_p99: percentile(&delays, 0.99),
    }
}

/// The camera simulator writing 640×480 JPEGs at 30 frames/s into `out` for `secs`.
pub(crate) fn camsim(out: &Path, secs: u64) -> Child {
    Command::new(util::bin("serverpush-camsim"))
        .arg("--out")
        .arg(out)
        .args([
            "--fps",
            "30",
            "--width",
            "640",
            "--height",
            "480",
            "--seconds",
        ])
        .arg(secs.to_string())
        .spawn()
        .unwrap()
}

/// Scenario 6's rows: ours, the C floor, the seed.
pub(crate) struct WebcamRows {
    pub(crate) ours: Webcam,
    pub(crate) floor: Webcam,
    pub(crate) seed: Webcam,
}

/// Scenario 6: ours and the floor with one camera simulator, the seed with its own.
pub(crate) fn run(sys: &Systems, plan: &Plan) -> WebcamRows {
    let a = sys.apache.port;
    eprintln!("e2e: 6 webcam");
    let mut sim = camsim(&sys.site.cams.join("cam.jpg"), plan.webcam_secs * 2 + 20);
    std::thread::sleep(Duration::from_secs(1));
    let cam_ours = webcam(
        "serverpush nph-webcam",
        a,
        "/cgi-bin/nph-webcam",
        plan.webcam_viewers,
        plan.webcam_secs,
    );
    reap(&sys.site.cgi_bin.display().to_string());
    let cam_floor = webcam(
        "C floor (inotify, one part per file)",
        a,
        &format!(
            "/cgi-bin/nph-mjpeg-floor?{}",
            sys.site.cams.join("cam.jpg").display()
        ),
        plan.webcam_viewers,
        plan.webcam_secs,
    );
    let _ = sim.kill();
    let _ = sim.wait();
    let mut sim = camsim(&sys.peer_cam, plan.webcam_secs * 2 + 20);
    std::thread::sleep(Duration::from_secs(1));
    reap(&sys.site.cgi_bin.display().to_string());
    let cam_seed = webcam(
        "seed 000 PHP webcam",
        a,
        "/peers/webcam.php",
        1,
        plan.webcam_secs,
    );
    reap(&sys.peers.display().to_string());
    let _ = sim.kill();
    let _ = sim.wait();

    WebcamRows {
        ours: cam_ours,
        floor: cam_floor,
        seed: cam_seed,
    }
}
