//! `serverpush-publish`: publishes a message to a channel from the server itself (cron jobs,
//! cameras, programs that write status), through the same store `nph-longpoll` reads.
//!
//! ```text
//! serverpush-publish [--config FILE] [--type TYPE] [--repeat N] CHANNEL [MESSAGE]
//! ```
//! The message is MESSAGE or, without it, standard input. `--repeat N` publishes it N times,
//! with `{n}` in it replaced by 1..N (for tests and benchmarks). The config is `--config`, else
//! `SERVERPUSH_CONFIG`, else the defaults; the store is the one the config names (the spool or
//! Redis). It prints each id.

use anyhow::{Context, Result, bail};
use serverpush::config::{Config, is_name};
use serverpush::store::{self, NewMessage};
use std::io::{Read, Write};
use std::path::PathBuf;

fn main() -> Result<()> {
    use lexopt::prelude::*;
    let mut config_path = std::env::var_os("SERVERPUSH_CONFIG").map(PathBuf::from);
    let mut content_type = "text/plain".to_owned();
    let mut repeat = 1u64;
    let mut positional = Vec::new();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") => config_path = Some(PathBuf::from(parser.value()?)),
            Long("type") => content_type = parser.value()?.string()?,
            Long("repeat") => repeat = parser.value()?.parse()?,
            Long("help") => {
                println!(
                    "serverpush-publish [--config FILE] [--type TYPE] [--repeat N] CHANNEL [MESSAGE]"
                );
                return Ok(());
            }
            Value(v) => positional.push(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let mut positional = positional.into_iter();
    let channel = positional.next().context("CHANNEL is required")?;
    if !is_name(&channel) {
        bail!("channel names are 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    let message = match positional.next() {
        Some(m) => m,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the message from standard input (it must be UTF-8)")?;
            s
        }
    };
    let config = Config::load(config_path.as_deref())?;
    if message.len() as u64 > config.max_message_bytes {
        bail!(
            "the message is over max_message_bytes ({})",
            config.max_message_bytes
        );
    }
    if content_type.len() > 200 || !content_type.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        bail!("--type must be a plain media type (printable ASCII, no line breaks)");
    }
    let mut store = store::open(&config).context("opening the channel store")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for n in 1..=repeat {
        let text = message.replace("{n}", &n.to_string());
        let message = NewMessage {
            content_type: &content_type,
            data: &text,
            idempotency_key: None,
        };
        let published = store
            .publish(&channel, &message)
            .with_context(|| format!("publishing to {channel}"))?;
        writeln!(out, "{}", published.id)?;
    }
    Ok(())
}
