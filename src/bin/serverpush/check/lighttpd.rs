//! lighttpd: the enabled configuration around the programs, as Debian lays it out
//! (`lighttpd.conf` and `conf-enabled/`).

use std::path::Path;

use super::{Level, Line, Report, files_in, lines_of};
use crate::cli::CheckArgs;

/// The value of a `key = value` (or `+=`) line, when `line` sets `key`.
fn value_of<'a>(line: &'a Line, key: &str) -> Option<&'a str> {
    let rest = line.text.strip_prefix(key)?.trim_start();
    let rest = rest.strip_prefix("+=").or_else(|| rest.strip_prefix('='))?;
    Some(rest.trim())
}

/// Checks the enabled lighttpd configuration in `args.lighttpd_dir`.
pub fn check(report: &mut Report, args: &CheckArgs, config: Option<&Path>) {
    let root = &args.lighttpd_dir;
    let mut files = vec![root.join("lighttpd.conf")];
    files.extend(files_in(&root.join("conf-enabled"), ".conf"));
    let lines: Vec<Line> = files.iter().flat_map(|f| lines_of(f)).collect();
    let cgi_dir = args.cgi_dir.display().to_string();
    let Some(alias) = lines.iter().find(|l| {
        l.text.contains(&format!("\"{cgi_dir}/\"")) || l.text.contains(&format!("\"{cgi_dir}\""))
    }) else {
        report.add(
            Level::Warning,
            root.display().to_string(),
            format!("no enabled lighttpd configuration serves {cgi_dir}"),
            "lighty-enable-mod serverpush && service lighttpd force-reload (when lighttpd \
             serves serverpush)",
        );
        return;
    };
    let snippet = alias.file.display().to_string();

    // lighttpd keeps a CGI program's whole response until it ends unless told to stream.
    // The last setting read wins.
    let streaming = lines
        .iter()
        .rev()
        .find_map(|l| Some((l, value_of(l, "server.stream-response-body")?)));
    match streaming {
        Some((_, "1" | "2")) => {}
        Some((line, value)) => report.add(
            Level::Error,
            line.place(),
            format!(
                "server.stream-response-body = {value}: lighttpd holds the programs' output \
                 until they end, so a stream never shows"
            ),
            "set server.stream-response-body = 2",
        ),
        None => report.add(
            Level::Error,
            snippet.clone(),
            "server.stream-response-body is not set: lighttpd holds the programs' output until \
             they end, so a stream never shows",
            format!("add `server.stream-response-body = 2` to {snippet} for the programs' URLs"),
        ),
    }
    if !lines.iter().any(|l| l.text.contains("tcp-fin-propagate")) {
        report.add(
            Level::Warning,
            snippet.clone(),
            "no cgi.limits tcp-fin-propagate: a program whose client left lives on until its \
             next write",
            "add cgi.limits = ( \"tcp-fin-propagate\" => \"SIGTERM\" ) for the programs' URLs",
        );
    }
    if let Some(config) = config {
        let want = format!("\"{}\"", config.display());
        if let Some(line) = lines
            .iter()
            .find(|l| l.text.contains("\"SERVERPUSH_CONFIG\"") && !l.text.contains(&want))
        {
            report.add(
                Level::Warning,
                line.place(),
                format!(
                    "lighttpd gives the programs another config than {}",
                    config.display()
                ),
                "check that file with --config, or point SERVERPUSH_CONFIG here",
            );
        }
    }
}
