//! fcgiwrap as Debian's systemd unit runs it: how many workers it starts (`-c`, one when not
//! given), read the way systemd reads the unit, its drop-ins and `/etc/default/fcgiwrap`.
//! Each open stream holds one worker for its whole life.

use std::path::{Path, PathBuf};

use super::{Level, Report, files_in};

/// The socket Debian's `fcgiwrap.socket` listens on.
pub const SOCKET: &str = "/run/fcgiwrap.socket";

const UNIT: &str = "fcgiwrap.service";

/// Where systemd looks for units, most important first.
const UNIT_DIRS: [&str; 4] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// A setting and the file that made it.
#[derive(Debug, Clone)]
struct Setting {
    value: String,
    file: PathBuf,
}

/// What the unit starts: its command line and environment as systemd would build them.
#[derive(Debug, Default)]
struct Service {
    /// Where the system's files are read from (`/`, or an image's root).
    root: PathBuf,
    exec_start: Option<Setting>,
    environment: Vec<(String, Setting)>,
    environment_files: Vec<PathBuf>,
}

impl Service {
    /// Reads the unit under `root` and its drop-ins; `None` when there is no unit.
    fn load(root: &Path) -> Option<Service> {
        let unit = UNIT_DIRS
            .iter()
            .map(|dir| root.join(dir).join(UNIT))
            .find(|p| p.is_file())?;
        let mut service = Service {
            root: root.to_owned(),
            ..Service::default()
        };
        service.read(&unit);
        // Drop-ins in every unit directory, by file name; a name in a more important directory
        // hides the same name in a less important one.
        let mut drop_ins: Vec<PathBuf> = Vec::new();
        for dir in UNIT_DIRS {
            for file in files_in(&root.join(dir).join(format!("{UNIT}.d")), ".conf") {
                if !drop_ins.iter().any(|d| d.file_name() == file.file_name()) {
                    drop_ins.push(file);
                }
            }
        }
        drop_ins.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for drop_in in &drop_ins {
            service.read(drop_in);
        }
        Some(service)
    }

    /// Applies the `[Service]` lines of `file`.
    fn read(&mut self, file: &Path) {
        let Ok(text) = std::fs::read_to_string(file) else {
            return;
        };
        let mut in_service = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            if !in_service || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let setting = |value: &str| Setting {
                value: value.to_owned(),
                file: file.to_owned(),
            };
            match key.trim() {
                // An empty assignment resets the list.
                "ExecStart" if value.trim().is_empty() => self.exec_start = None,
                "ExecStart" => self.exec_start = Some(setting(value.trim())),
                "Environment" if value.trim().is_empty() => self.environment.clear(),
                "Environment" => {
                    for word in words(value) {
                        if let Some((name, value)) = word.split_once('=') {
                            self.environment.push((name.to_owned(), setting(value)));
                        }
                    }
                }
                "EnvironmentFile" if value.trim().is_empty() => self.environment_files.clear(),
                "EnvironmentFile" => {
                    let path = value.trim().trim_start_matches('-');
                    let path = path.strip_prefix('/').unwrap_or(path);
                    self.environment_files.push(self.root.join(path));
                }
                _ => {}
            }
        }
    }

    /// The value of variable `name`: environment files override `Environment=`.
    fn variable(&self, name: &str) -> Option<Setting> {
        let mut found = self
            .environment
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone());
        for file in &self.environment_files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for line in text.lines().map(str::trim) {
                if let Some((n, v)) = line.split_once('=')
                    && n.trim() == name
                    && !line.starts_with('#')
                {
                    found = Some(Setting {
                        value: words(v).join(" "),
                        file: file.clone(),
                    });
                }
            }
        }
        found
    }

    /// fcgiwrap's worker count, and the file that set it.
    fn workers(&self) -> Option<(u64, PathBuf)> {
        let exec = self.exec_start.as_ref()?;
        let mut file = exec.file.clone();
        let mut line = Vec::new();
        for word in words(&exec.value) {
            let name = word
                .strip_prefix("${")
                .and_then(|w| w.strip_suffix('}'))
                .or_else(|| word.strip_prefix('$'));
            match name.and_then(|n| self.variable(n)) {
                Some(setting) => {
                    line.extend(words(&setting.value));
                    file = setting.file;
                }
                None if name.is_some() => {}
                None => line.push(word),
            }
        }
        let mut count = 1;
        let mut words = line.iter();
        while let Some(word) = words.next() {
            if word == "-c" {
                count = words.next()?.parse().ok()?;
            } else if let Some(n) = word.strip_prefix("-c") {
                count = n.parse().ok()?;
            }
        }
        Some((count, file))
    }
}

/// The words of a systemd value: split at spaces, quotes grouping, a backslash escaping.
fn words(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    let mut chars = value.trim().chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                word.extend(chars.next());
                in_word = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (c, _) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// Flags fewer fcgiwrap workers than `clients` streams.
pub fn check(report: &mut Report, root: &Path, clients: u64) {
    let Some(service) = Service::load(root) else {
        return;
    };
    let Some((workers, file)) = service.workers() else {
        return;
    };
    if workers < clients {
        report.add(
            Level::Error,
            file.display().to_string(),
            format!(
                "fcgiwrap runs {workers} worker(s) and each open stream holds one: stream {} \
                 waits without an answer until another ends",
                workers + 1
            ),
            format!(
                "`systemctl edit fcgiwrap` and add [Service] Environment=\"DAEMON_OPTS=-f -c {}\" \
                 (the streams plus room for one-shot answers), then `systemctl restart fcgiwrap`",
                clients + clients / 5 + 1
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const DEBIAN_UNIT: &str = "[Service]\nEnvironment=DAEMON_OPTS=-f\n\
        EnvironmentFile=-/etc/default/fcgiwrap\nExecStart=/usr/sbin/fcgiwrap ${DAEMON_OPTS}\n";

    fn workers(root: &Path) -> u64 {
        Service::load(root).unwrap().workers().unwrap().0
    }

    #[test]
    fn debian_starts_one_worker() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "usr/lib/systemd/system/fcgiwrap.service",
            DEBIAN_UNIT,
        );
        assert_eq!(workers(root.path()), 1);
    }

    #[test]
    fn a_drop_in_and_the_default_file_set_the_workers() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "usr/lib/systemd/system/fcgiwrap.service",
            DEBIAN_UNIT,
        );
        write(
            root.path(),
            "usr/lib/systemd/system/fcgiwrap.service.d/serverpush.conf",
            "[Service]\nEnvironment=\"DAEMON_OPTS=-f -c 120\"\n",
        );
        assert_eq!(workers(root.path()), 120);
        // Unquoted, systemd takes `-c` and `120` for assignments without a name and drops them.
        write(
            root.path(),
            "usr/lib/systemd/system/fcgiwrap.service.d/serverpush.conf",
            "[Service]\nEnvironment=DAEMON_OPTS=-f -c 120\n",
        );
        assert_eq!(workers(root.path()), 1);
        // The admin's /etc/default/fcgiwrap wins over every Environment=.
        write(root.path(), "etc/default/fcgiwrap", "DAEMON_OPTS=\"-c8\"\n");
        assert_eq!(workers(root.path()), 8);
        // A drop-in that replaces the command line.
        write(
            root.path(),
            "etc/systemd/system/fcgiwrap.service.d/zz.conf",
            "[Service]\nExecStart=\nExecStart=/usr/sbin/fcgiwrap -c 300\n",
        );
        assert_eq!(workers(root.path()), 300);
    }

    #[test]
    fn systemd_words() {
        assert_eq!(
            words(r#""A=a b" B=c 'C=d e' D\ x"#),
            ["A=a b", "B=c", "C=d e", "D x"]
        );
        assert_eq!(words("  "), Vec::<String>::new());
    }
}
