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
