//! nginx: the configuration nginx itself reads (`nginx -T`: every file, includes and all, as
//! nginx parsed it), around the locations that run the programs through fcgiwrap.
//!
//! Each setting is judged where it takes effect: a location's own directive, else its server's,
//! else `http`'s, else nginx's default; `fastcgi_param`s as a set, from the innermost level
//! that has any (nginx inherits the set only when a level defines none).

use std::path::{Path, PathBuf};
use std::process::Command;

use nginx_lint_parser::ast::{ConfigItem, Directive};

use super::{Level, Report, fcgiwrap};
use crate::cli::CheckArgs;

/// How deep includes may nest: nginx refuses a loop, but the dump is read as it is.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A directive with its arguments and its place, includes expanded into its block.
#[derive(Debug)]
struct Node {
    name: String,
    args: Vec<String>,
    place: String,
    children: Vec<Node>,
}

impl Node {
    fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }
}

/// The files of an `nginx -T` dump, in the order nginx read them, with their text.
fn sections(dump: &str) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for line in dump.split_inclusive('\n') {
        let header = line
            .strip_prefix("# configuration file ")
            .and_then(|rest| rest.trim_end().strip_suffix(':'));
        match (header, files.last_mut()) {
            (Some(path), _) => files.push((PathBuf::from(path), String::new())),
            (None, Some((_, text))) => text.push_str(line),
            (None, None) => {}
        }
    }
    files
}

/// The dump's files parsed, and where relative includes start from.
struct Dump {
    files: Vec<(PathBuf, Vec<ConfigItem>)>,
    prefix: PathBuf,
}

impl Dump {
    fn parse(text: &str, main: &Path) -> Dump {
        let files = sections(text)
            .into_iter()
            .map(|(path, text)| {
                let (config, _errors) = nginx_lint_parser::parse_string_with_errors(&text);
                (path, config.items)
            })
            .collect();
        Dump {
            files,
            prefix: main.parent().unwrap_or(Path::new("/")).to_owned(),
        }
    }

    /// The tree of the main file (the dump's first), includes expanded.
    fn tree(&self) -> Vec<Node> {
        match self.files.first() {
            Some((path, items)) => self.nodes(path, items, 0),
            None => Vec::new(),
        }
    }

    fn nodes(&self, file: &Path, items: &[ConfigItem], depth: usize) -> Vec<Node> {
        let mut out = Vec::new();
        for item in items {
            let ConfigItem::Directive(d) = item else {
                continue;
            };
            if d.is("include") && depth < MAX_INCLUDE_DEPTH {
                for (path, included) in self.included(d.first_arg().unwrap_or_default()) {
                    out.extend(self.nodes(path, included, depth + 1));
                }
                continue;
            }
            out.push(self.node(file, d, depth));
        }
        out
    }

    fn node(&self, file: &Path, d: &Directive, depth: usize) -> Node {
        Node {
            name: d.name.clone(),
            args: d.args.iter().map(|a| a.raw_value()).collect(),
            place: format!("{}:{}", file.display(), d.span.start.line),
            children: d
                .block
                .as_ref()
                .map(|b| self.nodes(file, &b.items, depth))
                .unwrap_or_default(),
        }
    }

    /// The files an `include` names, in the order nginx read them (glob(3) order, which the
    /// dump keeps).
    fn included(&self, pattern: &str) -> Vec<(&Path, &Vec<ConfigItem>)> {
        let full = self.prefix.join(pattern);
        let Ok(pattern) = glob::Pattern::new(&full.to_string_lossy()) else {
            return Vec::new();
        };
        let options = glob::MatchOptions {
            require_literal_separator: true,
            require_literal_leading_dot: true,
            case_sensitive: true,
        };
        self.files
            .iter()
            .filter(|(path, _)| pattern.matches_path_with(path, options))
            .map(|(path, items)| (path.as_path(), items))
            .collect()
    }
}

/// A directive argument as nginx sees its value: quotes removed, a variable with its `$`.
trait RawValue {
    fn raw_value(&self) -> String;
}

impl RawValue for nginx_lint_parser::ast::Argument {
    fn raw_value(&self) -> String {
        if self.is_variable() {
            format!("${}", self.as_str())
        } else {
            self.as_str().to_owned()
        }
    }
}

/// A location with the levels around it, innermost first (the location, its server, `http`).
struct Scope<'a> {
    levels: Vec<&'a Node>,
}

impl Scope<'_> {
    fn location(&self) -> &Node {
        self.levels[0]
    }

    /// The directive `name` where it takes effect.
    fn setting(&self, name: &str) -> Option<&Node> {
        self.levels
            .iter()
            .find_map(|level| level.children.iter().rev().find(|c| c.name == name))
    }

    /// The value of `name` where it takes effect, or nginx's default.
    fn value<'v>(&'v self, name: &str, default: &'v str) -> &'v str {
        self.setting(name).map_or(default, |n| n.arg(0))
    }

    /// The `fastcgi_param` set nginx passes here.
    fn params(&self) -> Vec<&Node> {
        self.levels
            .iter()
            .map(|level| {
                level
                    .children
                    .iter()
                    .filter(|c| c.name == "fastcgi_param")
                    .collect::<Vec<_>>()
            })
            .find(|set| !set.is_empty())
            .unwrap_or_default()
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .rev()
            .find(|p| p.arg(0) == name)
            .map(|p| p.arg(1).to_owned())
    }
}

/// Every location that passes requests to FastCGI, with its levels.
fn fastcgi_locations(tree: &[Node]) -> Vec<Scope<'_>> {
    fn walk<'a>(nodes: &'a [Node], outer: &mut Vec<&'a Node>, found: &mut Vec<Scope<'a>>) {
        for node in nodes {
            if !matches!(node.name.as_str(), "http" | "server" | "location") {
                continue;
            }
            outer.push(node);
            if node.name == "location" && node.children.iter().any(|c| c.name == "fastcgi_pass") {
                found.push(Scope {
                    levels: outer.iter().rev().copied().collect(),
                });
            }
            walk(&node.children, outer, found);
            outer.pop();
        }
    }
    let mut found = Vec::new();
    walk(tree, &mut Vec::new(), &mut found);
    found
}

/// Seconds in an nginx time (`60s`, `1m`, `90`, `500ms`, `1h30m`); `None` when unreadable.
fn seconds(time: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = time.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "ms" => 0.001,
            "" | "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 604_800.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit..];
    }
    Some(total)
}

/// What the check needs from the serverpush config.
pub struct Expected<'a> {
    /// The config file the programs should be given.
    pub config: Option<&'a Path>,
    /// How often a silent stream writes.
    pub heartbeat_secs: u64,
    /// Streams held at once.
    pub clients: u64,
}

/// Runs `nginx -T` on `args.nginx_conf` and checks what it prints.
pub fn check(report: &mut Report, args: &CheckArgs, expected: &Expected<'_>) {
    let conf = &args.nginx_conf;
    let nginx = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).exists())
        .unwrap_or("nginx");
    let output = match Command::new(nginx).arg("-T").arg("-c").arg(conf).output() {
        Ok(output) => output,
        Err(e) => {
            report.add(
                Level::Warning,
                conf.display().to_string(),
                format!("nginx's configuration was not read: running {nginx} -T: {e}"),
                "run the check where nginx is installed, as root",
            );
            return;
        }
    };
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        report.add(
            Level::Error,
            conf.display().to_string(),
            format!("nginx -T refuses the configuration: {}", said.trim()),
            "correct what nginx names (nginx -t shows it too)",
        );
        return;
    }
    let dump = Dump::parse(&String::from_utf8_lossy(&output.stdout), conf);
    check_tree(report, &dump.tree(), args, expected);
}

fn check_tree(report: &mut Report, tree: &[Node], args: &CheckArgs, expected: &Expected<'_>) {
    let cgi_dir = args.cgi_dir.display().to_string();
    let ours: Vec<Scope<'_>> = fastcgi_locations(tree)
        .into_iter()
        .filter(|scope| {
            scope
                .param("SCRIPT_FILENAME")
                .is_some_and(|s| s.starts_with(&format!("{cgi_dir}/")))
                || scope.param("SERVERPUSH_CONFIG").is_some()
        })
        .collect();
    if ours.is_empty() {
        report.add(
            Level::Warning,
            args.nginx_conf.display().to_string(),
            format!("no nginx location runs the programs in {cgi_dir}"),
            "add `include snippets/serverpush.conf;` to the server {} block that should serve \
             them, then `systemctl reload nginx` (when nginx serves serverpush)",
        );
        return;
    }
    let mut sockets = Vec::new();
    for scope in &ours {
        check_location(report, scope, expected);
        if let Some(pass) = scope.setting("fastcgi_pass") {
            sockets.push(pass.arg(0).to_owned());
        }
    }
    if sockets
        .iter()
        .any(|s| s == &format!("unix:{}", fcgiwrap::SOCKET))
    {
        fcgiwrap::check(report, &args.fcgiwrap_root, expected.clients);
    }
}

fn check_location(report: &mut Report, scope: &Scope<'_>, expected: &Expected<'_>) {
    let place = scope.location().place.clone();
    let add = |report: &mut Report, level, problem: String, fix: &str| {
        report.add(level, place.clone(), problem, fix.to_owned());
    };
    let on = |value: &str| value.eq_ignore_ascii_case("on");

    if !scope
        .param("NO_BUFFERING")
        .is_some_and(|v| !v.is_empty() && v != "0")
    {
        add(
            report,
            Level::Error,
            "no `fastcgi_param NO_BUFFERING`: fcgiwrap keeps up to 8 KB of a program's output \
             until the program ends, so a stream arrives in bursts or at its end"
                .to_owned(),
            "add `fastcgi_param NO_BUFFERING 1;` to the location (the shipped \
             serverpush-fastcgi.conf has it)",
        );
    }
    if on(scope.value("fastcgi_buffering", "on")) {
        let ignored = scope.setting("fastcgi_ignore_headers").is_some_and(|n| {
            n.args
                .iter()
                .any(|a| a.eq_ignore_ascii_case("X-Accel-Buffering"))
        });
        let (level, problem) = if ignored {
            (
                Level::Error,
                "fastcgi_buffering is on and the programs' X-Accel-Buffering header is ignored: \
                 nginx keeps each stream's output until its buffers fill",
            )
        } else {
            (
                Level::Warning,
                "fastcgi_buffering is on: only the programs' `X-Accel-Buffering: no` header keeps \
                 nginx from holding their streams",
            )
        };
        add(
            report,
            level,
            problem.to_owned(),
            "set `fastcgi_buffering off;`",
        );
    }
    let timeout = scope.value("fastcgi_read_timeout", "60s");
    match seconds(timeout) {
        Some(secs) if secs <= expected.heartbeat_secs as f64 => add(
            report,
            Level::Error,
            format!(
                "fastcgi_read_timeout {timeout} is not above heartbeat_secs = {}: nginx cuts a \
                 stream that is silent between heartbeats",
                expected.heartbeat_secs
            ),
            &format!(
                "set `fastcgi_read_timeout {}s;`",
                (expected.heartbeat_secs * 4).max(60)
            ),
        ),
        Some(_) => {}
        None => add(
            report,
            Level::Warning,
            format!("fastcgi_read_timeout {timeout} is not a time nginx reads"),
            "write it as nginx does: `60s`, `2m`",
        ),
    }
    if on(scope.value("gzip", "off")) {
        add(
            report,
            Level::Warning,
            "gzip is on for the programs: nginx compresses each pushed unit on its own (CPU per \
             stream and per event), squeezes away the padding that makes browsers render \
             early, and anything in front that waits for a compressed block holds the stream"
                .to_owned(),
            "set `gzip off;` in the location",
        );
    }
    if !scope
        .param("SERVER_SOFTWARE")
        .is_some_and(|v| v.starts_with("nginx"))
    {
        add(
            report,
            Level::Error,
            "SERVER_SOFTWARE does not name nginx: the nph- programs cannot tell they are under \
             nginx and write their own status line, which nginx drops (every answer becomes a \
             200, a chunked body is framed twice)"
                .to_owned(),
            "include /etc/nginx/fastcgi_params in the location (it passes SERVER_SOFTWARE \
             nginx/$nginx_version)",
        );
    }
    if !on(scope.value("fastcgi_pass_request_headers", "on")) {
        add(
            report,
            Level::Error,
            "fastcgi_pass_request_headers is off: Authorization never reaches the programs \
             as HTTP_AUTHORIZATION, so publishing with a token and private channels fail"
                .to_owned(),
            "remove `fastcgi_pass_request_headers off;`",
        );
    }
    if scope.param("PATH_INFO").is_none() {
        add(
            report,
            Level::Warning,
            "no `fastcgi_param PATH_INFO`: /cgi-bin/nph-longpoll/CHANNEL and \
             /cgi-bin/nph-webcam/NAME reach the programs without their name"
                .to_owned(),
            "split the path in the location, as the shipped serverpush-nginx.conf does",
        );
    }
    if let (Some(want), Some(given)) = (expected.config, scope.param("SERVERPUSH_CONFIG"))
        && Path::new(&given) != want
    {
        add(
            report,
            Level::Warning,
            format!(
                "nginx gives the programs another config ({given}) than {}",
                want.display()
            ),
            "check that file with --config, or point SERVERPUSH_CONFIG here",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(dump: &str) -> Vec<Node> {
        Dump::parse(dump, Path::new("/etc/nginx/nginx.conf")).tree()
    }

    const DUMP: &str = "# configuration file /etc/nginx/nginx.conf:\n\
        http {\n    gzip on;\n    include /etc/nginx/sites-enabled/*;\n}\n\n\
        # configuration file /etc/nginx/sites-enabled/default:\n\
        server {\n    listen 80;\n    include snippets/serverpush.conf;\n}\n\n\
        # configuration file /etc/nginx/snippets/serverpush.conf:\n\
        location ~ ^/cgi-bin/ {\n    fastcgi_param SCRIPT_FILENAME \"/usr/lib/cgi-bin/serverpush/$x\";\n\
        \x20   fastcgi_pass unix:/run/fcgiwrap.socket;\n    gzip off;\n}\n";

    #[test]
    fn includes_are_expanded_where_they_stand() {
        let tree = tree_of(DUMP);
        let locations = fastcgi_locations(&tree);
        assert_eq!(locations.len(), 1);
        let scope = &locations[0];
        assert_eq!(
            scope.location().place,
            "/etc/nginx/snippets/serverpush.conf:1"
        );
        assert_eq!(scope.levels.len(), 3);
        // The location's own `gzip off` wins over http's.
        assert_eq!(scope.value("gzip", "off"), "off");
        assert_eq!(scope.value("fastcgi_buffering", "on"), "on");
        assert_eq!(
            scope.param("SCRIPT_FILENAME").as_deref(),
            Some("/usr/lib/cgi-bin/serverpush/$x")
        );
    }

    #[test]
    fn a_level_with_params_replaces_the_outer_set() {
        let dump = "# configuration file /n.conf:\n\
            http {\n fastcgi_param SERVER_SOFTWARE nginx;\n server {\n\
            \x20 location / { fastcgi_param NO_BUFFERING 1; fastcgi_pass x; }\n\
            \x20 location /b { fastcgi_pass y; }\n }\n}\n";
        let tree = Dump::parse(dump, Path::new("/n.conf")).tree();
        let locations = fastcgi_locations(&tree);
        assert_eq!(locations.len(), 2);
        assert_eq!(locations[0].param("SERVER_SOFTWARE"), None);
        assert_eq!(locations[0].param("NO_BUFFERING").as_deref(), Some("1"));
        assert_eq!(
            locations[1].param("SERVER_SOFTWARE").as_deref(),
            Some("nginx")
        );
    }

    #[test]
    fn an_include_loop_ends() {
        let dump = "# configuration file /n.conf:\ninclude /n.conf;\nhttp { }\n";
        let tree = Dump::parse(dump, Path::new("/n.conf")).tree();
        // Each level adds its own http block; past the limit the include stays unexpanded.
        assert_eq!(tree.len(), MAX_INCLUDE_DEPTH + 2);
        assert!(tree.iter().any(|n| n.name == "include"));
    }

    #[test]
    fn nginx_times() {
        assert_eq!(seconds("60s"), Some(60.0));
        assert_eq!(seconds("60"), Some(60.0));
        assert_eq!(seconds("1m30s"), Some(90.0));
        assert_eq!(seconds("500ms"), Some(0.5));
        assert_eq!(seconds("1h"), Some(3600.0));
        assert_eq!(seconds("1x"), None);
        assert_eq!(seconds(""), None);
    }
}
