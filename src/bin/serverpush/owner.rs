//! The store as the operator's command opens it: run as root (a cron job, an admin's shell),
//! it first becomes the spool's owner, so that nothing the web server's user planted in the
//! spool can make root write where the web server's user could not.

use anyhow::{Context, Result};
use serverpush::config::{Config, StoreKind};
use serverpush::store::spool::owner::{self, Identity, Use};
use serverpush::store::{self, ChannelStore};

/// Opens the store `config` names for `what`, as the spool's owner when the spool store is used
/// and the process runs as root.
pub fn open_store(config: &Config, what: Use) -> Result<Box<dyn ChannelStore>> {
    if config.store == StoreKind::Spool {
        // Quietly: a cron job mails whatever it prints.
        let _identity: Identity =
            owner::become_owner(&config.spool_dir, what).with_context(|| {
                format!(
                    "becoming the owner of the spool {} (a root publish acts as the spool's owner)",
                    config.spool_dir.display()
                )
            })?;
    }
    store::open(config).context("opening the channel store")
}
