//! The *store* keeps channels of messages. A *channel* is a named, ordered log; each *message*
//! has a per-channel id that grows by one from 1, a time, a content type and text.
//!
//! [`ChannelStore`] is the interface the programs use, and all they know of a store: publish,
//! read after an id, the channel's head, and wait until any of several channels has news.
//! Two implementations keep the same contract:
//! - [`spool::SpoolStore`], the embedded default: a spool directory on one host, woken by
//!   inotify;
//! - [`redis::RedisStore`]: Redis streams shared by several hosts, woken by `XREAD BLOCK`.
//!
//! Every channel has an *epoch*, a random word made when the channel is created. A store can
//! lose a channel (a wiped spool, a flushed Redis, a failover without persistence) and start
//! it again from id 1; the epoch is how a client's cursor tells the new channel from the old
//! one, so it is told it missed messages instead of silently skipping or repeating some.

pub mod bell;
pub mod redis;
pub mod spool;

use std::io;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::{Config, StoreKind};
use crate::name::Channel;

pub use spool::SpoolStore;

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The channel's name.
    pub channel: Channel,
    /// Its id within the channel, from 1.
    pub id: u64,
    /// When it was published, RFC 3339 with milliseconds.
    pub time: String,
    /// Its content type.
    pub content_type: String,
    /// Its text.
    pub data: String,
}

/// A message to publish.
#[derive(Clone, Copy, Debug)]
pub struct NewMessage<'a> {
    /// Its content type (validated by the caller).
    pub content_type: &'a str,
    /// Its text.
    pub data: &'a str,
    /// A client's key for retrying safely, scoped to its publisher: a second publish with the
    /// same key within [`Retention::idempotency`] returns the first one's id and stores nothing.
    pub idempotency_key: Option<&'a IdempotencyKey>,
}

/// What a publish did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's id.
    pub id: u64,
    /// The channel's epoch.
    pub epoch: String,
    /// True when the idempotency key had been seen: the earlier message's id, nothing stored.
    pub duplicate: bool,
}

/// What a read after an id found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Messages after the id asked, in id order.
    pub messages: Vec<Message>,
    /// True when messages the reader had not seen were dropped by retention before it came.
    pub missed: bool,
    /// The highest id now in the channel (0 for none yet).
    pub last_id: u64,
    /// The channel's epoch; `None` while the channel does not exist.
    pub epoch: Option<String>,
    /// Ids of messages that are there but cannot be read (not written by this store, or
    /// damaged). Readers count them as missed and move past them, so they are reported once and
    /// never make a client ask again and again.
    pub unreadable: Vec<u64>,
}

impl Batch {
    /// The highest id this batch accounts for: its last message or its last unreadable id.
    pub fn read_to(&self) -> Option<u64> {
        let message = self.messages.last().map(|m| m.id);
        let unreadable = self.unreadable.iter().copied().max();
        message.max(unreadable)
    }

    fn found_any(&self) -> bool {
        !self.messages.is_empty() || !self.unreadable.is_empty()
    }
}

/// Retention limits of a channel, and how long idempotency keys are remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept at most.
    pub messages: u64,
    /// Age after which a message is dropped.
    pub max_age: Duration,
    /// How long a publish's idempotency key is remembered.
    pub idempotency: Duration,
}

impl Retention {
    /// The limits the config sets.
    pub fn of(config: &Config) -> Retention {
        Retention {
            messages: config.retention_messages,
            max_age: Duration::from_secs(config.retention_secs),
            idempotency: Duration::from_secs(config.idempotency_secs),
        }
    }
}

/// Why a store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// The store's server cannot be reached or did not answer in time: try again later (503).
    /// A publish that failed this way may or may not have been stored; a retry with the same
    /// idempotency key tells.
    Unavailable(String),
    /// The store has no room (a full disk): nothing was stored (507).
    Full(String),
    /// Anything else: a broken spool, a server's error reply (500).
    Failed(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "the channel store is unavailable: {m}"),
            StoreError::Full(m) => write!(f, "the channel store is full: {m}"),
            StoreError::Failed(m) => write!(f, "the channel store failed: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
            || e.kind() == io::ErrorKind::StorageFull
        {
            StoreError::Full(e.to_string())
        } else {
            StoreError::Failed(e.to_string())
        }
    }
}

/// How a subscriber will wait, which decides what a store prepares for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// For one answer, then the process exits (a long-poll): what the wait holds must cost
    /// nothing to release, since the exit is part of the answer's time.
    Once,
    /// For a stream: many waits, each as cheap as it can be.
    Stream,
}

/// A channel store. It is given channels as [`Channel`]s, valid by construction, so a name
/// reaches a file name or a Redis key only as the name rule allows.
///
/// The contract, which `tests/store.rs` checks against every implementation:
/// - ids of a channel are 1, 2, 3, … in publish order, with no gap but the ones retention makes
///   at the oldest end, across processes and hosts;
/// - a message read is complete and as published;
/// - the newest message is kept whatever retention says, so the last id survives;
/// - a channel created anew (after being lost) has a new epoch;
/// - [`ChannelStore::wait`] returns when a channel has a message after the given id, or at the
///   timeout; it may return early (the caller reads and waits again).
pub trait ChannelStore: std::fmt::Debug {
    /// Appends a message; returns its id.
    fn publish(
        &mut self,
        channel: &Channel,
        message: &NewMessage<'_>,
    ) -> Result<Published, StoreError>;

    /// Messages of `channel` with ids above `after`, at most `limit`.
    fn read_after(
        &mut self,
        channel: &Channel,
        after: u64,
        limit: usize,
    ) -> Result<Batch, StoreError> {
        self.read_within(channel, after, limit, usize::MAX)
    }

    /// Messages of `channel` with ids above `after`, at most `limit`, and no more once their
    /// [`answer_size`] reaches `max_bytes` (one message always, if there is one): what one
    /// answer holds in memory is bounded whatever the channel holds.
    fn read_within(
        &mut self,
        channel: &Channel,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Batch, StoreError>;

    /// The highest id in `channel` (0 for none yet) and its epoch.
    fn head(&mut self, channel: &Channel) -> Result<(u64, Option<String>), StoreError>;

    /// Prepares to wait on `channels`, `waiting` as said. Called before the first read of a
    /// subscription, so a message published between that read and the first wait is not slept
    /// through.
    fn watch(&mut self, channels: &[Channel], waiting: Waiting) -> Result<(), StoreError>;

    /// Waits up to `timeout` until one of `positions` (channel, id) has a message after its id;
    /// true when one may have.
    fn wait(
        &mut self,
        positions: &[(&Channel, u64)],
        timeout: Duration,
    ) -> Result<bool, StoreError>;

    /// The names of the channels the store holds, sorted. For operators (`serverpush channels`);
    /// the CGI programs never list.
    fn channels(&mut self) -> Result<Vec<Channel>, StoreError>;

    /// What becomes readable when [`ChannelStore::wait`] would wake at once, after a watch, for
    /// an event loop that waits on many stores (the hub); `None` when the store has no such
    /// descriptor, and is then looked at by the clock.
    fn wake_fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        None
    }

    /// Forgets what the last wait learnt of the messages that woke it, for a store read by
    /// several streams after one wait (the hub): the next read looks for itself.
    fn forget_wake(&mut self) {}

    /// Called when the program has answered and will exit: a store may leave to the process
    /// exit what would make the client wait (closing an inotify instance takes ~10 ms).
    fn leave_open(&mut self) {}

    /// Presence across hosts: records the live stream `id` (`record`, a slot's record as JSON)
    /// for `ttl`, again at each renewal. False for a store that serves one host, whose slots are
    /// its presence.
    fn share_stream(
        &mut self,
        _id: &str,
        _record: &str,
        _ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Removes the stream `id` from the presence across hosts.
    fn forget_stream(&mut self, _id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// The streams recorded by [`ChannelStore::share_stream`] whose time has not run out (id
    /// and record), at most [`MAX_SHARED_STREAMS`]; `None` for a store that serves one host.
    fn shared_streams(&mut self) -> Result<Option<Vec<(String, String)>>, StoreError> {
        Ok(None)
    }
}

/// The most streams a presence across hosts reads, and the most bytes of their records: the
/// bounds of its answer's memory (a record is a few hundred bytes, and at most
/// [`crate::slots::MAX_RECORD_BYTES`]).
pub const MAX_SHARED_STREAMS: usize = 50_000;
/// See [`MAX_SHARED_STREAMS`].
pub const MAX_SHARED_STREAM_BYTES: usize = 32 << 20;

/// The store the config names. The spool costs nothing to open; Redis connects here, so that a
/// program that cannot reach it refuses the request before answering.
pub fn open(config: &Config) -> Result<Box<dyn ChannelStore>, StoreError> {
    let retention = Retention::of(config);
    Ok(match config.store {
        StoreKind::Spool => Box::new(SpoolStore::new(&config.spool_dir, retention)),
        StoreKind::Redis => Box::new(redis::RedisStore::connect(
            &redis::RedisSettings::of(config),
            retention,
        )?),
    })
}

/// What a message can cost in an answer: its text as JSON escapes it (a control character
/// becomes six bytes), plus its other fields.
pub fn answer_size(m: &Message) -> usize {
    let escaped = m
        .data
        .bytes()
        .filter(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .count();
    m.data.len() + 5 * escaped + m.content_type.len() + m.channel.as_str().len() + 96
}

/// A new random epoch: 12 lowercase hex digits.
///
/// Drawn from the standard library's OS-seeded hash keys, like the multipart boundary: an epoch
/// must differ from the channel's earlier ones, it need not be secret.
pub fn new_epoch() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// True for a well-formed epoch: 1 to 32 of `0-9a-z`.
pub fn is_epoch(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// An idempotency key as stores keep it: a digest of the publisher's identity and the key the
/// client sent, byte for byte.
///
/// Scoping the key to its publisher means that a second publisher who sends the same key (by
/// chance, or having guessed it) is not told `duplicate` with someone else's id and its message
/// dropped. The digest is what the store names files and Redis keys after, so a key's text
/// never reaches a file name or a Redis key, and SHA-256 leaves no collision to craft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key `key` (as validated by [`is_idempotency_key`]) of the publisher `publisher` (an
    /// identity from the rights: a user, a token's subject, anonymous).
    pub fn new(publisher: &str, key: &str) -> IdempotencyKey {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        // The length first, so no pair of identity and key reads as another pair.
        hasher.update((publisher.len() as u64).to_be_bytes());
        hasher.update(publisher.as_bytes());
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        IdempotencyKey(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The digest in hexadecimal: 64 of `0-9a-f`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True for an idempotency key a client may send: 1 to 100 of `A-Za-z0-9_.:-`.
pub fn is_idempotency_key(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
}

/// A message time as clients see it: RFC 3339, UTC, milliseconds.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The time of a message as a `DateTime`, for ages.
pub fn parse_time(time: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_well_formed_and_differ() {
        let a = new_epoch();
        let b = new_epoch();
        assert!(is_epoch(&a) && is_epoch(&b), "{a} {b}");
        assert_eq!(a.len(), 12);
        assert_ne!(a, b);
        for bad in ["", "ABC", "a:b", "a,b", &"a".repeat(33)] {
            assert!(!is_epoch(bad), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys() {
        assert!(is_idempotency_key("3f2a-11ef:retry.1_x"));
        for bad in ["", "a b", "a/b", "é", &"k".repeat(101), " k", "k "] {
            assert!(!is_idempotency_key(bad), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_are_scoped_to_their_publisher() {
        let key = |who: &str, k: &str| IdempotencyKey::new(who, k);
        assert_eq!(key("user:ann", "k1"), key("user:ann", "k1"));
        assert_ne!(key("user:ann", "k1"), key("user:bob", "k1"));
        assert_ne!(key("user:ann", "k1"), key("user:ann", "k2"));
        // No identity and key run together into another pair.
        assert_ne!(key("ab", "c"), key("a", "bc"));
        let digest = key("", "k");
        assert_eq!(digest.as_str().len(), 64);
        assert!(digest.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
