//! The *Redis store*: channels in Redis streams, so that several web servers share them.
//!
//! Layout, for a channel `chat` under the default prefix:
//! - `serverpush:{chat}:s`, a stream whose entry ids are `<n>-0` for message id `n` (1, 2, 3,
//!   … exactly as the spool store numbers them), with the fields `ms` (the publish time, from
//!   Redis's clock so that hosts with different clocks agree), `type`, `data` and `e` (the
//!   channel's epoch, so that entries a wait returns can be delivered without another read);
//! - `serverpush:{chat}:m`, a hash with `last` (the last id given) and `epoch`;
//! - `serverpush:{chat}:r`, a stream with one entry per epoch, its id from Redis's clock (the
//!   hash's `r` names it): subscribers block on it too, so a channel deleted and made again
//!   wakes them at once, though its new ids (from 1) are below the ones they wait after;
//! - `serverpush:{chat}:k:<digest>`, the id an idempotency key was stored with, expiring; the
//!   digest is [`IdempotencyKey`](super::IdempotencyKey)'s, of the publisher and the key.
//!
//! The `{chat}` hash tag puts a channel's keys in one Redis Cluster slot, which its scripts
//! need. A publish is one Lua script (allocate the id, `XADD`, trim by count and age, remember
//! the idempotency key), so publishers on different hosts never collide; a read is one script
//! too (the epoch, the last id and the entries after an id, consistent with each other).
//! Subscribers wait with `XREAD BLOCK` on explicit ids (never `$`, which would skip a message
//! published between a read and the wait) on the process's own connection.
//!
//! When the `m` hash is missing (a new channel, a flushed or failed-over Redis without the
//! key), the next publish makes a new epoch and starts the ids again from 1, dropping any
//! stream entries left without their hash.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use redis::{Connection, RedisError, Script, Value};

use super::{
    Batch, ChannelStore, Message, NewMessage, Published, Retention, StoreError, Waiting,
    format_time, new_epoch,
};
use crate::config::Config;
use crate::name::Channel;

/// How to reach Redis.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port/db` or `unix:///path/redis.sock`.
    pub url: String,
    /// Prepended to every key.
    pub key_prefix: String,
    /// The longest a connection may take.
    pub connect_timeout: Duration,
    /// The longest a command may take (a blocking wait adds its block time).
    pub command_timeout: Duration,
}

impl RedisSettings {
    /// The settings the config names.
    pub fn of(config: &Config) -> RedisSettings {
        RedisSettings {
            url: config.redis_url.clone(),
            key_prefix: config.redis_key_prefix.clone(),
            connect_timeout: Duration::from_millis(config.redis_connect_timeout_ms),
            command_timeout: Duration::from_millis(config.redis_command_timeout_ms),
        }
    }
}

/// Allocates the id, appends, trims, and remembers the idempotency key, atomically.
///
/// A channel's first message is added before its epoch's entry in the resets stream: Redis
/// (before 7.2) answers a waiter blocked on several streams with the one that woke it first, so
/// waiters get the message itself, not the reset alone and a read more each.
///
/// KEYS: stream, meta hash, idempotency key (the meta hash again when there is none), resets.
/// ARGV: a new epoch (used if the channel has none), type, data, messages kept, maximum age in
/// ms, idempotency time in ms, "1" when a key is given.
/// Returns `{id, epoch, duplicate}`.
const PUBLISH: &str = r"
local stream, meta, keyed = KEYS[1], KEYS[2], KEYS[3]
if ARGV[7] == '1' then
  local prior = redis.call('GET', keyed)
  if prior then
    return {tonumber(prior), redis.call('HGET', meta, 'epoch') or '', 1}
  end
end
local made = redis.call('HSETNX', meta, 'epoch', ARGV[1]) == 1
if made then
  redis.call('DEL', stream)
end
local id = redis.call('HINCRBY', meta, 'last', 1)
local epoch = redis.call('HGET', meta, 'epoch')
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local newest = id .. '-0'
redis.call('XADD', stream, newest, 'ms', ms, 'type', ARGV[2], 'data', ARGV[3], 'e', epoch)
if made then
  local reset = redis.call('XADD', KEYS[4], 'MAXLEN', '1', '*', 'e', ARGV[1])
  redis.call('HSET', meta, 'r', reset)
end
redis.call('XTRIM', stream, 'MAXLEN', '=', ARGV[4])
local cutoff = ms - tonumber(ARGV[5])
local full = true
while full do
  full = false
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 64)
  for i, entry in ipairs(oldest) do
    if entry[1] == newest then break end
    local fields, t = entry[2], nil
    for f = 1, #fields, 2 do
      if fields[f] == 'ms' then t = tonumber(fields[f + 1]) end
    end
    if t and t >= cutoff then break end
    redis.call('XDEL', stream, entry[1])
    if i == 64 then full = true end
  end
end
if ARGV[7] == '1' then
  redis.call('SET', keyed, id, 'PX', ARGV[6])
end
return {id, epoch, 0}
";

/// The epoch, the last id and up to ARGV[2] entries after id ARGV[1], consistent together, and
/// the id of the epoch's entry in the resets stream.
const READ: &str = r"
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'last', 'r')
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
return {meta[1], meta[2], entries, meta[3]}
";

/// Entries asked for in a first read round: at most about a megabyte with 64 KiB messages.
const READ_ROUND: usize = 16;

/// The most entries asked for in one round, once the first ones were small.
const READ_ROUND_MAX: usize = 256;

/// The Redis store: one connection per process.
pub struct RedisStore {
    con: Connection,
    /// Entries the last `XREAD` returned, per channel: a reader takes them from here rather
    /// than asking Redis again, which halves Redis's work when it wakes many subscribers.
    woken: Vec<(Channel, Vec<Value>)>,
    /// Per channel, the id of its epoch's entry in its resets stream, as last read: a wait
    /// blocks after it, so the next epoch's entry wakes it.
    resets: Vec<(Channel, String)>,
    prefix: String,
    retention: Retention,
    command_timeout: Duration,
    publish: Script,
    read: Script,
    presence: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is never printed.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Sorts a Redis failure: the server gone, slow or not ready is `Unavailable` (503, try
/// again); anything else is a failure (500).
fn sorted(e: RedisError) -> StoreError {
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || matches!(
            e.code(),
            Some("LOADING" | "MASTERDOWN" | "TRYAGAIN" | "UNBLOCKED" | "READONLY" | "BUSY")
        );
    if transient {
        StoreError::Unavailable(format!("Redis: {e}"))
    } else {
        StoreError::Failed(format!("Redis: {e}"))
    }
}

fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    bytes_of(v).and_then(|b| String::from_utf8(b.to_vec()).ok())
}

fn number_of(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(bytes_of(other)?).ok()?.parse().ok(),
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Failed(format!("Redis answered a malformed {what}"))
}

/// A key of `channel`: the prefix, the channel as a hash tag, and what the key holds.
fn channel_key(prefix: &str, channel: &Channel, kind: &str) -> String {
    format!("{prefix}{{{channel}}}:{kind}")
}

/// A stream entry id `<n>-0` as the message id `n`.
fn entry_id(v: &Value) -> Option<u64> {
    let text = std::str::from_utf8(bytes_of(v)?).ok()?;
    text.strip_suffix("-0")?.parse().ok()
}

/// The message id of a stream entry, whatever its fields.
fn entry_id_of(entry: &Value) -> Option<u64> {
    match entry {
        Value::Array(parts) => entry_id(parts.first()?),
        _ => None,
    }
}

/// The epoch a stream entry was written in (entries of this store carry it).
fn entry_epoch(entry: &Value) -> Option<String> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [_, Value::Array(fields)] = parts.as_slice() else {
        return None;
    };
    fields.chunks(2).find_map(|pair| match pair {
        [name, value] if bytes_of(name) == Some(b"e") => text_of(value),
        _ => None,
    })
}

/// The entries an `XREAD` returned for `keys[i]`, by index, in either reply shape.
fn xread_entries(answer: Value, keys: &[String]) -> Vec<(usize, Vec<Value>)> {
    let pairs: Vec<(Value, Value)> = match answer {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(kv) => {
                    let mut kv = kv.into_iter();
                    Some((kv.next()?, kv.next()?))
                }
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs,
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = bytes_of(&key)?;
            let index = keys.iter().position(|k| k.as_bytes() == key)?;
            match entries {
                Value::Array(entries) => Some((index, entries)),
                _ => None,
            }
        })
        .collect()
}

/// A stream entry as a message.
fn entry_message(channel: &Channel, entry: &Value) -> Option<Message> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [id, Value::Array(fields)] = parts.as_slice() else {
        return None;
    };
    let (mut ms, mut content_type, mut data) = (None, None, None);
    for pair in fields.chunks(2) {
        let [name, value] = pair else { continue };
        match bytes_of(name)? {
            b"ms" => ms = number_of(value),
            b"type" => content_type = text_of(value),
            b"data" => data = text_of(value),
            _ => {}
        }
    }
    let time = Utc
        .timestamp_millis_opt(i64::try_from(ms?).ok()?)
        .single()?;
    Some(Message {
        channel: channel.clone(),
        id: entry_id(id)?,
        time: format_time(time),
        content_type: content_type?,
        data: data?,
    })
}

/// Presence across hosts: the streams' expiry times (a sorted set) and records (a hash), under
/// one hash tag no channel's name can take. The time is Redis's, so hosts' clocks do not
/// matter. Expired entries are removed as they are met, a bounded number at each call.
/// KEYS: the sorted set, the hash. ARGV: `share`, `forget` or `list`; the id; the ttl in
/// milliseconds (for `list`, the most streams); the record (for `list`, the most bytes).
const PRESENCE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
local what = ARGV[1]
if what == 'share' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
elseif what == 'forget' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[1], ARGV[2])
elseif what == 'list' then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, tonumber(ARGV[3]))
  if #ids == 0 then
    return {}
  end
  -- In pieces: Lua's unpack takes a few thousand values at most. The answer stops at
  -- ARGV[4] bytes of records, its memory bound whatever the records hold.
  local out = {}
  local bytes = 0
  for first = 1, #ids, 1000 do
    local piece = {}
    for i = first, math.min(first + 999, #ids) do
      piece[#piece + 1] = ids[i]
    end
    local records = redis.call('HMGET', KEYS[2], unpack(piece))
    for i, id in ipairs(piece) do
      if records[i] then
        bytes = bytes + #records[i]
        if bytes > tonumber(ARGV[4]) then
          return out
        end
        out[#out + 1] = id
        out[#out + 1] = records[i]
      end
    end
  end
  return out
end
return {}
";

impl RedisStore {
    /// Connects; a server that cannot be reached in `connect_timeout` is `Unavailable`.
    pub fn connect(settings: &RedisSettings, retention: Retention) -> Result<Self, StoreError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|_| StoreError::Failed("redis_url is not a usable Redis URL".into()))?;
        let con = client
            .get_connection_with_timeout(settings.connect_timeout)
            .map_err(sorted)?;
        con.set_read_timeout(Some(settings.command_timeout))
            .map_err(sorted)?;
        con.set_write_timeout(Some(settings.command_timeout))
            .map_err(sorted)?;
        Ok(RedisStore {
            con,
            woken: Vec::new(),
            resets: Vec::new(),
            prefix: settings.key_prefix.clone(),
            retention,
            command_timeout: settings.command_timeout,
            publish: Script::new(PUBLISH),
            read: Script::new(READ),
            presence: Script::new(PRESENCE),
        })
    }

    fn key(&self, channel: &Channel, kind: &str) -> String {
        channel_key(&self.prefix, channel, kind)
    }

    /// The batch after `after` from the entries the last wait returned, when they follow
    /// `after` without a gap and all carry one epoch; `None` sends the reader to Redis.
    fn take_woken(
        &mut self,
        channel: &Channel,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Option<Batch> {
        let index = self.woken.iter().position(|(c, _)| c == channel)?;
        let (_, entries) = self.woken.swap_remove(index);
        let epoch = entry_epoch(entries.first()?)?;
        let mut batch = Batch {
            epoch: Some(epoch.clone()),
            ..Batch::default()
        };
        let mut size = 0;
        for entry in &entries {
            let message = entry_message(channel, entry)?;
            let next = batch.messages.last().map_or(after + 1, |m| m.id + 1);
            if message.id != next || entry_epoch(entry).as_deref() != Some(epoch.as_str()) {
                return None;
            }
            if batch.messages.len() >= limit || size >= max_bytes {
                break;
            }
            size += super::answer_size(&message);
            batch.messages.push(message);
        }
        batch.last_id = batch.read_to()?;
        Some(batch)
    }

    /// Runs the presence script: `what` of `id`.
    fn presence(
        &mut self,
        what: &str,
        id: &str,
        ttl_ms: u64,
        record: &str,
    ) -> Result<Value, StoreError> {
        let tag = Channel::presence_streams();
        self.presence
            .key(self.key(&tag, "z"))
            .key(self.key(&tag, "h"))
            .arg(what)
            .arg(id)
            .arg(ttl_ms)
            .arg(record)
            .invoke(&mut self.con)
            .map_err(sorted)
    }

    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

impl ChannelStore for RedisStore {
    fn publish(
        &mut self,
        channel: &Channel,
        message: &NewMessage<'_>,
    ) -> Result<Published, StoreError> {
        let meta = self.key(channel, "m");
        let keyed = match message.idempotency_key {
            Some(key) => self.key(channel, &format!("k:{}", key.as_str())),
            None => meta.clone(),
        };
        let answer: Value = self
            .publish
            .key(self.key(channel, "s"))
            .key(&meta)
            .key(keyed)
            .key(self.key(channel, "r"))
            .arg(new_epoch())
            .arg(message.content_type)
            .arg(message.data)
            .arg(self.retention.messages)
            .arg(Self::millis(self.retention.max_age))
            .arg(Self::millis(self.retention.idempotency))
            .arg(if message.idempotency_key.is_some() {
                "1"
            } else {
                "0"
            })
            .invoke(&mut self.con)
            .map_err(sorted)?;
        let Value::Array(parts) = answer else {
            return Err(malformed("publish answer"));
        };
        match parts.as_slice() {
            [id, epoch, duplicate] => Ok(Published {
                id: number_of(id).ok_or_else(|| malformed("id"))?,
                epoch: text_of(epoch).ok_or_else(|| malformed("epoch"))?,
                duplicate: number_of(duplicate) == Some(1),
            }),
            _ => Err(malformed("publish answer")),
        }
    }

    fn read_within(
        &mut self,
        channel: &Channel,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Batch, StoreError> {
        if let Some(batch) = self.take_woken(channel, after, limit, max_bytes) {
            return Ok(batch);
        }
        let mut batch = Batch::default();
        let mut from = after;
        let mut size = 0usize;
        let mut round = READ_ROUND;
        let mut first_round = true;
        // In rounds, small at first so a reply never holds much more than `max_bytes`, and
        // larger while the messages are small.
        loop {
            let want = (limit - batch.messages.len()).min(round);
            let answer: Value = self
                .read
                .key(self.key(channel, "s"))
                .key(self.key(channel, "m"))
                .arg(from)
                .arg(want)
                .invoke(&mut self.con)
                .map_err(sorted)?;
            let Value::Array(parts) = answer else {
                return Err(malformed("read answer"));
            };
            let [epoch, last, Value::Array(entries), reset] = parts.as_slice() else {
                return Err(malformed("read answer"));
            };
            if first_round {
                first_round = false;
                batch.epoch = text_of(epoch);
                batch.last_id = number_of(last).unwrap_or(0);
                self.resets.retain(|(c, _)| c != channel);
                if let Some(reset) = text_of(reset) {
                    self.resets.push((channel.clone(), reset));
                }
            } else if text_of(epoch) != batch.epoch {
                // The channel was reset between two rounds: stop at what the first epoch gave.
                break;
            }
            for entry in entries {
                match entry_message(channel, entry) {
                    Some(m) => {
                        size += super::answer_size(&m);
                        from = m.id;
                        batch.messages.push(m);
                    }
                    // An entry this store did not write: passed over, once, like a dropped
                    // message.
                    None => match entry_id_of(entry) {
                        Some(id) => {
                            from = id;
                            batch.unreadable.push(id);
                        }
                        None => return Err(malformed("stream entry id")),
                    },
                }
            }
            if entries.len() < want || batch.messages.len() >= limit || size >= max_bytes {
                break;
            }
            if size.saturating_mul(4) < max_bytes {
                round = (round * 4).min(READ_ROUND_MAX);
            }
        }
        // Retention drops from the oldest end: a first id past the next one means the reader
        // missed what was between.
        let first = batch
            .messages
            .first()
            .map(|m| m.id)
            .into_iter()
            .chain(batch.unreadable.iter().copied())
            .min();
        batch.missed |= match first {
            Some(first) => first > after + 1,
            None => batch.last_id > after,
        };
        batch.last_id = batch.last_id.max(batch.read_to().unwrap_or(0));
        Ok(batch)
    }

    fn head(&mut self, channel: &Channel) -> Result<(u64, Option<String>), StoreError> {
        let (epoch, last): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.key(channel, "m"))
            .arg("epoch")
            .arg("last")
            .query(&mut self.con)
            .map_err(sorted)?;
        Ok((last.unwrap_or(0), epoch))
    }

    fn watch(&mut self, _channels: &[Channel], _waiting: Waiting) -> Result<(), StoreError> {
        // XREAD is given explicit ids, so nothing published after a read can be slept through.
        Ok(())
    }

    fn wait(
        &mut self,
        positions: &[(&Channel, u64)],
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        if positions.is_empty() {
            std::thread::sleep(timeout);
            return Ok(false);
        }
        self.woken.clear();
        let block = Self::millis(timeout);
        // The socket waits a little longer than Redis blocks, so a dead server is noticed and
        // a live one always answers first.
        self.con
            .set_read_timeout(Some(timeout + self.command_timeout))
            .map_err(sorted)?;
        let mut keys: Vec<String> = positions
            .iter()
            .map(|(channel, _)| self.key(channel, "s"))
            .collect();
        let mut ids: Vec<String> = positions
            .iter()
            .map(|(_, after)| format!("{after}-0"))
            .collect();
        // A channel's resets stream, after the entry of the epoch last read: a channel deleted
        // and made again wakes the wait. (Its new ids start again from 1, below the one waited
        // after, so the stream alone would not wake it until the timeout.)
        for (channel, _) in positions {
            // A channel of an earlier release has no resets entry until its next epoch: wait for
            // one from now on (`$`), which covers all but a reset in the moment before the wait.
            let after = self
                .resets
                .iter()
                .find(|(c, _)| c == *channel)
                .map_or_else(|| "$".to_owned(), |(_, reset)| reset.clone());
            ids.push(after);
            keys.push(self.key(channel, "r"));
        }
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_ROUND)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS");
        for key in &keys {
            cmd.arg(key);
        }
        for id in &ids {
            cmd.arg(id);
        }
        let answer: Result<Value, RedisError> = cmd.query(&mut self.con);
        self.con
            .set_read_timeout(Some(self.command_timeout))
            .map_err(sorted)?;
        let answer = answer.map_err(sorted)?;
        if matches!(answer, Value::Nil) {
            return Ok(false);
        }
        // Entries of the resets streams only wake the caller, whose next read finds the new
        // epoch.
        self.woken = xread_entries(answer, &keys)
            .into_iter()
            .filter(|(i, _)| *i < positions.len())
            .map(|(i, entries)| (positions[i].0.clone(), entries))
            .collect();
        Ok(true)
    }

    fn share_stream(&mut self, id: &str, record: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.presence("share", id, Self::millis(ttl), record)?;
        Ok(true)
    }

    fn forget_stream(&mut self, id: &str) -> Result<(), StoreError> {
        self.presence("forget", id, 0, "").map(|_| ())
    }

    fn shared_streams(&mut self) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let max = u64::try_from(super::MAX_SHARED_STREAMS).unwrap_or(u64::MAX);
        let bytes = super::MAX_SHARED_STREAM_BYTES.to_string();
        let Value::Array(parts) = self.presence("list", "", max, &bytes)? else {
            return Err(malformed("presence answer"));
        };
        let streams = parts
            .chunks_exact(2)
            .filter_map(|pair| Some((text_of(&pair[0])?, text_of(&pair[1])?)))
            .collect();
        Ok(Some(streams))
    }

    fn channels(&mut self) -> Result<Vec<Channel>, StoreError> {
        // Every channel has its hash (`…{name}:m`); SCAN walks the keyspace in small steps, so
        // a large store does not block Redis as KEYS would.
        let pattern = format!("{}{{*}}:m", glob_escape(&self.prefix));
        let mut names = std::collections::BTreeSet::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut self.con)
                .map_err(sorted)?;
            names.extend(keys.iter().filter_map(|key| {
                let name = key.strip_prefix(&self.prefix)?.strip_prefix('{')?;
                let name = name.strip_suffix("}:m")?;
                Channel::parse(name).ok()
            }));
            if next == 0 {
                return Ok(names.into_iter().collect());
            }
            cursor = next;
        }
    }
}

/// `text` with Redis glob characters escaped, so a key prefix matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn entries_become_messages() {
        let entry = Value::Array(vec![
            bulk("42-0"),
            Value::Array(vec![
                bulk("ms"),
                bulk("1700000000123"),
                bulk("type"),
                bulk("text/plain"),
                bulk("data"),
                bulk("héllo\n"),
            ]),
        ]);
        let m = entry_message(&ch("chat"), &entry);
        assert_eq!(
            m,
            Some(Message {
                channel: ch("chat"),
                id: 42,
                time: "2023-11-14T22:13:20.123Z".into(),
                content_type: "text/plain".into(),
                data: "héllo\n".into(),
            })
        );
        for bad in [
            Value::Nil,
            Value::Array(vec![bulk("42-1"), Value::Array(vec![])]),
            Value::Array(vec![bulk("x-0"), Value::Array(vec![bulk("ms")])]),
            Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("data"), Value::BulkString(vec![0xff])]),
            ]),
        ] {
            assert_eq!(entry_message(&ch("chat"), &bad), None, "{bad:?}");
        }
    }

    #[test]
    fn prefixes_are_matched_literally() {
        assert_eq!(glob_escape("site:"), "site:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn xread_replies_give_each_channel_its_entries() {
        let entry = |id: &str, epoch: &str| {
            Value::Array(vec![
                bulk(id),
                Value::Array(vec![bulk("ms"), bulk("1"), bulk("e"), bulk(epoch)]),
            ])
        };
        let keys = vec!["p:{a}:s".to_owned(), "p:{b}:s".to_owned()];
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("p:{b}:s"),
            Value::Array(vec![entry("4-0", "e1"), entry("5-0", "e1")]),
        ])]);
        let got = xread_entries(reply, &keys);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1.len(), 2);
        assert_eq!(entry_epoch(&got[0].1[0]).as_deref(), Some("e1"));
        assert!(xread_entries(Value::Nil, &keys).is_empty());
    }

    #[test]
    fn keys_share_a_hash_tag() {
        let ch = |name| Channel::parse(name).unwrap();
        assert_eq!(
            channel_key("serverpush:", &ch("chat"), "s"),
            "serverpush:{chat}:s"
        );
        assert_eq!(channel_key("site1:", &ch("a.b"), "k:x"), "site1:{a.b}:k:x");
    }
}
