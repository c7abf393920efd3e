//! Hub mode (`hub = true`): where it applies on this host, and where it does not.

use std::path::Path;

use serverpush::config::{Config, StoreKind};
use serverpush::server::Server;

use super::{Level, Report, key_place};
use crate::cli::CheckArgs;

/// Says what `hub = true` does under each web server installed here.
pub fn check(report: &mut Report, config: &Config, config_path: Option<&Path>, args: &CheckArgs) {
    if !config.hub {
        return;
    }
    let place = key_place(config_path, "hub");
    if config.store == StoreKind::Redis {
        report.add(
            Level::Warning,
            &place,
            "the hub serves streams of the spool store only: with store = \"redis\" each \
             stream keeps its process",
            "leave hub off with Redis",
        );
        return;
    }
    let installed = [
        (Server::Apache, args.apache_dir.is_dir()),
        (Server::Lighttpd, args.lighttpd_dir.is_dir()),
        (Server::Nginx, args.nginx_conf.is_file()),
    ];
    for (server, _) in installed.iter().filter(|(_, here)| *here) {
        match server.hub_refusal() {
            Some(reason) => report.add(
                Level::Warning,
                &place,
                format!(
                    "has no effect under {}: {reason}; each stream keeps its process there",
                    server.name()
                ),
                "serve the streams through nginx and fcgiwrap to use the hub, or leave hub off",
            ),
            None => report.add(
                Level::Note,
                &place,
                format!(
                    "under {}, a channel stream (SSE, iframe, chunked, multipart) hands its \
                     connection to the one hub of the programs' user once started, and exits; \
                     the hub ({}) logs to {}",
                    server.name(),
                    serverpush::hub::PROCESS_NAME,
                    config.streams_path().join(serverpush::hub::LOG).display()
                ),
                "nothing to do; `ps` shows the hub, and it leaves after hub_idle_secs without a \
                 stream",
            ),
        }
    }
}
