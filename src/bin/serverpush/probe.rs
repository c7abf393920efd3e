//! `serverpush probe`: a clock stream opened through the real path a browser uses (the server
//! and whatever proxy or CDN is in front), timed unit by unit. A live stream delivers each tick
//! as it happens; a buffered one delivers them in bursts or all at the end, and the head says
//! who is likely holding them.
//!
//! The request goes through curl, which speaks HTTPS, HTTP/2 and the environment's proxy
//! settings as browsers do; it asks for compression as browsers do and never decodes it, so the
//! bytes are timed as they arrive.
//!
//! Whatever the server sent (the head, a header quoted in a culprit, a long-poll's body) is
//! printed through `terminal::escape`: the server, or anything in front of it, is not trusted
//! with the operator's terminal.

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::ProbeArgs;
use crate::terminal::escape;

/// What arrived, and when.
#[derive(Debug, Default)]
struct Arrivals {
    /// The response head as received (status line and headers).
    head: String,
    /// When the head was complete.
    head_at: Option<Duration>,
    /// When each tick's `data:` line was complete, for an uncompressed body.
    ticks: Vec<Duration>,
    /// When each piece of the body arrived.
    reads: Vec<Duration>,
    /// When the response ended.
    ended: Duration,
}

impl Arrivals {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn status(&self) -> Option<u16> {
        self.head
            .lines()
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

/// How the units came.
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// One by one, at the tick spacing.
    Live,
    /// Several at once, with long silences between.
    Bursts,
    /// Everything when the response ended.
    AtTheEnd,
    /// Nothing.
    Nothing,
}

/// Groups arrival times into bursts: a burst ends when the next arrival is more than
/// `gap` later.
fn bursts(times: &[Duration], gap: Duration) -> Vec<Duration> {
    let mut starts: Vec<Duration> = Vec::new();
    let mut last: Option<Duration> = None;
    for &t in times {
        if last.is_none_or(|l| t.saturating_sub(l) > gap) {
            starts.push(t);
        }
        last = Some(t);
    }
    starts
}

fn judge(times: &[Duration], ended: Duration, interval: Duration, ticks: u32) -> Delivery {
    let groups = bursts(times, interval.mul_f64(0.4));
    let Some(&first) = groups.first() else {
        return Delivery::Nothing;
    };
    // The first two ticks may come together at the start; every other tick is its own burst.
    if groups.len() + 1 >= ticks as usize {
        return Delivery::Live;
    }
    let span = interval * ticks.saturating_sub(1);
    if groups.len() == 1 && first + span.mul_f64(0.5) >= ended.min(first + span) {
        return Delivery::AtTheEnd;
    }
    Delivery::Bursts
}

fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["--silent", "--show-error", "--no-buffer"]);
    c
}

/// Opens the stream and records what arrives.
fn watch(url: &str, limit: Duration, args: &ProbeArgs) -> Result<Arrivals> {
    let start = Instant::now();
    let mut command = curl();
    if args.http2 && url.starts_with("http://") {
        command.arg("--http2-prior-knowledge");
    }
    if args.insecure {
        command.arg("--insecure");
    }
    let mut child = command
        .args(["--include", "--raw", "--max-time"])
        .arg(format!("{}", limit.as_secs_f64().ceil()))
        .args(["-H", "Accept: text/event-stream"])
        .args(["-H", "Accept-Encoding: gzip, deflate, br"])
        .args(["-H", "Cache-Control: no-cache"])
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .context("running curl (install the curl package)")?;
    let mut out = child.stdout.take().context("curl's output")?;
    let mut arrivals = Arrivals::default();
    let mut raw = Vec::new();
    let mut body_from = None;
    let mut counted = 0;
    let mut buf = [0u8; 16384];
    loop {
        let n = out.read(&mut buf)?;
        let now = start.elapsed();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(from) = body_from else {
            // Interim heads (100 Continue) come before the real one.
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                if head
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|s| s.starts_with('1'))
                {
                    raw.drain(..end + 4);
                    continue;
                }
                arrivals.head = head;
                arrivals.head_at = Some(now);
                body_from = Some(end + 4);
                if raw.len() > end + 4 {
                    arrivals.reads.push(now);
                }
            }
            continue;
        };
        arrivals.reads.push(now);
        let total =
            count(&raw[from..], b"\ndata: ") + usize::from(raw[from..].starts_with(b"data: "));
        for _ in counted..total {
            arrivals.ticks.push(now);
        }
        counted = total;
    }
    arrivals.ended = start.elapsed();
    let status = child.wait()?;
    if arrivals.head_at.is_none() {
        bail!("no response from {url} (curl: {status})");
    }
    Ok(arrivals)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

/// The likely culprit of a buffered stream and the fixes, from the head.
fn culprit(a: &Arrivals, delivery: &Delivery) -> Vec<String> {
    let server = a.header("server").unwrap_or_default().to_ascii_lowercase();
    let mut found = Vec::new();
    if let Some(encoding) = a.header("content-encoding") {
        found.push(format!(
            "compression (Content-Encoding: {}): the compressor holds small units until \
             its buffer fills.\n    Apache: keep `SetEnv no-gzip 1` in the programs' <Directory> \
             and no SetOutputFilter/AddOutputFilterByType DEFLATE for them.\n    lighttpd: leave \
             the programs' URLs out of mod_deflate (deflate.mimetypes).\n    nginx in front: \
             `gzip off;` in the location.\n    CDN: turn compression off for text/event-stream \
             and multipart/x-mixed-replace.",
            escape(encoding)
        ));
    }
    let proxied = [
        "via",
        "x-cache",
        "cf-ray",
        "x-served-by",
        "x-varnish",
        "x-amz-cf-id",
    ]
    .iter()
    .find_map(|h| a.header(h).map(|v| format!("{h}: {}", escape(v))));
    if let Some(proxy) = &proxied {
        found.push(format!(
            "a proxy or CDN in front ({proxy}) buffering the response.\n    nginx: \
             `proxy_buffering off;` (or have the backend send X-Accel-Buffering: no).\n    Apache \
             mod_proxy: `ProxyPass … flushpackets=on`.\n    Varnish: pass the programs' URLs \
             (or `set beresp.do_stream = true`).\n    CDN: bypass its cache and buffering for \
             the programs' URLs."
        ));
    }
    // nginx runs CGI programs through fcgiwrap, which keeps a program's output in its FastCGI
    // buffer (8 KB) unless the request says NO_BUFFERING; nginx then buffers it again unless
    // told not to. Its Server header names it (also with `server_tokens off`).
    if server.starts_with("nginx") && proxied.is_none() {
        found.push(
            "nginx holding the programs' output: when it runs them through fcgiwrap, the \
             programs' location needs `fastcgi_param NO_BUFFERING 1;` (fcgiwrap keeps up to \
             8 KB of a program's output until it ends without it) and `fastcgi_buffering off;` \
             (the shipped serverpush-fastcgi.conf has both; `serverpush check` reads nginx's \
             configuration); when it proxies to another server, `proxy_buffering off;`."
                .to_owned(),
        );
    }
    // lighttpd without streaming reads a CGI program's whole output, then sends it as a file:
    // with a Content-Length and `Accept-Ranges: bytes`, which no stream has.
    let held_whole = a.header("content-length").is_some() && *delivery != Delivery::Live;
    let lighttpd = server.contains("lighttpd") || a.header("accept-ranges").is_some();
    if held_whole && lighttpd && a.header("content-encoding").is_none() {
        found.push(
            "lighttpd holding the programs' whole output (it answered a stream with \
             Content-Length and Accept-Ranges): set `server.stream-response-body = 2` for the \
             programs' URLs (the Debian package's 50-serverpush.conf does)."
                .to_owned(),
        );
    } else if held_whole && a.header("content-encoding").is_none() {
        found.push(
            "something read the whole response before sending it on (the stream came with a \
             Content-Length): a buffering proxy, or lighttpd without \
             `server.stream-response-body = 2`."
                .to_owned(),
        );
    }
    if found.is_empty() {
        found.push(
            "something between the program and this client holds the response: a proxy (nginx \
             `proxy_buffering off;`, Apache `flushpackets=on`), lighttpd without \
             `server.stream-response-body = 2`, or compression."
                .to_owned(),
        );
    }
    found
}

/// Why a program's URL may give a refusal or the file itself: CGI is not enabled where it sits.
const CGI_OFF: &str = "CGI may be off where the programs are: their folder needs \
    `Options +ExecCGI` and `SetHandler cgi-script` (the archive's cgi-bin/.htaccess has both), and \
    where an .htaccess sets them the host's `AllowOverride` must allow Options and FileInfo; \
    under suEXEC a program or folder writable by others is refused. The server's error log says \
    which.";

/// A content type a server gives a file it serves rather than a program's answer: none at all
/// (Apache's, for a file whose name has no known extension; every program's answer has one) or
/// a binary one.
fn is_a_file(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.is_empty()
        || matches!(
            media.to_ascii_lowercase().as_str(),
            "application/octet-stream"
                | "application/x-executable"
                | "application/x-sharedlib"
                | "application/x-pie-executable"
        )
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Probes the clock, and the long-poll round trip when a channel is given.
pub fn run(args: &ProbeArgs) -> Result<ExitCode> {
    if !(0.1..=10.0).contains(&args.interval) || !(3..=100).contains(&args.ticks) {
        bail!("--interval must be from 0.1 to 10 and --ticks from 3 to 100");
    }
    let interval = Duration::from_secs_f64(args.interval);
    let separator = if args.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}transport=sse&interval={}&count={}",
        args.url, args.interval, args.ticks
    );
    let limit = interval * args.ticks + Duration::from_secs(15);
    let a = watch(&url, limit, args)?;
    println!("probe {url}");
    // The status line names the protocol curl and the server agreed on (HTTP/2 over HTTPS when
    // both offer it), which decides how Apache treats the programs' output.
    let protocol = a.head.split_whitespace().next().unwrap_or("unknown");
    println!("  protocol: {}", escape(protocol));
    // Each line escaped on its own: a CR or ESC in a header cannot rewrite what is shown.
    for line in a.head.lines() {
        println!("  head: {}", escape(line));
    }
    let mut live = true;
    if a.status() != Some(200) {
        let status = a.head.lines().next().unwrap_or_default();
        println!("  not live: the answer is {}, not 200 OK", escape(status));
        if matches!(a.status(), Some(403 | 500)) {
            println!("  likely culprit: {CGI_OFF}");
        }
        return Ok(ExitCode::from(1));
    }
    let content_type = a.header("content-type").unwrap_or_default();
    if is_a_file(content_type) {
        println!(
            "  not live: the server sent the program's file (Content-Type: {}) instead of \
             running it: {CGI_OFF}",
            escape(content_type)
        );
        return Ok(ExitCode::from(1));
    }
    if !content_type.starts_with("text/event-stream") {
        println!(
            "  head not intact: Content-Type is \"{}\", not text/event-stream (is this the \
             clock program's URL?)",
            escape(content_type)
        );
        live = false;
    }
    let compressed = a.header("content-encoding").is_some();
    let times = if compressed || a.ticks.is_empty() {
        &a.reads
    } else {
        &a.ticks
    };
    if let (Some(head), Some(first)) = (a.head_at, times.first()) {
        println!(
            "  first byte of the head after {}, first unit after {}",
            seconds(head),
            seconds(*first)
        );
    }
    let spacing: Vec<String> = times
        .windows(2)
        .map(|w| format!("{:.2}", (w[1] - w[0]).as_secs_f64()))
        .collect();
    println!(
        "  {} {} arrived{}; gaps (s): {}",
        times.len(),
        if compressed || a.ticks.is_empty() {
            "pieces"
        } else {
            "ticks"
        },
        if compressed { " (compressed)" } else { "" },
        spacing.join(" ")
    );
    let delivery = judge(times, a.ended, interval, args.ticks);
    match delivery {
        Delivery::Live => println!(
            "  live: units arrive one by one, every {} s as sent",
            args.interval
        ),
        Delivery::Bursts => println!("  buffered: units arrive in bursts"),
        Delivery::AtTheEnd => println!("  buffered: everything arrived only when the stream ended"),
        Delivery::Nothing => println!("  buffered: no unit arrived"),
    }
    if delivery != Delivery::Live {
        live = false;
        for c in culprit(&a, &delivery) {
            println!("  likely culprit: {c}");
        }
    } else if compressed {
        println!(
            "  note: the stream is compressed; it is live here, but compression often holds \
             units back (turn it off for the programs)"
        );
    }
    if let Some(channel) = &args.channel {
        live &= round_trip(args, channel)?;
    }
    Ok(if live {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Publishes twice and times the second message through a waiting long-poll.
fn round_trip(args: &ProbeArgs, channel: &str) -> Result<bool> {
    let base = match &args.longpoll_url {
        Some(u) => u.clone(),
        None => {
            let (dir, program) = args.url.rsplit_once('/').context("a URL with a path")?;
            let program = program.split('?').next().unwrap_or_default();
            let longpoll = program.replace("clock", "longpoll");
            format!("{dir}/{longpoll}")
        }
    };
    let url = format!("{base}/{channel}");
    let publish = |text: &str| -> Result<u64> {
        let mut c = curl();
        c.args([
            "--max-time",
            "10",
            "-X",
            "POST",
            "-H",
            "Content-Type: text/plain",
        ]);
        if let Some(token) = &args.token {
            c.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let out = c.args(["--data-binary", text]).arg(&url).output()?;
        let answer = String::from_utf8_lossy(&out.stdout);
        // Sent with a token yet unauthenticated: the header never reached the program.
        if args.token.is_some() && answer.contains("needs authorization") {
            bail!(
                "publishing to {url}: the Authorization header does not reach the programs: the \
                 server hides it from CGI programs unless told (Apache: `CGIPassAuth On` where the \
                 programs are, in the server's config or their folder's .htaccess)"
            );
        }
        let v: serde_json::Value = serde_json::from_str(&answer)
            .with_context(|| format!("publishing to {url}: {answer}"))?;
        v["id"]
            .as_u64()
            .with_context(|| format!("publishing to {url}: {answer}"))
    };
    let first = publish("serverpush probe 1")?;
    if args.token.is_some() {
        println!("  the publish with the token was accepted");
    }
    let start = Instant::now();
    let waiting = curl()
        .args(["--max-time", "20"])
        .arg(format!("{url}?since={channel}:{first}&timeout=15"))
        .stdout(Stdio::piped())
        .spawn()?;
    let sent = start.elapsed();
    publish("serverpush probe 2")?;
    let answer = waiting.wait_with_output()?;
    let took = start.elapsed().saturating_sub(sent);
    let text = String::from_utf8_lossy(&answer.stdout);
    let ok = text.contains("serverpush probe 2");
    if ok {
        println!(
            "  long-poll round trip on {channel}: the message arrived {} after its publish",
            seconds(took)
        );
    } else {
        println!(
            "  long-poll round trip on {channel} failed: {}",
            escape(&text)
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn a_served_file_is_told_from_an_answer() {
        assert!(is_a_file(""));
        assert!(is_a_file("application/octet-stream"));
        assert!(is_a_file("Application/X-Executable; charset=binary"));
        assert!(!is_a_file("text/event-stream"));
        assert!(!is_a_file("text/plain; charset=utf-8"));
    }

    #[test]
    fn deliveries() {
        let i = Duration::from_millis(500);
        let end = Duration::from_millis(3000);
        assert_eq!(
            judge(&ms(&[10, 12, 510, 1010, 1510, 2010]), end, i, 6),
            Delivery::Live
        );
        assert_eq!(
            judge(&ms(&[2990, 2991, 2995]), end, i, 6),
            Delivery::AtTheEnd
        );
        assert_eq!(
            judge(&ms(&[10, 1500, 1501, 2990]), end, i, 6),
            Delivery::Bursts
        );
        assert_eq!(judge(&[], end, i, 6), Delivery::Nothing);
    }
}
