//! *Regular files*, opened so that no other kind of file can stall or mislead a program.
//!
//! A plain `open` of a FIFO blocks until a writer appears, before any check of the file's type
//! can run: a FIFO at a camera, watched-file or message path would hang the program past every
//! timeout. Files here are opened with `O_NONBLOCK` (which makes that `open` return at once),
//! checked to be regular files, and only then read. Where the path is the suite's own (a
//! message in the spool), `O_NOFOLLOW` refuses a symlink planted in its place; paths the
//! config names (cameras, watched files) may be symlinks on purpose and are followed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;

/// Whether a symlink at the path itself is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Follow it (a path the config names).
    Follow,
    /// Refuse it (a path inside the suite's own directories).
    Refuse,
}

/// The error for a path that is there but is not a regular file (a FIFO, a device, a
/// directory, or a refused symlink).
pub fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not a regular file", path.display()),
    )
}

/// Opens `path` for reading without blocking and checks it is a regular file.
pub fn open(path: &Path, links: Links) -> io::Result<File> {
    open_regular(path, links).map(|(file, _)| file)
}

/// [`open`], with the file's metadata (one `fstat` serves both the check and the caller).
pub fn open_with_metadata(path: &Path, links: Links) -> io::Result<(File, std::fs::Metadata)> {
    let mut flags = OFlags::NONBLOCK;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            // ELOOP is what O_NOFOLLOW answers for a symlink.
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                not_regular(path)
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    Ok((file, meta))
}

/// [`open`], with the file's size.
fn open_regular(path: &Path, links: Links) -> io::Result<(File, u64)> {
    open_with_metadata(path, links).map(|(file, meta)| (file, meta.len()))
}

/// Reads `file` (opened from `path`) to its end. `size`, its length when opened, sizes the
/// buffer one byte larger, so the whole file takes one read (the standard library's
/// `read_to_end` probes with reads from 8 KiB up: five reads for a camera frame, and one more
/// that finds the end); a read that stops short at `size` met the file's end, which spares the
/// read that would find it (a stream reads a message per delivery). A file that grows meanwhile
/// fills the spare byte and is read on, up to `limit`. More than `limit` bytes is an
/// `InvalidData` error, not a truncated read.
pub fn read_to_limit(file: &mut File, size: u64, limit: u64, path: &Path) -> io::Result<Vec<u8>> {
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", path.display()),
        )
    };
    if size > limit {
        return Err(too_large());
    }
    let most = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = vec![
        0;
        usize::try_from(size)
            .unwrap_or(0)
            .saturating_add(1)
            .min(most)
    ];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if filled >= most {
                return Err(too_large());
            }
            bytes.resize(filled.saturating_mul(2).clamp(filled + 1, most), 0);
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if size > 0 && filled as u64 == size && filled < bytes.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// Makes sure `dir` is a private directory of this user: created (mode 0700) when missing,
/// refused when it is something else, a symlink, or another user's. In a shared place such as
/// `/dev/shm`, another user's directory could be made to hold or point anywhere.
pub fn own_directory(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory of this user", dir.display()),
        ));
    }
    Ok(())
}

/// A path the config gives with `{uid}` in it, for this process's user.
pub fn for_this_user(path: &str) -> std::path::PathBuf {
    path.replace("{uid}", &rustix::process::geteuid().as_raw().to_string())
        .into()
}

/// Reads at most `limit` bytes of the regular file at `path`; `Ok(None)` when there is none.
/// A file longer than `limit` is an error, not a truncated read.
pub fn read(path: &Path, links: Links, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let (mut file, size) = match open_regular(path, links) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    read_to_limit(&mut file, size, limit, path).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_to_the_end_or_refuses_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let read = |size: u64, limit: u64| {
            let mut file = File::open(&path).unwrap();
            read_to_limit(&mut file, size, limit, &path)
        };
        // The size as opened, a stale smaller size (the file grew), no size at all.
        for size in [100_000, 10, 0] {
            assert_eq!(
                read(size, 1 << 20).ok().as_ref(),
                Some(&data),
                "size {size}"
            );
        }
        assert_eq!(read(100_000, 100_000).ok().as_ref(), Some(&data));
        for (size, limit) in [(100_000, 99_999), (10, 99_999), (0, 0)] {
            let e = read(size, limit).err().map(|e| e.kind());
            assert_eq!(e, Some(io::ErrorKind::InvalidData), "{size} {limit}");
        }
    }

    #[test]
    fn fifos_directories_and_refused_links_fail_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"hello").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let started = std::time::Instant::now();
        assert!(read(&fifo, Links::Follow, 10).is_err());
        assert!(read(dir.path(), Links::Follow, 10).is_err());
        assert!(read(&link, Links::Refuse, 10).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            read(&link, Links::Follow, 10).ok().flatten(),
            Some(b"hello".to_vec())
        );
        assert_eq!(
            read(&dir.path().join("none"), Links::Follow, 10).ok(),
            Some(None)
        );
        assert!(read(&file, Links::Follow, 3).is_err(), "over the limit");
    }
}
