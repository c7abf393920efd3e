//! A *source* is what a program pushes: the server's time, camera frames, channel messages.
//! Each source module holds one program's request parameters and its response loop, or a
//! building block they share.

pub mod camsim;
pub mod clock;
pub mod clockface;
pub mod frame;
pub mod longpoll;
pub mod mercure;
pub mod presence;
pub mod webcam;

/// Defines `main` for a program's binary: the binary reads its arguments, environment and
/// standard streams and hands them, with the sources' announcer, to
/// [`crate::program::run_process`], so the library itself never touches them.
#[macro_export]
macro_rules! cgi_main {
    ($program:expr) => {
        fn main() -> std::process::ExitCode {
            let exit = $crate::program::run_process(
                &$program,
                $crate::source::presence::announce,
                std::env::args_os(),
                std::env::vars_os(),
                std::io::stdin().lock(),
                std::io::stdout().lock(),
                std::io::stderr().lock(),
            );
            std::process::ExitCode::from(exit.code())
        }
    };
}
