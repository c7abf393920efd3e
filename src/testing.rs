//! Helpers for the unit tests.

use chrono::{DateTime, Utc};

/// 2023-11-14 22:13:20 UTC, Unix time 1 700 000 000.
pub fn fixed_now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// Compares bytes exactly, printing both sides escaped (CR and LF visible) on a mismatch.
#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8]) {
    if got != want {
        let show = |b: &[u8]| b.escape_ascii().to_string();
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "bytes differ at offset {at}\n got: {}\nwant: {}",
            show(got),
            show(want)
        );
    }
}
