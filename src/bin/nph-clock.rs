//! `nph-clock`: pushes the server's time over every transport; see `serverpush::source::clock`.
//! Installed as `nph-clock` it writes a full NPH response; under any other name, a CGI one.

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let exit = serverpush::program::run_process(
        &serverpush::source::clock::Clock,
        std::env::args_os(),
        std::env::vars_os(),
        io::stdin().lock(),
        io::stdout().lock(),
        io::stderr().lock(),
    );
    ExitCode::from(exit.code())
}
