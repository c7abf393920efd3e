//! `serverpush publish`: a message into a channel from the server itself, through the same store
//! `nph-longpoll` reads.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use serverpush::config::Config;
use serverpush::store::NewMessage;

use crate::cli::PublishArgs;

/// Publishes `args.repeat` times and prints each id.
pub fn run(args: &PublishArgs) -> Result<()> {
    let content_type = &args.content_type;
    if content_type.len() > 200 || !content_type.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        bail!("--type must be a plain media type (printable ASCII, no line breaks)");
    }
    let message = match &args.message {
        Some(m) => m.clone(),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the message from standard input (it must be UTF-8)")?;
            s
        }
    };
    let config = Config::load(args.store.config_path().as_deref())?;
    if message.len() as u64 > config.max_message_bytes {
        bail!(
            "the message is over max_message_bytes ({})",
            config.max_message_bytes
        );
    }
    let mut store = crate::owner::open_store(&config, serverpush::store::spool::owner::Use::Write)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for n in 1..=args.repeat {
        let text = message.replace("{n}", &n.to_string());
        let message = NewMessage {
            content_type,
            data: &text,
            idempotency_key: None,
        };
        let published = store
            .publish(&args.channel, &message)
            .with_context(|| format!("publishing to {}", args.channel))?;
        writeln!(out, "{}", published.id)?;
    }
    Ok(())
}
