//! Whether a user may read, write or search a path, from owners and mode bits along the path.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A user as the kernel sees it: uid, primary and supplementary groups.
#[derive(Clone, Debug)]
pub struct Account {
    /// The user's name.
    pub name: String,
    /// The primary group's name.
    pub group_name: String,
    uid: u32,
    gids: Vec<u32>,
}

/// What is wanted of a path: bits of `r`, `w`, `x` as in a mode's "other" triplet.
#[derive(Clone, Copy, Debug)]
pub struct Access(u32);

impl Access {
    /// Read a file.
    pub const READ: Access = Access(0o4);
    /// List and enter a directory (watch it).
    pub const READ_SEARCH: Access = Access(0o5);
    /// Create files in a directory.
    pub const WRITE_SEARCH: Access = Access(0o3);
    const SEARCH: Access = Access(0o1);

    fn describe(self) -> &'static str {
        match self.0 {
            0o4 => "read",
            0o5 => "read and search",
            0o3 => "write and search",
            _ => "search",
        }
    }
}

impl Account {
    /// The user's id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Looks `name` up in `/etc/passwd` and `/etc/group`.
    pub fn lookup(name: &str) -> Result<Account, String> {
        Account::lookup_in(
            name,
            &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            &std::fs::read_to_string("/etc/group").unwrap_or_default(),
        )
    }

    fn lookup_in(name: &str, passwd: &str, group: &str) -> Result<Account, String> {
        let fields = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name) && f.len() >= 4)
            .ok_or_else(|| format!("there is no user {name:?}"))?;
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("{name}: bad id {s:?}"))
        };
        let uid = parse(fields[2])?;
        let gid = parse(fields[3])?;
        let mut gids = vec![gid];
        let mut group_name = gid.to_string();
        for g in group.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            let [gname, _, id, members, ..] = g.as_slice() else {
                continue;
            };
            let Ok(id) = id.parse::<u32>() else { continue };
            if id == gid {
                group_name = (*gname).to_owned();
            }
            if members.split(',').any(|m| m == name) {
                gids.push(id);
            }
        }
        Ok(Account {
            name: name.to_owned(),
            group_name,
            uid,
            gids,
        })
    }

    fn allows(&self, path: &Path, want: Access) -> Result<(), String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if self.uid == 0 {
            return Ok(());
        }
        let mode = meta.mode();
        let bits = if meta.uid() == self.uid {
            mode >> 6
        } else if self.gids.contains(&meta.gid()) {
            mode >> 3
        } else {
            mode
        } & 0o7;
        if bits & want.0 == want.0 {
            Ok(())
        } else {
            Err(format!(
                "{} cannot {} {} (owner {}, group {}, mode {:04o})",
                self.name,
                want.describe(),
                path.display(),
                meta.uid(),
                meta.gid(),
                mode & 0o7777
            ))
        }
    }

    /// Ok when the user may do `want` to `path`: every directory above it searchable, and the
    /// path itself allowing it. The error says which component refuses and why.
    pub fn may(&self, path: &Path, want: Access) -> Result<(), String> {
        let path = std::path::absolute(path).map_err(|e| e.to_string())?;
        let ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
        for dir in ancestors.into_iter().rev() {
            self.allows(dir, Access::SEARCH)?;
        }
        self.allows(&path, want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\nvideo:x:44:www-data,alice\n";

    #[test]
    fn users_and_their_groups() {
        let a = Account::lookup_in("www-data", PASSWD, GROUP).unwrap();
        assert_eq!(
            (a.uid, a.gids.as_slice(), a.group_name.as_str()),
            (33, &[33, 44][..], "www-data")
        );
        assert!(Account::lookup_in("nobody-here", PASSWD, GROUP).is_err());
    }

    #[test]
    fn mode_bits_decide() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).ok();
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).ok();
        // An account that owns nothing here: only the "other" bits apply to it.
        let stranger = Account {
            name: "stranger".into(),
            group_name: "stranger".into(),
            uid: 4_000_000,
            gids: vec![4_000_000],
        };
        assert!(stranger.may(&spool, Access::READ_SEARCH).is_ok());
        let refused = stranger.may(&spool, Access::WRITE_SEARCH);
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("mode 0755")),
            "{refused:?}"
        );
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o777)).ok();
        assert!(stranger.may(&spool, Access::WRITE_SEARCH).is_ok());
        // A directory above that cannot be searched hides everything below it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).ok();
        assert!(stranger.may(&spool, Access::WRITE_SEARCH).is_err());
    }
}
