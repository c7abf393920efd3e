//! *Watched files*: a long-poll on a file another program writes (a status page, a score),
//! answered when the file's version changes.
//!
//! Files are config keys (`[files]`); a request never names a path. A version is the file's
//! nanosecond mtime, size and inode, so three rewrites within one second are three versions.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use super::{MAX_FILE_BYTES, json_response, write_refusal};
use crate::cgi::RequestError;
use crate::config::Config;
use crate::name::is_name;
use crate::pacing::Time;
use crate::program::Response;
use crate::watch::{FileWatch, LeaveOpen};

/// A validated watched-file long-poll.
#[derive(Clone, Debug)]
pub struct WatchedFile {
    /// Its name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// The version the client has.
    pub since: Option<String>,
    /// How long to wait for a change.
    pub timeout: Duration,
}

impl WatchedFile {
    /// The file the config names `name`; an unknown name is a 404 (after the rights).
    pub fn from_request(
        request: &crate::cgi::Request,
        name: &str,
        since: Option<&str>,
        timeout: Duration,
        config: &Config,
    ) -> Result<WatchedFile, RequestError> {
        // Rights first for a plausible name: a name that private files' patterns cover is
        // refused alike whether or not it exists, so a stranger cannot list private names.
        let mut rights = crate::rights::Rights::new(request, config);
        if is_name(name) {
            rights.check_subscribe(&[format!("file:{name}")])?;
        }
        let path = config.files.get(name).ok_or_else(|| {
            RequestError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown watched file {}",
                    if is_name(name) { name } else { "(invalid)" }
                ),
            )
        })?;
        Ok(WatchedFile {
            name: name.to_owned(),
            path: path.clone(),
            since: since.map(str::to_owned),
            timeout,
        })
    }

    /// Answers once the file's version differs from the client's, or at the timeout.
    pub fn respond<W: Write, T: Time>(
        self,
        response: &mut Response<W>,
        time: &mut T,
    ) -> io::Result<()> {
        if response.head_only {
            return json_response(response, StatusCode::OK, &json!({}), time);
        }
        let mut watch = FileWatch::new(&self.path).map_err(|e| unreadable(response, e, time))?;
        let deadline = time.elapsed() + self.timeout;
        loop {
            let (version, data) =
                read_versioned(&self.path).map_err(|e| unreadable(response, e, time))?;
            let version = version.unwrap_or_else(|| "none".to_owned());
            let changed = self.since.as_deref() != Some(version.as_str());
            let now = time.elapsed();
            if changed || now >= deadline {
                let mut body = json!({ "file": self.name, "version": version, "changed": changed });
                if changed {
                    body["data"] = data.map_or(Value::Null, Value::String);
                }
                watch.leave_open();
                return json_response(response, StatusCode::OK, &body, time);
            }
            watch
                .wait(deadline - now)
                .map_err(|e| unreadable(response, e, time))?;
        }
    }
}

/// A failure before the head: a 500 whose details go to the log only.
fn unreadable<W: Write, T: Time>(
    response: &mut Response<W>,
    error: io::Error,
    time: &T,
) -> io::Error {
    let refusal = RequestError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the watched file could not be read; see the error log",
    );
    write_refusal(response, &refusal, time);
    error
}

/// The version of a file: changes on every rewrite, even several within one second.
fn file_version(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{:x}.{:x}.{:x}.{:x}",
        m.mtime(),
        m.mtime_nsec(),
        m.size(),
        m.ino()
    ))
}

/// Reads a file with the version it had, retrying if it changed during the read.
fn read_versioned(path: &std::path::Path) -> io::Result<(Option<String>, Option<String>)> {
    for _ in 0..5 {
        let before = file_version(path);
        if before.is_none() {
            return Ok((None, None));
        }
        // Without blocking (a FIFO must not hang the program) and never truncated.
        let Some(bytes) =
            crate::regular::read(path, crate::regular::Links::Follow, MAX_FILE_BYTES)?
        else {
            continue;
        };
        if file_version(path) == before {
            return Ok((before, Some(String::from_utf8_lossy(&bytes).into_owned())));
        }
    }
    Err(io::Error::other("the file kept changing while it was read"))
}
