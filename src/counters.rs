//! *Counters* that outlive the processes that count: requests refused, by program and status,
//! and streams turned away by `max_streams`, for the metrics. Every program may add to them at
//! once, with no daemon and no lock between them.
//!
//! A count is the length of a file: adding one appends one byte (`O_APPEND` makes concurrent
//! appends whole, without a lock). Each counter has a file per hour (`NAME.HOUR`); a reader
//! ([`totals`]) folds the hours that are over into `NAME.base` and removes them, under a lock
//! only readers take, so the files stay small while someone reads them (a scrape every few
//! seconds), and the writers never wait. The counters live in a folder of the slots' directory:
//! removing that directory resets them, which Prometheus reads as a counter reset. Only the
//! programs' user folds, in folders that are its own and no symbolic link (what root reads, it
//! only reads); and counting is on only where the config says something reads the metrics
//! (`metrics_counters`), since the files grow until a read folds them.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::OFlags;

/// The counters' folder in the slots' directory (`+` is in no counter's name).
const FOLDER: &str = "counters";

/// The hour a count falls in.
fn hour_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600)
}

/// A counter's name as a file name: letters, digits, `-` and `_` kept, anything else `_`, parts
/// joined with `.`.
pub fn name(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn folder(slots: &Path) -> io::Result<PathBuf> {
    crate::regular::own_directory(slots)?;
    let dir = slots.join(FOLDER);
    crate::regular::own_directory(&dir)?;
    Ok(dir)
}

/// Adds one to the counter `name` (from [`name`]) kept beside the slots in `slots`.
pub fn add(slots: &Path, name: &str) -> io::Result<()> {
    add_at(slots, name, hour_now())
}

fn add_at(slots: &Path, name: &str, hour: u64) -> io::Result<()> {
    let path = folder(slots)?.join(format!("{name}.{hour}"));
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)?
        .write_all(b"1")
}

/// The base of a counter: its total when its last hours were folded, and the hours folded then
/// (so that a reader stopped between writing the base and removing the hours adds them once).
#[derive(Debug, Default, PartialEq, Eq)]
struct Base {
    total: u64,
    folded: Vec<u64>,
}

impl Base {
    fn read(path: &Path) -> Base {
        let Ok(text) = crate::regular::read(path, crate::regular::Links::Refuse, 64 * 1024) else {
            return Base::default();
        };
        let text = String::from_utf8_lossy(text.as_deref().unwrap_or_default()).into_owned();
        let mut lines = text.lines();
        let total = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        let folded = lines.filter_map(|l| l.parse().ok()).collect();
        Base { total, folded }
    }

    fn write(&self, dir: &Path, name: &str) -> io::Result<()> {
        let temporary = dir.join(format!(".{name}.base.new"));
        let mut text = self.total.to_string();
        for hour in &self.folded {
            text.push('\n');
            text.push_str(&hour.to_string());
        }
        let _ = fs::remove_file(&temporary);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        drop(file);
        fs::rename(&temporary, dir.join(format!("{name}.base")))
    }
}

/// Every counter's total, the hours that are over folded into their bases first.
pub fn totals(slots: &Path) -> io::Result<BTreeMap<String, u64>> {
    totals_at(slots, hour_now(), rustix::process::geteuid().as_raw())
}

/// [`totals`] at the hour `now`, read by the user `user`.
fn totals_at(slots: &Path, now: u64, user: u32) -> io::Result<BTreeMap<String, u64>> {
    let dir = slots.join(FOLDER);
    // Never through a symbolic link: the programs' user could point the folder anywhere, and a
    // fold removes files.
    let real_dir = |p: &Path| fs::symlink_metadata(p).map(|m| (m.is_dir(), m.uid()));
    let (slots_dir, slots_owner) = match real_dir(slots) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let (counters_dir, counters_owner) = match real_dir(&dir) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    if !slots_dir || !counters_dir {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a folder of the programs", dir.display()),
        ));
    }
    let entries = fs::read_dir(&dir)?;
    // Only the counters' own user folds, and never root (a root reader would leave files the
    // programs could not read): another reader adds the hours up as they are.
    if user == 0 || slots_owner != user || counters_owner != user {
        return Ok(sum_as_they_are(&dir, entries));
    }
    // Readers fold one at a time, and a reader that finds another folding adds up as they are;
    // writers never take this lock.
    let lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(dir.join(".fold"))?;
    if lock.try_lock().is_err() {
        return Ok(sum_as_they_are(&dir, fs::read_dir(&dir)?));
    }
    let mut hours: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut names: BTreeMap<String, ()> = BTreeMap::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some((name, suffix)) = file_name.rsplit_once('.') else {
            continue;
        };
        if name.is_empty() || name.starts_with('.') {
            continue;
        }
        if suffix == "base" {
            names.insert(name.to_owned(), ());
            continue;
        }
        let Ok(hour) = suffix.parse::<u64>() else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            hours
                .entry(name.to_owned())
                .or_default()
                .push((hour, meta.size()));
            names.insert(name.to_owned(), ());
        }
    }
    let mut totals = BTreeMap::new();
    for name in names.keys() {
        let mut base = Base::read(&dir.join(format!("{name}.base")));
        let shards = hours.remove(name).unwrap_or_default();
        // The hour before this one stays open too: a writer that took the hour just before it
        // turned may still be appending to it.
        let (over, open): (Vec<_>, Vec<_>) = shards
            .into_iter()
            .partition(|(h, _)| h.saturating_add(1) < now);
        let fresh: Vec<&(u64, u64)> = over
            .iter()
            .filter(|(h, _)| !base.folded.contains(h))
            .collect();
        if !over.is_empty() {
            if !fresh.is_empty() {
                base.total += fresh.iter().map(|(_, size)| size).sum::<u64>();
                base.folded = over.iter().map(|(h, _)| *h).collect();
                base.write(&dir, name)?;
            }
            for (hour, _) in &over {
                let _ = fs::remove_file(dir.join(format!("{name}.{hour}")));
            }
        }
        let now_count: u64 = open.iter().map(|(_, size)| size).sum();
        totals.insert(name.clone(), base.total + now_count);
    }
    drop(lock);
    Ok(totals)
}

/// Every counter's total without folding: its base, and the hours its base has not folded.
fn sum_as_they_are(dir: &Path, entries: fs::ReadDir) -> BTreeMap<String, u64> {
    let mut hours: Vec<(String, u64, u64)> = Vec::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some((name, suffix)) = file_name.to_str().and_then(|n| n.rsplit_once('.')) else {
            continue;
        };
        if name.is_empty() || name.starts_with('.') {
            continue;
        }
        if let Ok(hour) = suffix.parse::<u64>()
            && let Ok(meta) = entry.metadata()
        {
            hours.push((name.to_owned(), hour, meta.size()));
            totals.entry(name.to_owned()).or_default();
        } else if suffix == "base" {
            totals.entry(name.to_owned()).or_default();
        }
    }
    for (name, total) in totals.iter_mut() {
        let base = Base::read(&dir.join(format!("{name}.base")));
        *total = base.total
            + hours
                .iter()
                .filter(|(n, h, _)| n == name && !base.folded.contains(h))
                .map(|(_, _, size)| size)
                .sum::<u64>();
    }
    totals
}

/// A file's length (for tests).
#[cfg(test)]
fn size_of(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The user whose counters these are, as the programs' user would be: root does not fold,
    /// so under root the folders are given to nobody, whom the test then plays.
    fn owner(slots: &Path) -> u32 {
        if !rustix::process::geteuid().is_root() {
            return rustix::process::geteuid().as_raw();
        }
        for dir in [slots.to_owned(), slots.join(FOLDER)] {
            let status = std::process::Command::new("chown")
                .arg("65534")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        65534
    }

    #[test]
    fn counts_survive_their_processes_and_fold_once() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("streams");
        let refused = name(&["refused", "nph-longpoll", "401"]);
        for _ in 0..3 {
            add_at(&slots, &refused, 10).unwrap();
        }
        add_at(&slots, &refused, 11).unwrap();
        add_at(&slots, &name(&["capped", "nph/clock"]), 11).unwrap();
        let counters = slots.join(FOLDER);
        // Root only reads.
        assert_eq!(totals_at(&slots, 12, 0).unwrap()[&refused], 4);
        assert!(counters.join(format!("{refused}.10")).exists());
        let user = owner(&slots);
        let totals = totals_at(&slots, 12, user).unwrap();
        assert_eq!(totals[&refused], 4);
        assert_eq!(totals["capped.nph_clock"], 1);
        // Hour 10 was folded into the base and removed; hour 11, the one before this, is still
        // open (a writer may be finishing it).
        assert!(!counters.join(format!("{refused}.10")).exists());
        assert_eq!(size_of(&counters.join(format!("{refused}.11"))), 1);
        // Read again, and in a later hour: the same totals, nothing counted twice.
        assert_eq!(totals_at(&slots, 12, user).unwrap()[&refused], 4);
        // Another process's count in hour 12 (as that user would append it).
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(counters.join(format!("{refused}.12")))
            .unwrap();
        file.write_all(b"1").unwrap();
        assert_eq!(totals_at(&slots, 14, user).unwrap()[&refused], 5);
        assert_eq!(totals_at(&slots, 14, user).unwrap()[&refused], 5);
    }

    #[test]
    fn a_fold_stopped_before_removing_its_hours_counts_them_once() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("streams");
        add_at(&slots, "c", 5).unwrap();
        add_at(&slots, "c", 5).unwrap();
        let counters = slots.join(FOLDER);
        // The base says hour 5 was folded, but the hour's file is still there.
        Base {
            total: 2,
            folded: vec![5],
        }
        .write(&counters, "c")
        .unwrap();
        let user = owner(&slots);
        assert_eq!(totals_at(&slots, 7, user).unwrap()["c"], 2);
        assert!(!counters.join("c.5").exists());
    }

    #[test]
    fn another_user_reads_without_folding() {
        let dir = tempfile::tempdir().unwrap();
        let counters = dir.path().join(FOLDER);
        std::fs::create_dir_all(&counters).unwrap();
        std::fs::write(counters.join("c.3"), "11").unwrap();
        std::fs::write(counters.join("c.4"), "1").unwrap();
        Base {
            total: 5,
            folded: vec![3],
        }
        .write(&counters, "c")
        .unwrap();
        let entries = fs::read_dir(&counters).unwrap();
        let totals = sum_as_they_are(&counters, entries);
        assert_eq!(
            totals["c"], 6,
            "the base, and hour 4 (hour 3 is in the base)"
        );
        assert!(counters.join("c.3").exists(), "nothing removed");
    }

    #[test]
    fn a_folder_made_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("streams");
        std::fs::create_dir(&slots).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("log.1"), "x").unwrap();
        std::os::unix::fs::symlink(&elsewhere, slots.join(FOLDER)).unwrap();
        let user = rustix::process::geteuid().as_raw();
        assert!(totals_at(&slots, 100, user).is_err());
        assert!(
            elsewhere.join("log.1").exists(),
            "nothing removed through the link"
        );
        assert!(add(&slots, "c").is_err(), "nothing written through it");
    }

    #[test]
    fn names_are_file_names() {
        assert_eq!(name(&["refused", "../x", "4 0"]), "refused.___x.4_0");
        assert!(totals(Path::new("/nonexistent/slots")).unwrap().is_empty());
    }
}
