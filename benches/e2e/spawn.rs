//! Scenario 7: spawn cost, one-shot requests per second.

#[allow(unused_imports)]
use super::*;

// Scenario 7: spawn cost

pub(crate) struct Spawn {
    pub(crate) name: String,
    pub(crate) runs: Vec<f64>,
}

pub(crate) fn wrk(
    name: &str,
    port: u16,
    path: &str,
    post: bool,
    secs: u64,
    rounds: usize,
    dir: &Path,
) -> Spawn {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.body = \"x\"\nwrk.headers[\"Content-Type\"] = \"text/plain\"\n",
    )
    .unwrap();
    let runs = (0..rounds)
        .map(|_| {
            let mut cmd = Command::new("wrk");
            cmd.args(["-t2", "-c16", &format!("-d{secs}s")]);
            if post {
                cmd.arg("-s").arg(&script);
            }
            cmd.arg(format!("http://127.0.0.1:{port}{path}"));
            let out = cmd.stderr(Stdio::null()).output().expect("wrk");
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines()
                .find_map(|l| l.strip_prefix("Requests/sec:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        })
        .collect();
    Spawn {
        name: name.to_owned(),
        runs,
    }
}
