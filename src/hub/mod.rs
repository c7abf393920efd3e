//! *Hub mode*'s parts (built up in steps; no program uses them yet): a streaming program that
//! has validated its request, taken its slot and written its head hands its client's connection
//! to one long-lived process of the site's user, the hub, and exits; the hub serves every
//! handed-over stream from one event loop. The web server keeps each response open and relays
//! what the hub writes until the hub closes it.
//!
//! - [`handoff`]: the connection and the stream's description, sent over a Unix packet socket,
//!   and the check of the sender's user.
//! - [`place`]: where the user's one hub listens, and how a program reaches it.

pub mod handoff;
pub mod place;
