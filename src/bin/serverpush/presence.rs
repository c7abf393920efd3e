//! `serverpush presence` and `serverpush metrics`: who is connected now, and the host's figures
//! in Prometheus's text format, both read from the stream slots' records ([`serverpush::slots`])
//! and the channel store, computed when asked: nothing is counted while streams run.
//!
//! What the records hold came from requests (a subscriber's name): it reaches the terminal
//! through `terminal::escape` only, and never becomes a metrics label.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serverpush::config::{Config, StoreKind};
use serverpush::slots::{self, Live};
use serverpush::source::presence::{self, write_metrics};

use crate::cli::{MetricsArgs, PresenceArgs, StoreArgs};
use crate::terminal::escape;

/// The config and the live streams' slots it points at.
fn live(args: &StoreArgs) -> Result<(Config, Vec<Live>)> {
    let config = Config::load(args.config_path().as_deref())?;
    let dir = slots_dir(&config);
    let live =
        slots::live(&dir).with_context(|| format!("reading the slots in {}", dir.display()))?;
    Ok((config, live))
}

/// The programs' slot folder. A `{uid}` in `streams_dir` is the programs' user: the spool's
/// owner, which is that user (the spool store), else this command's.
pub(crate) fn slots_dir(config: &Config) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let spool_owner = (config.store == StoreKind::Spool)
        .then(|| std::fs::metadata(&config.spool_dir).ok())
        .flatten()
        .map(|m| m.uid());
    let uid = spool_owner.unwrap_or_else(|| rustix::process::geteuid().as_raw());
    config.streams_path_for(uid)
}

/// The other hosts' live streams, when the store serves several (Redis).
pub(crate) fn other_hosts(config: &Config) -> Result<Vec<slots::Record>> {
    if config.store != StoreKind::Redis {
        return Ok(Vec::new());
    }
    let mut store = crate::owner::open_store(config, serverpush::store::spool::owner::Use::Read)?;
    Ok(presence::other_hosts(&slots_dir(config), store.as_mut())?)
}

/// `serverpush presence [CHANNEL]`: a line per live stream (those serving CHANNEL), this host's
/// by slot, then the other hosts' (a store several hosts share).
pub fn list(args: &PresenceArgs) -> Result<()> {
    let (config, live) = live(&args.store)?;
    let others = other_hosts(&config)?;
    let live: Vec<Live> = live
        .into_iter()
        .chain(others.into_iter().map(|record| Live {
            number: usize::MAX,
            record: Some(record),
        }))
        .collect();
    let wanted = args.channel.as_ref().map(|c| c.as_str().to_owned());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>5}  {:<13} {:<9} {:<9} {:<20} {:<16} serves",
        "slot", "program", "transport", "server", "since", "subscriber"
    )?;
    let mut shown = 0;
    for slot in &live {
        let Some(record) = &slot.record else {
            if wanted.is_none() {
                writeln!(out, "{:>5}  (starting)", slot.number)?;
                shown += 1;
            }
            continue;
        };
        if let Some(channel) = &wanted
            && !record.resources.iter().any(|r| r == channel)
        {
            continue;
        }
        shown += 1;
        let since = chrono::DateTime::from_timestamp_millis(
            i64::try_from(record.since_ms).unwrap_or(i64::MAX),
        )
        .map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let place = match slot.number {
            usize::MAX => "other".to_owned(),
            n => n.to_string(),
        };
        writeln!(
            out,
            "{place:>5}  {:<13} {:<9} {:<9} {since:<20} {:<16} {}",
            escape(&record.program),
            escape(&record.transport),
            escape(&record.server),
            escape(record.subscriber.as_deref().unwrap_or("-")),
            escape(&record.resources.join(", "))
        )?;
    }
    match &wanted {
        Some(channel) => writeln!(out, "{shown} subscriber(s) on {}", escape(channel))?,
        None => writeln!(
            out,
            "{shown} stream(s) open, of max_streams {}",
            config.max_streams
        )?,
    }
    Ok(())
}

/// `serverpush metrics`.
pub fn metrics(args: &MetricsArgs) -> Result<()> {
    let (config, live) = live(&args.store)?;
    // A store that cannot be read is a figure (store_up 0), not a failed scrape.
    let heads = crate::owner::open_store(&config, serverpush::store::spool::owner::Use::Read)
        .ok()
        .and_then(|mut store| presence::heads(store.as_mut(), &live, args.top).ok());
    let mut out = std::io::stdout().lock();
    let counters = serverpush::counters::totals(&slots_dir(&config))
        .context("reading the metrics' counters")?;
    write_metrics(
        &mut out,
        &config,
        &live,
        heads.as_ref(),
        &counters,
        args.top,
    )?;
    Ok(())
}
