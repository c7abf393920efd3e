//! `nph-webcam`: pushes a camera's image file as MJPEG, or one snapshot; see
//! `serverpush::source::webcam`.

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let exit = serverpush::program::run_process(
        &serverpush::source::webcam::Webcam,
        std::env::args_os(),
        std::env::vars_os(),
        io::stdin().lock(),
        io::stdout().lock(),
        io::stderr().lock(),
    );
    ExitCode::from(exit.code())
}
