//! *Presence* and *metrics* read from the stream slots' records ([`crate::slots`]) and the
//! channel store, computed when asked: nothing is counted while streams run. The operator's
//! command prints them (`serverpush presence`, `serverpush metrics`), and `nph-longpoll`
//! answers them over HTTP (`?presence` for a channel, to those who may subscribe to it;
//! `?metrics`, to the holders of `metrics_token` or the users of `metrics_users`).
//!
//! What the records hold came from requests (a subscriber's name): it never becomes a metrics
//! label, and a presence answer escapes it as JSON does.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

use crate::config::Config;
use crate::slots::{Live, Record};
use crate::store::{ChannelStore, StoreError};

/// The media type of Prometheus's text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The channels the live streams follow, the most followed first (then by name), at most `top`:
/// a label per channel would let a site with many channels swamp its monitoring.
pub fn top_channels(live: &[Live], top: usize) -> Vec<(String, u64)> {
    let mut subscribers: BTreeMap<&str, u64> = BTreeMap::new();
    for record in live.iter().filter_map(|l| l.record.as_ref()) {
        // Only channels: the other resources have a `:`, which no channel's name has.
        for resource in record.resources.iter().filter(|r| !r.contains(':')) {
            *subscribers.entry(resource).or_default() += 1;
        }
    }
    let mut channels: Vec<(String, u64)> = subscribers
        .into_iter()
        .map(|(c, n)| (c.to_owned(), n))
        .collect();
    channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    channels.truncate(top);
    channels
}

/// The last id (the messages published) of at most `top` channels, for [`write_metrics`]: those
/// of [`top_channels`] first, then others by name. Only those channels' heads are read.
pub fn heads(
    store: &mut dyn ChannelStore,
    live: &[Live],
    top: usize,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let all = store.channels()?;
    let mut chosen: Vec<&crate::name::Channel> = Vec::new();
    for (name, _) in top_channels(live, top) {
        if let Some(channel) = all.iter().find(|c| c.as_str() == name) {
            chosen.push(channel);
        }
    }
    for channel in &all {
        if chosen.len() >= top {
            break;
        }
        if !chosen.contains(&channel) {
            chosen.push(channel);
        }
    }
    let mut heads = BTreeMap::new();
    for channel in chosen {
        let (last, _) = store.head(channel)?;
        heads.insert(channel.as_str().to_owned(), last);
    }
    Ok(heads)
}

/// The live streams serving `channel`: how many, and (with `names`) who, for those a user or
/// token names.
pub fn channel_presence(records: &[Record], channel: &str, names: bool) -> Value {
    let serving: Vec<_> = records
        .iter()
        .filter(|r| r.resources.iter().any(|c| c == channel))
        .collect();
    let named: Vec<Value> = serving
        .iter()
        .filter(|_| names)
        .filter_map(|r| {
            let who = r.subscriber.as_ref()?;
            Some(json!({ "subscriber": who, "transport": r.transport, "since_ms": r.since_ms }))
        })
        .collect();
    json!({ "channel": channel, "count": serving.len(), "subscribers": named })
}

/// A stream's presence upkeep, if it has one, when due by `time` ([`crate::program::Upkeep`]),
/// with this module's announcer; what failed goes to `notes`, for the log.
pub fn tend<T: crate::pacing::Time>(
    upkeep: &mut Option<crate::program::Upkeep>,
    store: &mut dyn ChannelStore,
    time: &T,
    notes: &mut Vec<String>,
) {
    if let Some(upkeep) = upkeep {
        notes.extend(upkeep.tend(store, time.elapsed(), announce));
    }
}

/// The records of the streams live now: this host's, from its slots (a killed stream is gone at
/// once), and with a store that serves several hosts, the others' streams recorded there (a
/// killed one's until its time runs out: three heartbeats).
pub fn live_records(
    config: &Config,
    store: &mut dyn ChannelStore,
) -> Result<Vec<Record>, StoreError> {
    let dir = config.streams_path();
    let live = crate::slots::live(&dir)
        .map_err(|e| StoreError::Failed(format!("the stream slots: {e}")))?;
    let mut records: Vec<Record> = live.into_iter().filter_map(|l| l.record).collect();
    records.extend(other_hosts(&dir, store)?);
    Ok(records)
}

/// The records of the other hosts' live streams (those whose slots are not in `dir`), when the
/// store serves several hosts; none otherwise.
pub fn other_hosts(
    dir: &std::path::Path,
    store: &mut dyn ChannelStore,
) -> Result<Vec<Record>, StoreError> {
    let Some(shared) = store.shared_streams()? else {
        return Ok(Vec::new());
    };
    let here = format!("{}:", crate::slots::host_id(dir));
    Ok(shared
        .iter()
        .filter(|(id, _)| !id.starts_with(&here))
        .filter_map(|(_, record)| serde_json::from_str::<Record>(record).ok())
        .collect())
}

/// Publishes `kind` (`join` or `leave`) of the stream `record` describes on the companion of
/// each channel it names in `events`, with how many live streams of this host serve the
/// channel now; returns what could not be published, for the log.
pub fn announce(
    config: &Config,
    store: &mut dyn crate::store::ChannelStore,
    record: &crate::slots::Record,
    kind: &str,
) -> Vec<String> {
    let mut notes = Vec::new();
    // Gone from every host's presence before its leaves count what is left.
    if kind == "leave"
        && let Some(id) = &record.shared
        && let Err(error) = store.forget_stream(id)
    {
        notes.push(format!("presence not unshared: {error}"));
    }
    // Read once, and only for a channel's count (a Mercure subscription's change has none).
    let mut live: Option<Vec<Record>> = None;
    for channel in &record.events {
        if let Some(selector) =
            channel.strip_prefix(crate::source::mercure::subscriptions::EVENT_PREFIX)
        {
            let active = kind == "join";
            if let Err(error) = crate::source::mercure::subscriptions::publish_change(
                store, record, selector, active,
            ) {
                notes.push(format!("subscription of {selector} not published: {error}"));
            }
            continue;
        }
        let companion = format!("{channel}{}", crate::rights::PRESENCE_SUFFIX);
        let Ok(companion) = crate::name::Channel::parse(&companion) else {
            notes.push(format!(
                "no {kind} for {channel}: {companion} is not a channel's name"
            ));
            continue;
        };
        let count = live
            .get_or_insert_with(|| live_records(config, store).unwrap_or_default())
            .iter()
            .filter(|r| r.resources.iter().any(|c| c == channel))
            .count();
        let since =
            chrono::DateTime::from_timestamp_millis(i64::try_from(record.since_ms).unwrap_or(0))
                .map(crate::store::format_time);
        // Names go only to those with a right to the channel, as a presence answer's do.
        let subscriber = record
            .subscriber
            .as_ref()
            .filter(|_| crate::rights::is_private_channel(config, channel));
        let event = serde_json::json!({
            "event": kind,
            "channel": channel,
            "stream": format!("{}-{}", record.since_ms, record.pid),
            "subscriber": subscriber,
            "transport": record.transport,
            "since": since,
            "count": count,
        })
        .to_string();
        let message = crate::store::NewMessage {
            content_type: "application/json",
            data: &event,
            idempotency_key: None,
        };
        if let Err(error) = store.publish(&companion, &message) {
            notes.push(format!("{kind} not published on {companion}: {error}"));
        }
    }
    notes
}

/// A label value as Prometheus's text format wants it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes the figures for `live` and the store's channels (`heads`, `None` when the store could
/// not be read) in Prometheus's text format; at most `top` channels.
pub fn write_metrics(
    out: &mut dyn Write,
    config: &Config,
    live: &[Live],
    heads: Option<&BTreeMap<String, u64>>,
    counters: &BTreeMap<String, u64>,
    top: usize,
) -> std::io::Result<()> {
    let mut streams: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for record in live.iter().filter_map(|l| l.record.as_ref()) {
        *streams
            .entry((
                record.program.clone(),
                record.transport.clone(),
                record.server.clone(),
            ))
            .or_default() += 1;
    }
    writeln!(
        out,
        "# HELP serverpush_streams Streams and waiting long-polls open on this host now."
    )?;
    writeln!(out, "# TYPE serverpush_streams gauge")?;
    for ((program, transport, server), n) in &streams {
        writeln!(
            out,
            "serverpush_streams{{program=\"{}\",transport=\"{}\",server=\"{}\"}} {n}",
            label(program),
            label(transport),
            label(server)
        )?;
    }
    writeln!(
        out,
        "# HELP serverpush_stream_slots_used Stream slots held on this host (starting streams included)."
    )?;
    writeln!(out, "# TYPE serverpush_stream_slots_used gauge")?;
    writeln!(out, "serverpush_stream_slots_used {}", live.len())?;
    writeln!(
        out,
        "# HELP serverpush_stream_slots_max The streams cap, max_streams: the next stream gets 503."
    )?;
    writeln!(out, "# TYPE serverpush_stream_slots_max gauge")?;
    writeln!(out, "serverpush_stream_slots_max {}", config.max_streams)?;

    let channels = top_channels(live, top);
    writeln!(
        out,
        "# HELP serverpush_channel_subscribers Streams and waiting long-polls on a channel now (the {top} channels with most)."
    )?;
    writeln!(out, "# TYPE serverpush_channel_subscribers gauge")?;
    for (channel, n) in &channels {
        writeln!(
            out,
            "serverpush_channel_subscribers{{channel=\"{}\"}} {n}",
            label(channel)
        )?;
    }
    writeln!(
        out,
        "# HELP serverpush_refusals_total Requests refused, by program and status (counted since the slots' folder was made)."
    )?;
    writeln!(out, "# TYPE serverpush_refusals_total counter")?;
    let mut capped = 0;
    for (name, n) in counters {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["refused", program, status] => writeln!(
                out,
                "serverpush_refusals_total{{program=\"{}\",status=\"{}\"}} {n}",
                label(program),
                label(status)
            )?,
            ["capped", _] => capped += n,
            _ => {}
        }
    }
    writeln!(
        out,
        "# HELP serverpush_streams_capped_total Streams turned away (503) because max_streams were open."
    )?;
    writeln!(out, "# TYPE serverpush_streams_capped_total counter")?;
    writeln!(out, "serverpush_streams_capped_total {capped}")?;
    writeln!(
        out,
        "# HELP serverpush_store_up 1 when the channel store could be read, 0 when not."
    )?;
    writeln!(out, "# TYPE serverpush_store_up gauge")?;
    writeln!(out, "serverpush_store_up {}", u8::from(heads.is_some()))?;
    if let Some(heads) = heads {
        writeln!(
            out,
            "# HELP serverpush_channel_messages_total Messages published to a channel: its last id (it starts again from 1 when the channel is made anew, a counter reset)."
        )?;
        writeln!(out, "# TYPE serverpush_channel_messages_total counter")?;
        for (channel, last) in heads {
            writeln!(
                out,
                "serverpush_channel_messages_total{{channel=\"{}\"}} {last}",
                label(channel)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slots::Record;

    fn live(number: usize, transport: &str, resources: &[&str]) -> Live {
        Live {
            number,
            record: Some(Record {
                program: "nph-longpoll".into(),
                transport: transport.into(),
                resources: resources.iter().map(|r| r.to_string()).collect(),
                subscriber: Some("\"mallory\"\n".into()),
                server: "apache".into(),
                since_ms: 0,
                pid: 1,
                ..Record::default()
            }),
        }
    }

    #[test]
    fn metrics_count_streams_and_channels_within_the_top() {
        let streams = [
            live(0, "sse", &["room", "lobby"]),
            live(1, "sse", &["room"]),
            live(2, "longpoll", &["zoo"]),
            Live {
                number: 3,
                record: None,
            },
        ];
        let heads: BTreeMap<String, u64> = [("room".to_owned(), 7), ("lobby".to_owned(), 2)].into();
        let mut out = Vec::new();
        let counters: BTreeMap<String, u64> = [
            ("refused.nph-longpoll.401".to_owned(), 3),
            ("capped.nph-clock".to_owned(), 2),
            ("capped.nph-longpoll".to_owned(), 1),
        ]
        .into();
        write_metrics(
            &mut out,
            &Config::default(),
            &streams,
            Some(&heads),
            &counters,
            2,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(
            "serverpush_streams{program=\"nph-longpoll\",transport=\"sse\",server=\"apache\"} 2"
        ));
        assert!(
            text.contains("serverpush_refusals_total{program=\"nph-longpoll\",status=\"401\"} 3")
        );
        assert!(text.contains("serverpush_streams_capped_total 3"));
        assert!(text.contains("serverpush_stream_slots_used 4"));
        assert!(text.contains("serverpush_stream_slots_max 100"));
        assert!(text.contains("serverpush_channel_subscribers{channel=\"room\"} 2"));
        // Top 2: room (2), then lobby and zoo (1 each) by name: lobby.
        assert!(text.contains("serverpush_channel_subscribers{channel=\"lobby\"} 1"));
        assert!(!text.contains("channel=\"zoo\""), "{text}");
        assert!(text.contains("serverpush_channel_messages_total{channel=\"room\"} 7"));
        assert!(text.contains("serverpush_store_up 1"));
        assert!(!text.contains("mallory"), "a subscriber is never a label");
        let mut out = Vec::new();
        write_metrics(
            &mut out,
            &Config::default(),
            &streams,
            None,
            &BTreeMap::new(),
            2,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("serverpush_store_up 0"));
        assert!(!text.contains("messages_total{"));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
