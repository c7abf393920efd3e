//! `nph-longpoll`: channels with publish, long-poll and streamed subscribe, and watched files; see
//! `serverpush::source::longpoll`.

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let exit = serverpush::program::run_process(
        &serverpush::source::longpoll::LongPoll,
        std::env::args_os(),
        std::env::vars_os(),
        io::stdin().lock(),
        io::stdout().lock(),
        io::stderr().lock(),
    );
    ExitCode::from(exit.code())
}
