//! Measuring helpers: percentiles, process trees, PSS and CPU time from `/proc`, and requests.

#[allow(unused_imports)]
use super::*;

// Measuring helpers

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

pub(crate) fn median(v: &[f64]) -> f64 {
    percentile(&sorted(v.to_vec()), 0.5)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Parent of each live process.
pub(crate) fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(ppid) = stat
            .rsplit(") ")
            .next()
            .and_then(|r| r.split(' ').nth(1))
            .and_then(|p| p.parse().ok())
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// A process and all its descendants.
pub(crate) fn tree(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Proportional set size of a process, in KiB.
pub(crate) fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Pss:")
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of a process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command: state is 0, utime 11, stime 12.
    get(11) + get(12)
}

pub(crate) fn tree_cpu(root: u32) -> u64 {
    tree(root).into_iter().map(cpu_ticks).sum()
}

pub(crate) fn tree_pss(root: u32) -> u64 {
    tree(root).into_iter().map(pss_kib).sum()
}

pub(crate) fn post(port: u16, path: &str, body: &str) -> client::Response {
    send(
        port,
        "POST",
        path,
        "HTTP/1.1",
        &[
            "Content-Type: text/plain",
            &format!("Content-Length: {}", body.len()),
            "Connection: close",
            &format!("\r\n{body}"),
        ],
    )
}

pub(crate) fn post_done(port: u16, path: &str, body: &str) {
    let mut r = post(port, path, body);
    r.wait_head();
    r.read_to_end(Duration::from_secs(30));
    assert!(
        (200..300).contains(&r.status()),
        "POST {path}: {}",
        r.head_text()
    );
}
