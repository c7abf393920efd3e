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

/// Scenario 7: `wrk` against the C floor, our publish under each server (with the C hello
/// under nginx, whose fcgiwrap adds its own cost), the PHP hello and
/// nchan's publish; a row each, the floor first.
pub(crate) fn run(sys: &Systems, plan: &Plan) -> Vec<Spawn> {
    let a = sys.apache.port;
    let tmp = tempfile::tempdir().unwrap();
    eprintln!("e2e: 7 spawn cost");
    let rounds = plan.rounds;
    let spawn = vec![
        wrk(
            "C hello CGI (floor)",
            a,
            "/peers/hello.cgi",
            false,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "serverpush publish (POST nph-longpoll)",
            a,
            "/cgi-bin/nph-longpoll/spawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "serverpush publish under lighttpd",
            sys.lighttpd.port,
            "/cgi-bin/nph-longpoll/lspawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "C hello CGI under nginx + fcgiwrap",
            sys.nginx.port,
            "/cgi-bin/hello.cgi",
            false,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "serverpush publish under nginx + fcgiwrap",
            sys.nginx.port,
            "/cgi-bin/nph-longpoll/nspawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "seed PHP hello (php-cgi)",
            a,
            "/peers/hello.php",
            false,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
        wrk(
            "nchan publish",
            sys.nginx.port,
            "/pub?id=spawn",
            true,
            plan.wrk_secs,
            rounds,
            tmp.path(),
        ),
    ];

    spawn
}
