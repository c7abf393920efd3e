//! Where a program finds its config when nobody tells it, and whether it may trust the file.
//!
//! A web server passes `SERVERPUSH_CONFIG` when its admin sets it, but Apache's suEXEC (how shared
//! hosts run each account's CGI programs as that account) passes a program only a fixed list of
//! variables, so on a shared host the programs look for the file themselves, in this order:
//! 1. `SERVERPUSH_CONFIG`, when set and not empty (and then only there);
//! 2. `serverpush.toml` beside the program, in its `cgi-bin/`: the server runs what is there,
//!    it does not serve it as a file (and the shipped `.htaccess` denies it anyway);
//! 3. `serverpush.toml` in the home folder of the program's user (from `/etc/passwd`: suEXEC
//!    passes no `HOME`), the folder above an account's `public_html/` or `domains/`; not when
//!    that home is inside a tree the server serves (`DOCUMENT_ROOT`, `CONTEXT_DOCUMENT_ROOT`): a
//!    `serverpush.toml` in a served folder would be anyone's to download, secrets included;
//! 4. the system's, `/etc/serverpush/serverpush.toml` (the Debian package's);
//!
//! and with none of them, the built-in defaults.
//!
//! A program runs as the account whose pages these are (under suEXEC) or as the web server's
//! user: a file that someone else can change would steer it (where it writes, whom it lets
//! publish), so the file and its directory must belong to the program's user or to root and be
//! writable by no one else ([`open_trusted`]).

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// The config file's name where the programs look for it themselves.
pub const FILE_NAME: &str = "serverpush.toml";

/// The system's config file (the Debian package's).
pub const SYSTEM_PATH: &str = "/etc/serverpush/serverpush.toml";

/// The largest config file read: a file is a few KiB, and what a program reads stays bounded
/// whatever a file holds.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a place is on the search list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `SERVERPUSH_CONFIG` names it.
    Environment,
    /// `serverpush.toml` beside the program.
    BesideProgram,
    /// `serverpush.toml` in the home folder of the program's user.
    Home,
    /// The system's file.
    System,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Environment => "named by SERVERPUSH_CONFIG",
            Origin::BesideProgram => "beside the program",
            Origin::Home => "in the home folder of the programs' user",
            Origin::System => "the system's",
        })
    }
}

/// What the search starts from: what the server told the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// `SERVERPUSH_CONFIG`, when set and not empty.
    pub environment: Option<PathBuf>,
    /// The program's own file (`SCRIPT_FILENAME`, else an absolute first argument).
    pub program: Option<PathBuf>,
    /// The trees the server serves files from (`CONTEXT_DOCUMENT_ROOT`, `DOCUMENT_ROOT`).
    pub served: Vec<PathBuf>,
    /// The home folder of the program's user ([`home_in`]).
    pub home: Option<PathBuf>,
    /// The system's file: [`SYSTEM_PATH`] but in tests.
    pub system: PathBuf,
}

impl Search {
    /// The search for a program started with `vars` (its environment) and first argument
    /// `argv0`.
    pub fn from_vars(vars: &[(OsString, OsString)], argv0: &Path) -> Search {
        let var = |name: &str| {
            vars.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| PathBuf::from(v))
        };
        let program = var("SCRIPT_FILENAME")
            .filter(|p| p.is_absolute())
            .or_else(|| argv0.is_absolute().then(|| argv0.to_owned()));
        let served = ["CONTEXT_DOCUMENT_ROOT", "DOCUMENT_ROOT"]
            .into_iter()
            .filter_map(var)
            .filter(|p| p.is_absolute())
            .collect();
        Search {
            environment: var("SERVERPUSH_CONFIG"),
            program,
            served,
            home: None,
            system: PathBuf::from(SYSTEM_PATH),
        }
    }

    /// The places looked at, in order.
    pub fn places(&self) -> Vec<(Origin, PathBuf)> {
        if let Some(path) = &self.environment {
            return vec![(Origin::Environment, path.clone())];
        }
        let mut places = Vec::new();
        if let Some(dir) = self.program.as_deref().and_then(Path::parent) {
            places.push((Origin::BesideProgram, dir.join(FILE_NAME)));
        }
        if let Some(home) = &self.home {
            // Compared as the kernel resolves them: a home reached through a symbolic link is
            // still inside the tree it points into.
            let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
            let home_real = real(home);
            let served = self
                .served
                .iter()
                .any(|root| home_real.starts_with(real(root)));
            if !served {
                places.push((Origin::Home, home.join(FILE_NAME)));
            }
        }
        places.push((Origin::System, self.system.clone()));
        places
    }

    /// The file to read: the one `SERVERPUSH_CONFIG` names (present or not: a named file that
    /// is missing is an error, not a reason to read another), else the first place that holds
    /// one, or that cannot be looked at (a folder the programs may not enter: reading it then
    /// says why, where skipping it would quietly take another file); `None` for the built-in
    /// defaults.
    pub fn find(&self) -> Option<(Origin, PathBuf)> {
        let places = self.places();
        if let Some((Origin::Environment, _)) = places.first() {
            return places.into_iter().next();
        }
        places
            .into_iter()
            .find(|(_, path)| path.try_exists().unwrap_or(true))
    }
}

/// The home folder of the user `uid` in the text of `/etc/passwd`, when it names one.
pub fn home_in(passwd: &str, uid: u32) -> Option<PathBuf> {
    let uid = uid.to_string();
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let home = *fields.get(5)?;
        (fields.get(2) == Some(&uid.as_str()) && home.starts_with('/')).then(|| home.into())
    })
}

/// Reads the config file at `path` if the program's user may trust it ([`refusal`]), at most
/// [`MAX_FILE_BYTES`].
pub fn open_trusted(path: &Path) -> Result<String, ConfigError> {
    let fail = |message: String| ConfigError {
        path: path.to_owned(),
        key: None,
        message,
    };
    // Not blocking on a FIFO, and only a regular file.
    let (file, meta) = crate::regular::open_with_metadata(path, crate::regular::Links::Follow)
        .map_err(|e| fail(e.to_string()))?;
    let user = rustix::process::geteuid().as_raw();
    if let Some(why) = distrust(path, &meta, user) {
        return Err(fail(why));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("is over {MAX_FILE_BYTES} bytes")));
    }
    Ok(text)
}

/// Why a program running as `user` would refuse the config file at `path`, if it would: the
/// file must be a regular file owned by `user` or by root, in a directory owned by one of them,
/// neither writable by anyone else (a sticky directory excepted, where no one else may replace
/// the file). `serverpush check` asks it for the web server's user.
pub fn refusal(path: &Path, user: u32) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => distrust(path, &meta, user),
        Ok(_) => Some("is not a regular file".into()),
        Err(e) => Some(e.to_string()),
    }
}

fn distrust(path: &Path, meta: &std::fs::Metadata, user: u32) -> Option<String> {
    use rustix::fs::Mode;
    use std::os::unix::fs::MetadataExt;
    let may_own = |uid: u32| uid == user || uid == 0;
    let group_or_other_write = Mode::WGRP | Mode::WOTH;
    let fix = "the programs read no file that another user could change";
    if !may_own(meta.uid()) {
        return Some(format!(
            "belongs to user {}, neither the programs' user ({user}) nor root: {fix}; chown it",
            meta.uid()
        ));
    }
    if Mode::from_raw_mode(meta.mode()).intersects(group_or_other_write) {
        return Some(format!(
            "is writable by its group or by everyone (mode {:04o}): {fix}; chmod go-w it",
            meta.mode() & 0o7777
        ));
    }
    // The folder of the name, and of the file a symbolic link leads to: someone who may change
    // either could put another file in its place.
    let folder = |p: &Path| match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut folders = vec![folder(path)];
    // Every program start with a config file asks this: resolve the path (a walk of every
    // component) only when the name itself is a link; otherwise the file is in its own folder.
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && let Ok(real) = path.canonicalize() {
        folders.push(folder(&real));
    }
    for dir in folders {
        let dir_meta = match std::fs::metadata(&dir) {
            Ok(meta) => meta,
            Err(e) => return Some(format!("{}: {e}", dir.display())),
        };
        let dir_mode = Mode::from_raw_mode(dir_meta.mode());
        let others_may_replace =
            dir_mode.intersects(group_or_other_write) && !dir_mode.contains(Mode::SVTX);
        if !may_own(dir_meta.uid()) || others_may_replace {
            return Some(format!(
                "is in {}, a folder another user can change (owner {}, mode {:04o}), where one \
                 could replace it: {fix}; keep the file in a folder of the programs' user",
                dir.display(),
                dir_meta.uid(),
                dir_meta.mode() & 0o7777
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn search(program: &Path, served: &[&Path], home: Option<&Path>, system: &Path) -> Search {
        Search {
            environment: None,
            program: Some(program.to_owned()),
            served: served.iter().map(|p| p.to_path_buf()).collect(),
            home: home.map(Path::to_owned),
            system: system.to_owned(),
        }
    }

    /// A shared host's layout: `home/public_html/cgi-bin/nph-clock`.
    fn account() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let home = tempfile::tempdir().unwrap();
        let site = home.path().join("public_html");
        let cgi = site.join("cgi-bin");
        std::fs::create_dir_all(&cgi).unwrap();
        let program = cgi.join("nph-clock");
        std::fs::write(&program, "").unwrap();
        (home, site, cgi, program)
    }

    #[test]
    fn environment_alone_when_set() {
        let (home, site, _, program) = account();
        let mut s = search(&program, &[&site], Some(home.path()), Path::new("/x"));
        s.environment = Some("/nowhere/x.toml".into());
        assert_eq!(
            s.find(),
            Some((Origin::Environment, PathBuf::from("/nowhere/x.toml")))
        );
        assert_eq!(s.places().len(), 1);
    }

    #[test]
    fn beside_the_program_then_the_home_then_the_system() {
        let (home, site, cgi, program) = account();
        let system = home.path().join("system.toml");
        let s = search(&program, &[&site], Some(home.path()), &system);
        assert_eq!(
            s.places(),
            vec![
                (Origin::BesideProgram, cgi.join(FILE_NAME)),
                (Origin::Home, home.path().join(FILE_NAME)),
                (Origin::System, system.clone()),
            ]
        );
        assert_eq!(s.find(), None, "nothing anywhere: the defaults");
        std::fs::write(&system, "").unwrap();
        assert_eq!(s.find(), Some((Origin::System, system.clone())));
        std::fs::write(home.path().join(FILE_NAME), "").unwrap();
        assert_eq!(s.find().unwrap().0, Origin::Home);
        std::fs::write(cgi.join(FILE_NAME), "").unwrap();
        assert_eq!(s.find().unwrap().0, Origin::BesideProgram);
    }

    #[test]
    fn never_a_home_the_server_serves() {
        let (home, site, _, program) = account();
        // A host that serves the whole home (or a tree holding it): its serverpush.toml would be
        // anyone's to download, so it is not looked for, even when it is there.
        std::fs::write(home.path().join(FILE_NAME), "").unwrap();
        for served in [home.path(), home.path().parent().unwrap()] {
            let s = search(
                &program,
                &[&site, served],
                Some(home.path()),
                Path::new("/x"),
            );
            assert!(
                s.places().iter().all(|(origin, _)| *origin != Origin::Home),
                "{:?}",
                s.places()
            );
            assert_eq!(s.find(), None);
        }
        // Through a symbolic link to it, the same home.
        let link = tempfile::tempdir().unwrap();
        let alias = link.path().join("home");
        std::os::unix::fs::symlink(home.path(), &alias).unwrap();
        let s = search(&program, &[&alias], Some(home.path()), Path::new("/x"));
        assert_eq!(s.find(), None);
    }

    #[test]
    fn a_folder_that_cannot_be_looked_at_is_not_skipped() {
        // A path through a file: looking it up fails otherwise than "not found".
        let (_home, _, _, program) = account();
        let s = search(&program, &[], Some(&program.join("x")), Path::new("/x"));
        assert_eq!(s.find().unwrap().0, Origin::Home);
    }

    #[test]
    fn homes_from_the_password_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      broken\n\
                      acct:x:1001:1001::/home/acct:/bin/sh\n\
                      odd:x:1002:1002::relative:/bin/sh\n";
        assert_eq!(home_in(passwd, 1001), Some(PathBuf::from("/home/acct")));
        assert_eq!(home_in(passwd, 0), Some(PathBuf::from("/root")));
        assert_eq!(home_in(passwd, 1002), None, "not an absolute path");
        assert_eq!(home_in(passwd, 7), None);
    }

    #[test]
    fn from_the_servers_variables() {
        let vars: Vec<(OsString, OsString)> = [
            ("SCRIPT_FILENAME", "/home/a/public_html/cgi-bin/nph-clock"),
            ("DOCUMENT_ROOT", "/var/www/html"),
            ("CONTEXT_DOCUMENT_ROOT", "/home/a/public_html"),
            ("SERVERPUSH_CONFIG", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let s = Search::from_vars(&vars, Path::new("nph-clock"));
        assert_eq!(s.environment, None, "an empty variable is not set");
        assert_eq!(
            s.program.as_deref(),
            Some(Path::new("/home/a/public_html/cgi-bin/nph-clock"))
        );
        assert_eq!(
            s.served,
            vec![
                PathBuf::from("/home/a/public_html"),
                PathBuf::from("/var/www/html")
            ]
        );
        // Without SCRIPT_FILENAME, an absolute first argument names the program; a relative
        // one (mod_cgi's: the bare name) names nothing.
        let s = Search::from_vars(&[], Path::new("/srv/cgi/nph-clock"));
        assert_eq!(s.program.as_deref(), Some(Path::new("/srv/cgi/nph-clock")));
        assert_eq!(Search::from_vars(&[], Path::new("nph-clock")).program, None);
    }

    #[test]
    fn a_file_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "max_streams = 5\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(open_trusted(&path).unwrap(), "max_streams = 5\n");
        for mode in [0o664, 0o646, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = open_trusted(&path).unwrap_err();
            assert!(error.message.contains("chmod go-w"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A directory others may write: they could put another file in its place.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = open_trusted(&path).unwrap_err();
        assert!(error.message.contains("one could replace it"), "{error}");
        // Sticky (as /tmp): no one else may remove or rename the file.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        open_trusted(&path).unwrap();
    }

    #[test]
    fn a_link_to_a_file_in_a_folder_others_may_change_is_refused() {
        let shared = tempfile::tempdir().unwrap();
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let target = shared.path().join("target.toml");
        std::fs::write(&target, "").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let own = tempfile::tempdir().unwrap();
        let link = own.path().join(FILE_NAME);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = open_trusted(&link).unwrap_err();
        assert!(error.message.contains("one could replace it"), "{error}");
    }

    #[test]
    fn not_a_regular_file_nor_a_huge_one() {
        let dir = tempfile::tempdir().unwrap();
        let error = open_trusted(dir.path()).unwrap_err();
        assert!(error.message.contains("not a regular file"), "{error}");
        let big = dir.path().join("big.toml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 10).unwrap();
        let error = open_trusted(&big).unwrap_err();
        assert!(error.message.contains("over"), "{error}");
    }
}
