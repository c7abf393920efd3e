//! The store contract, one suite run against both implementations: the spool store in a private
//! directory, and the Redis store on a private Redis server.

use std::time::Duration;

use serverpush::store::redis::{RedisSettings, RedisStore};
use serverpush::store::{
    ChannelStore, IdempotencyKey, NewMessage, Retention, SpoolStore, Waiting, parse_time,
};

use crate::fixtures::Redis;
use crate::util::{StoreExt, ch, wait_for};

const T: Duration = Duration::from_secs(20);

/// Makes stores of one kind over the same data, and can lose a channel as a failure would.
trait Backend: Sync {
    fn open(&self, retention: Retention) -> Box<dyn ChannelStore>;
    /// Loses `channel` whole: a wiped spool directory, a flushed Redis.
    fn lose(&self, channel: &str);
    /// Appends an entry the store cannot read as message `id` (the next id).
    fn damage(&self, channel: &str, id: u64);
}

struct Spool(tempfile::TempDir);

impl Backend for Spool {
    fn open(&self, retention: Retention) -> Box<dyn ChannelStore> {
        Box::new(SpoolStore::new(self.0.path(), retention))
    }
    fn lose(&self, channel: &str) {
        std::fs::remove_dir_all(self.0.path().join(channel)).unwrap();
    }
    fn damage(&self, channel: &str, id: u64) {
        let path = self.0.path().join(channel).join(format!("{id:020}.msg"));
        std::fs::write(path, b"not a message").unwrap();
    }
}

struct OnRedis(Redis);

impl Backend for OnRedis {
    fn open(&self, retention: Retention) -> Box<dyn ChannelStore> {
        let settings = RedisSettings {
            url: self.0.url(),
            key_prefix: "test:".into(),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        };
        Box::new(RedisStore::connect(&settings, retention).unwrap())
    }
    fn lose(&self, _channel: &str) {
        let () = redis::cmd("FLUSHALL")
            .query(&mut self.0.connection())
            .unwrap();
    }
    fn damage(&self, channel: &str, id: u64) {
        let mut con = self.0.connection();
        let last: u64 = redis::cmd("HINCRBY")
            .arg(format!("test:{{{channel}}}:m"))
            .arg("last")
            .arg(1)
            .query(&mut con)
            .unwrap();
        assert_eq!(last, id);
        let _: String = redis::cmd("XADD")
            .arg(format!("test:{{{channel}}}:s"))
            .arg(format!("{id}-0"))
            .arg("junk")
            .arg("1")
            .query(&mut con)
            .unwrap();
    }
}

fn retention(messages: u64, age: Duration) -> Retention {
    Retention {
        messages,
        max_age: age,
        idempotency: Duration::from_secs(60),
    }
}

fn keep_all() -> Retention {
    retention(100_000, Duration::from_secs(3600))
}

fn ids(batch: &serverpush::store::Batch) -> Vec<u64> {
    batch.messages.iter().map(|m| m.id).collect()
}

fn ids_grow_from_one_and_read_back(b: &dyn Backend) {
    let mut s = b.open(keep_all());
    assert_eq!(s.head(&ch("a")).unwrap(), (0, None), "an unknown channel");
    for i in 1..=5u64 {
        assert_eq!(s.put("a", &format!("m{i}")), i);
    }
    let batch = s.read_after(&ch("a"), 2, 100).unwrap();
    assert_eq!(ids(&batch), vec![3, 4, 5]);
    assert_eq!(batch.messages[0].data, "m3");
    assert_eq!(batch.messages[0].content_type, "text/plain");
    assert!(parse_time(&batch.messages[0].time).is_some());
    assert!(!batch.missed);
    assert_eq!(batch.last_id, 5);
    assert_eq!(
        ids(&s.read_after(&ch("a"), 0, 2).unwrap()),
        vec![1, 2],
        "limit"
    );
    assert!(s.read_after(&ch("a"), 5, 100).unwrap().messages.is_empty());
    let (last, epoch) = s.head(&ch("a")).unwrap();
    assert_eq!((last, epoch.clone()), (5, batch.epoch));
    assert!(epoch.is_some());
    // Text of any kind comes back as it went in.
    let odd = "é\u{0}\r\n</script>\u{2028}data: x\n\n";
    let id = s.put("a", odd);
    assert_eq!(
        s.read_after(&ch("a"), id - 1, 1).unwrap().messages[0].data,
        odd
    );
}

fn retention_by_count_reports_missed(b: &dyn Backend) {
    let mut s = b.open(retention(3, Duration::from_secs(3600)));
    for i in 1..=10 {
        s.put("r", &format!("m{i}"));
    }
    let batch = s.read_after(&ch("r"), 2, 100).unwrap();
    assert!(batch.missed);
    assert_eq!(ids(&batch), vec![8, 9, 10]);
    let batch = s.read_after(&ch("r"), 7, 100).unwrap();
    assert!(!batch.missed);
    assert_eq!(batch.messages.len(), 3);
}

fn retention_by_age_keeps_the_newest(b: &dyn Backend) {
    let mut s = b.open(retention(1000, Duration::from_millis(300)));
    let first = s.put("age", "m1");
    s.put("age", "m2");
    let published = s.read_after(&ch("age"), first, 1).unwrap().messages[0]
        .time
        .clone();
    let published = parse_time(&published).unwrap();
    wait_for(T, "the messages to be older than the age limit", || {
        (chrono::Utc::now() - published > chrono::Duration::milliseconds(400)).then_some(())
    });
    s.put("age", "m3");
    let batch = s.read_after(&ch("age"), 0, 100).unwrap();
    assert_eq!(
        ids(&batch),
        vec![3],
        "the old ones dropped, the newest kept"
    );
    assert!(batch.missed);
    assert_eq!(s.head(&ch("age")).unwrap().0, 3);
}

fn parallel_publishers_lose_nothing(b: &dyn Backend) {
    std::thread::scope(|scope| {
        for p in 0..4 {
            scope.spawn(move || {
                let mut s = b.open(keep_all());
                for n in 1..=250 {
                    s.put("busy", &format!("p{p}-{n}"));
                }
            });
        }
    });
    let mut s = b.open(keep_all());
    let batch = s.read_after(&ch("busy"), 0, 10_000).unwrap();
    assert_eq!(ids(&batch), (1..=1000).collect::<Vec<_>>());
    for p in 0..4 {
        let prefix = format!("p{p}-");
        let ns: Vec<u64> = batch
            .messages
            .iter()
            .filter_map(|m| m.data.strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(ns, (1..=250).collect::<Vec<_>>(), "publisher {p}");
    }
}

fn a_lost_channel_comes_back_in_a_new_epoch(b: &dyn Backend) {
    let mut s = b.open(keep_all());
    s.put("e", "one");
    s.put("e", "two");
    let (_, before) = s.head(&ch("e")).unwrap();
    assert_eq!(s.head(&ch("e")).unwrap().1, before, "stable while it lives");
    b.lose("e");
    assert_eq!(s.head(&ch("e")).unwrap(), (0, None));
    assert_eq!(s.put("e", "again"), 1, "ids start again");
    let (_, after) = s.head(&ch("e")).unwrap();
    assert!(after.is_some() && after != before, "{before:?} {after:?}");
}

fn idempotency_keys_store_once(b: &dyn Backend) {
    let mut s = b.open(keep_all());
    let with_key = |key| NewMessage {
        content_type: "text/plain",
        data: "once",
        idempotency_key: Some(key),
    };
    let (k1, k2) = (
        IdempotencyKey::new("a", "k-1"),
        IdempotencyKey::new("a", "k-2"),
    );
    let first = s.publish(&ch("idem"), &with_key(&k1)).unwrap();
    let again = s.publish(&ch("idem"), &with_key(&k1)).unwrap();
    assert_eq!((first.id, first.duplicate), (1, false));
    assert_eq!((again.id, again.duplicate), (1, true));
    assert_eq!(again.epoch, first.epoch);
    let other = s.publish(&ch("idem"), &with_key(&k2)).unwrap();
    assert_eq!((other.id, other.duplicate), (2, false));
    // The same key from another publisher is another key.
    let theirs = s
        .publish(&ch("idem"), &with_key(&IdempotencyKey::new("b", "k-1")))
        .unwrap();
    assert_eq!((theirs.id, theirs.duplicate), (3, false));
    assert_eq!(s.read_after(&ch("idem"), 0, 10).unwrap().messages.len(), 3);
}

fn wait_wakes_for_news_and_times_out(b: &dyn Backend) {
    wait_as(b, Waiting::Once, "o");
    wait_as(b, Waiting::Stream, "s");
}

/// A long-poll's wait (`Once`) and a stream's behave alike; channels named `{prefix}1`, `2`.
fn wait_as(b: &dyn Backend, waiting: Waiting, prefix: &str) {
    let (w1, w2) = (format!("{prefix}1"), format!("{prefix}2"));
    let channels = vec![ch(&w1), ch(&w2)];
    let (c1, c2) = (ch(&w1), ch(&w2));
    let mut s = b.open(keep_all());
    s.put(&w1, "before");
    s.watch(&channels, waiting).unwrap();
    let start = std::time::Instant::now();
    let woke = s
        .wait(&[(&c1, 1), (&c2, 0)], Duration::from_millis(300))
        .unwrap();
    // A store may wake early; the caller reads again. The spool and Redis do not, here.
    assert!(!woke, "nothing new");
    assert!(start.elapsed() >= Duration::from_millis(250));
    // A message already there when the wait starts is not slept through.
    s.put(&w2, "already");
    assert!(
        s.wait(&[(&c1, 1), (&c2, 0)], Duration::from_secs(10))
            .unwrap()
    );
    // A message published while it waits wakes it at once.
    std::thread::scope(|scope| {
        let (watching, watched) = std::sync::mpsc::channel();
        let (c1, c2) = (c1.clone(), c2.clone());
        let news = w1.clone();
        let waiter = scope.spawn(move || {
            let mut s = b.open(keep_all());
            s.watch(&channels, waiting).unwrap();
            // From here on a publish cannot be slept through (inotify queues it; Redis is asked
            // for ids after the given ones), however late the wait below starts.
            watching.send(()).unwrap();
            let start = std::time::Instant::now();
            let woke = s
                .wait(&[(&c1, 1), (&c2, 1)], Duration::from_secs(10))
                .unwrap();
            (woke, start.elapsed())
        });
        watched.recv_timeout(T).unwrap();
        let mut publisher = b.open(keep_all());
        publisher.put(&news, "news");
        let (woke, took) = waiter.join().unwrap();
        assert!(woke && took < Duration::from_secs(5), "{took:?}");
    });
}

fn an_unreadable_message_is_passed_over(b: &dyn Backend) {
    let mut s = b.open(keep_all());
    s.put("u", "one");
    s.put("u", "two");
    b.damage("u", 3);
    assert_eq!(s.put("u", "four"), 4);
    let batch = s.read_after(&ch("u"), 2, 100).unwrap();
    assert_eq!(ids(&batch), vec![4]);
    assert_eq!(batch.unreadable, vec![3]);
    assert_eq!(batch.read_to(), Some(4));
    // Alone at the end of the channel, it is still accounted for, so a reader moves past it.
    b.damage("u", 5);
    let batch = s.read_after(&ch("u"), 4, 100).unwrap();
    assert!(batch.messages.is_empty());
    assert_eq!(batch.read_to(), Some(5));
    assert!(s.read_after(&ch("u"), 5, 100).unwrap().read_to().is_none());
}

fn channels_are_listed_by_name(b: &dyn Backend) {
    let mut s = b.open(keep_all());
    assert!(s.channels().unwrap().is_empty());
    s.put("list-b", "one");
    s.put("list-a", "one");
    s.put("list-b", "two");
    assert_eq!(s.channels().unwrap(), vec!["list-a", "list-b"]);
}

/// The contract as tests, once per store.
macro_rules! contract {
    ($store:ident, $backend:expr) => {
        mod $store {
            use super::*;

            #[test]
            fn ids_grow_from_one_and_read_back() {
                super::ids_grow_from_one_and_read_back(&$backend);
            }
            #[test]
            fn retention_by_count_reports_missed() {
                super::retention_by_count_reports_missed(&$backend);
            }
            #[test]
            fn retention_by_age_keeps_the_newest() {
                super::retention_by_age_keeps_the_newest(&$backend);
            }
            #[test]
            fn parallel_publishers_lose_nothing() {
                super::parallel_publishers_lose_nothing(&$backend);
            }
            #[test]
            fn a_lost_channel_comes_back_in_a_new_epoch() {
                super::a_lost_channel_comes_back_in_a_new_epoch(&$backend);
            }
            #[test]
            fn idempotency_keys_store_once() {
                super::idempotency_keys_store_once(&$backend);
            }
            #[test]
            fn an_unreadable_message_is_passed_over() {
                super::an_unreadable_message_is_passed_over(&$backend);
            }
            #[test]
            fn channels_are_listed_by_name() {
                super::channels_are_listed_by_name(&$backend);
            }
            #[test]
            fn wait_wakes_for_news_and_times_out() {
                super::wait_wakes_for_news_and_times_out(&$backend);
            }
        }
    };
}

contract!(spool, Spool(tempfile::tempdir().unwrap()));
contract!(on_redis, OnRedis(Redis::start()));
