//! `serverpush channels` and `serverpush tail`: what is in the channel store, and one channel
//! followed from the terminal. Both go through `ChannelStore`, so they work with the spool and
//! with Redis alike. What the store holds was written by others (publishers, anyone who can
//! write to the store): it reaches the terminal through `terminal::escape` only.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use serverpush::config::Config;
use serverpush::name::Channel;
use serverpush::store::{ChannelStore, Message, Waiting};

use crate::cli::{StoreArgs, TailArgs};
use crate::terminal::escape;

/// Messages read at a time: enough for a whole default retention in one read.
const PAGE: usize = 1000;

fn open(args: &StoreArgs) -> Result<Box<dyn ChannelStore>> {
    let config = Config::load(args.config_path().as_deref())?;
    crate::owner::open_store(&config, serverpush::store::spool::owner::Use::Read)
}

/// Streams and waiting long-polls per channel now: this host's, and the other hosts' when the
/// store serves several.
fn subscribers(config: &Config) -> Result<std::collections::BTreeMap<String, u64>> {
    let dir = crate::presence::slots_dir(config);
    let live = serverpush::slots::live(&dir)
        .with_context(|| format!("reading the slots in {}", dir.display()))?;
    let mut records: Vec<_> = live.into_iter().filter_map(|l| l.record).collect();
    records.extend(crate::presence::other_hosts(config)?);
    let mut counts = std::collections::BTreeMap::new();
    for record in &records {
        for resource in &record.resources {
            *counts.entry(resource.clone()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// What `channels` prints of one channel.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    first: Option<u64>,
    last: u64,
    messages: u64,
    bytes: u64,
    epoch: Option<String>,
}

/// Reads a channel through to its end.
fn summarize(store: &mut dyn ChannelStore, channel: &Channel) -> Result<Summary> {
    let (last, epoch) = store.head(channel)?;
    let mut summary = Summary {
        last,
        epoch,
        ..Summary::default()
    };
    let mut after = 0;
    loop {
        let batch = store.read_after(channel, after, PAGE)?;
        for message in &batch.messages {
            summary.first.get_or_insert(message.id);
            summary.messages += 1;
            summary.bytes += message.data.len() as u64;
        }
        summary.last = summary.last.max(batch.last_id);
        match batch.read_to() {
            Some(to) if to > after => after = to,
            _ => return Ok(summary),
        }
    }
}

/// Prints one line per channel.
pub fn list(args: &StoreArgs) -> Result<()> {
    let config = Config::load(args.config_path().as_deref())?;
    // Who is connected is the programs' to read: a user who may read the store but not their
    // slots gets the channels without it.
    let subscribers = match subscribers(&config) {
        Ok(counts) => Some(counts),
        Err(error) => {
            eprintln!("serverpush: no subscribers shown: {error:#}");
            None
        }
    };
    // Opened after the slots are read: root opens the store as its owner.
    let mut store = open(args)?;
    // Channels streams wait for before their first message are listed too.
    let mut names = store.channels()?;
    let waited = subscribers.iter().flat_map(|counts| counts.keys());
    for waited in waited.filter_map(|r| Channel::parse(r).ok()) {
        if !names.contains(&waited) {
            names.push(waited);
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<24} {:>10} {:>10} {:>9} {:>10} {:>11}  epoch",
        "channel", "first", "last", "messages", "bytes", "subscribers"
    )?;
    for name in names {
        let s = summarize(store.as_mut(), &name).with_context(|| format!("reading {name}"))?;
        let first = s.first.map_or_else(|| "-".to_owned(), |f| f.to_string());
        writeln!(
            out,
            "{:<24} {first:>10} {:>10} {:>9} {:>10} {:>11}  {}",
            escape(name.as_str()),
            s.last,
            s.messages,
            s.bytes,
            subscribers.as_ref().map_or_else(
                || "-".to_owned(),
                |counts| counts.get(name.as_str()).copied().unwrap_or(0).to_string()
            ),
            escape(s.epoch.as_deref().unwrap_or("-"))
        )?;
    }
    Ok(out.flush()?)
}

fn print(out: &mut impl Write, m: &Message) -> std::io::Result<()> {
    // One message a line, with its id and time first, so `grep` and `cut` work on the output:
    // a line break inside a message is shown escaped, as every other control character is.
    writeln!(out, "{} {} {}", m.id, escape(&m.time), escape(&m.data))?;
    out.flush()
}

/// Prints a channel's messages after `--since` (or from now on), then follows it.
pub fn tail(args: &TailArgs) -> Result<()> {
    let channel = &args.channel;
    let mut store = open(&args.store)?;
    store.watch(std::slice::from_ref(&args.channel), Waiting::Stream)?;
    let mut after = match args.since {
        Some(n) => n,
        None => store.head(channel)?.0,
    };
    let mut epoch = None;
    let mut out = std::io::stdout().lock();
    loop {
        let batch = store.read_after(channel, after, PAGE)?;
        if epoch.is_some() && batch.epoch.is_some() && batch.epoch != epoch {
            eprintln!("serverpush: {channel} was lost and started again; reading from its start");
            after = 0;
            epoch = batch.epoch;
            continue;
        }
        epoch = batch.epoch.clone().or(epoch);
        if batch.missed {
            eprintln!("serverpush: messages after {after} were dropped by retention");
        }
        for m in &batch.messages {
            print(&mut out, m)?;
        }
        for id in &batch.unreadable {
            eprintln!("serverpush: message {id} cannot be read");
        }
        match batch.read_to() {
            Some(to) if to > after => after = to,
            _ if args.no_follow => return Ok(()),
            // Nothing new: sleep in the store's wait (inotify or XREAD BLOCK), not in a loop.
            _ => {
                store.wait(&[(channel, after)], Duration::from_secs(30))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }
    use serverpush::store::{NewMessage, Retention, SpoolStore};

    #[test]
    fn a_summary_reads_the_whole_channel() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            messages: 3,
            max_age: Duration::from_secs(3600),
            idempotency: Duration::from_secs(60),
        };
        let mut store = SpoolStore::new(dir.path(), retention);
        for data in ["a", "bb", "ccc", "dddd", "eeeee"] {
            let m = NewMessage {
                content_type: "text/plain",
                data,
                idempotency_key: None,
            };
            assert!(store.publish(&ch("c"), &m).is_ok());
        }
        let s = summarize(&mut store, &ch("c")).unwrap();
        assert_eq!((s.first, s.last, s.messages, s.bytes), (Some(3), 5, 3, 12));
        let empty = summarize(&mut store, &ch("none")).unwrap();
        assert_eq!((empty.first, empty.last, empty.messages), (None, 0, 0));
    }
}
