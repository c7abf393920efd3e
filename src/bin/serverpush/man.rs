//! `serverpush man`: the man pages, rendered from the same definitions as the parser and
//! `--help`, so they cannot disagree. The Debian package runs it at build time.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};

/// Prints `serverpush.1`, or writes it and `serverpush-SUBCOMMAND.1` for each visible
/// subcommand into `--dir`.
pub fn run(args: &ManArgs) -> Result<()> {
    let command = Cli::command();
    let Some(dir) = &args.dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(command).render(&mut out)?;
        return Ok(out.flush()?);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, page: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page).render(&mut bytes)?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("serverpush", command.clone())?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("serverpush-{}", sub.get_name());
        // The page's title and synopsis use the command's name.
        write(&name, sub.clone().name(name.clone()))?;
    }
    Ok(())
}
