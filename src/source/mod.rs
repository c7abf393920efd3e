//! A *source* is what a program pushes: the server's time, camera frames, channel messages.
//! Each source module holds one program's request parameters and its response loop.

pub mod clock;
pub mod clockface;
