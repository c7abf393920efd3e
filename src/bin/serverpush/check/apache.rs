//! Apache httpd: the enabled configuration around the programs, as Debian lays it out
//! (`apache2.conf`, `mods-enabled/`, `conf-enabled/`, `sites-enabled/`).

use std::path::{Path, PathBuf};

use super::{Level, Line, Report, files_in, lines_of};
use crate::cli::CheckArgs;

/// A section a directive sits in: its kind (`directory`, `ifmodule`), argument, opening line.
type Section = (String, String, Line);

/// A directive with the sections it sits in (`Directory /x`, `IfModule …`), outermost first.
#[derive(Debug)]
struct Directive {
    line: Line,
    sections: Vec<Section>,
}

impl Directive {
    fn name(&self) -> String {
        self.line
            .text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    fn args(&self) -> Vec<String> {
        self.line
            .text
            .split_whitespace()
            .skip(1)
            .map(|a| a.trim_matches('"').to_owned())
            .collect()
    }

    /// The `<Directory>` it is in, if any.
    fn directory(&self) -> Option<&Section> {
        self.sections
            .iter()
            .rev()
            .find(|(kind, ..)| kind == "directory")
    }

    /// True when it is in the `<Directory>` of `dir`.
    fn is_in(&self, dir: &Path) -> bool {
        self.directory()
            .is_some_and(|(_, arg, _)| Path::new(arg.trim_end_matches('/')) == dir)
    }

    /// True when it applies to requests for programs in `cgi_dir`: outside any path section,
    /// or in a `<Directory>` that holds `cgi_dir`.
    fn covers(&self, cgi_dir: &Path) -> bool {
        self.sections
            .iter()
            .all(|(kind, arg, _)| match kind.as_str() {
                "directory" => cgi_dir.starts_with(arg.trim_end_matches('/')),
                "location" | "locationmatch" | "files" | "filesmatch" | "directorymatch" => false,
                _ => true,
            })
    }
}

/// Every directive of the files Debian's `apache2.conf` includes, in include order.
fn directives(root: &Path) -> Vec<Directive> {
    let mut files = vec![root.join("apache2.conf")];
    files.extend(files_in(&root.join("mods-enabled"), ".load"));
    files.extend(files_in(&root.join("mods-enabled"), ".conf"));
    files.extend(files_in(&root.join("conf-enabled"), ".conf"));
    files.extend(files_in(&root.join("sites-enabled"), ".conf"));
    let mut all = Vec::new();
    for file in files {
        let mut sections: Vec<Section> = Vec::new();
        for line in lines_of(&file) {
            if let Some(close) = line.text.strip_prefix("</") {
                let kind = close.trim_end_matches('>').trim().to_ascii_lowercase();
                if let Some(at) = sections.iter().rposition(|(k, ..)| *k == kind) {
                    sections.truncate(at);
                }
                continue;
            }
            if let Some(open) = line.text.strip_prefix('<') {
                let open = open.trim_end_matches('>');
                let (kind, arg) = open.split_once(char::is_whitespace).unwrap_or((open, ""));
                let kind = kind.to_ascii_lowercase();
                let arg = arg.trim().trim_matches('"').to_owned();
                sections.push((kind, arg, line));
                continue;
            }
            all.push(Directive {
                line,
                sections: sections.clone(),
            });
        }
    }
    all
}

/// Whether `<IfModule arg>` holds: `mod_x.c`, `x_module`, either negated with `!`.
fn if_module_holds(arg: &str, loaded: &impl Fn(&str) -> bool) -> bool {
    let (negated, name) = match arg.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let module = name
        .strip_suffix("_module")
        .or_else(|| name.strip_prefix("mod_")?.strip_suffix(".c"))
        .unwrap_or(name);
    loaded(module) != negated
}

/// Apache's `MaxRequestWorkers` when no file sets it: `ServerLimit` (16) × `ThreadsPerChild`
/// (25) under mpm_event.
const DEFAULT_MAX_REQUEST_WORKERS: u64 = 400;

/// Checks the enabled Apache configuration in `args.apache_dir`.
pub fn check(report: &mut Report, args: &CheckArgs, config: Option<&Path>, clients: u64) {
    let all = directives(&args.apache_dir);
    let cgi_dir = args.cgi_dir.as_path();
    let ours: Vec<&Directive> = all.iter().filter(|d| d.is_in(cgi_dir)).collect();
    let Some((_, _, opening)) = ours.first().and_then(|d| d.directory()) else {
        report.add(
            Level::Warning,
            args.apache_dir.display().to_string(),
            format!(
                "no enabled Apache configuration has a <Directory {}>",
                cgi_dir.display()
            ),
            "a2enconf serverpush && systemctl reload apache2 (when Apache serves serverpush)",
        );
        return;
    };
    let block = format!("{} (<Directory {}>)", opening.place(), cgi_dir.display());

    let loaded = |module: &str| {
        all.iter().any(|d| {
            d.name() == "loadmodule"
                && d.args()
                    .first()
                    .is_some_and(|m| m == &format!("{module}_module"))
        })
    };
    if !loaded("cgid") && !loaded("cgi") {
        report.add(
            Level::Error,
            args.apache_dir.join("mods-enabled").display().to_string(),
            "neither mod_cgid nor mod_cgi is enabled: Apache serves the programs as files",
            "a2enmod cgid && systemctl restart apache2",
        );
    }

    if !loaded("rewrite") && ours.iter().any(|d| d.name() == "rewriteengine") {
        report.add(
            Level::Error,
            block.clone(),
            "the block uses RewriteEngine but mod_rewrite is not enabled: Apache refuses the \
             configuration",
            "a2enmod rewrite && systemctl restart apache2",
        );
    }

    // Over HTTP/2 Apache holds back an nph- program's output until the program exits (mod_http2
    // reads the script's socket with blocking reads): HTTP/2 requests must reach the plain names.
    let to_plain_names = ours.iter().any(|d| {
        d.name() == "rewritecond" && d.args().iter().any(|a| a.contains("SERVER_PROTOCOL"))
    }) && ours
        .iter()
        .any(|d| d.name() == "rewriterule" && d.args().first().is_some_and(|a| a.contains("nph-")));
    if loaded("http2") && !to_plain_names {
        report.add(
            Level::Error,
            block.clone(),
            "mod_http2 is enabled and HTTP/2 requests reach the nph- programs, whose output Apache \
             holds back until they exit: streams never update over HTTP/2",
            "use the shipped block's rewrite (`RewriteCond %{SERVER_PROTOCOL} !^HTTP/1\\.` and \
             `RewriteRule ^nph-(.*)$ $1 [L]`), with the programs installed under both names",
        );
    }

    let has = |name: &str, value: &str| {
        ours.iter().any(|d| {
            d.name() == name
                && d.args()
                    .first()
                    .is_some_and(|a| a.eq_ignore_ascii_case(value))
        })
    };
    if !has("cgipassauth", "on") {
        report.add(
            Level::Error,
            block.clone(),
            "no `CGIPassAuth On`: Apache hides the Authorization header from the programs, so \
             publishing with the token gets 401",
            "add `CGIPassAuth On` inside this <Directory> block",
        );
    }

    // Compression holds back pushed units until its buffer fills. NPH output bypasses Apache's
    // filters over HTTP/1.x, but the plain names (and HTTP/2) go through them.
    let no_gzip = has("setenv", "no-gzip");
    for d in all.iter().filter(|d| d.covers(cgi_dir)) {
        let name = d.name();
        let deflate = matches!(
            name.as_str(),
            "setoutputfilter" | "addoutputfilter" | "addoutputfilterbytype"
        ) && d.args().iter().any(|a| {
            a.split([';', ',']).any(|f| {
                f.eq_ignore_ascii_case("deflate") || f.eq_ignore_ascii_case("brotli_compress")
            })
        });
        if deflate && (d.is_in(cgi_dir) || !no_gzip) {
            report.add(
                Level::Error,
                d.line.place(),
                format!(
                    "`{}` compresses the programs' output: a browser sees pushed units in \
                     bursts, or only when the stream ends",
                    d.line.text
                ),
                format!(
                    "remove it for {}, and keep `SetEnv no-gzip 1` in {block}",
                    cgi_dir.display()
                ),
            );
        }
    }

    if let Some(config) = config {
        for d in ours.iter().filter(|d| d.name() == "setenv") {
            let args = d.args();
            if args.first().is_some_and(|a| a == "SERVERPUSH_CONFIG")
                && args.get(1).map(PathBuf::from).as_deref() != Some(config)
            {
                report.add(
                    Level::Warning,
                    d.line.place(),
                    format!(
                        "Apache gives the programs {}, not the {} checked here",
                        args.get(1).map(String::as_str).unwrap_or_default(),
                        config.display()
                    ),
                    "check that file with --config, or point SERVERPUSH_CONFIG here",
                );
            }
        }
    }

    // Each stream holds a worker thread for its whole life.
    // The last one read wins, as in Apache.
    let workers = all
        .iter()
        .rev()
        .filter(|d| matches!(d.name().as_str(), "maxrequestworkers" | "maxclients"))
        .filter(|d| {
            d.sections
                .iter()
                .all(|(kind, arg, _)| kind != "ifmodule" || if_module_holds(arg, &loaded))
        })
        .find_map(|d| Some((d, d.args().first()?.parse::<u64>().ok()?)));
    let (place, limit) = match workers {
        Some((d, n)) => (d.line.place(), n),
        None => (
            args.apache_dir.display().to_string(),
            DEFAULT_MAX_REQUEST_WORKERS,
        ),
    };
    if limit < clients {
        report.add(
            Level::Error,
            place,
            format!(
                "MaxRequestWorkers {limit} is below the {clients} streams expected (--clients, or \
                 max_streams): each holds a worker thread, and the rest wait in the queue \
                 (AH00484)"
            ),
            "raise MaxRequestWorkers (with ServerLimit × ThreadsPerChild to match) in \
             mods-available/mpm_event.conf",
        );
    }
}
