//! `nph-longpoll`: channels with publish, long-poll and streamed subscribe, and watched files; see
//! `serverpush::source::longpoll`.

serverpush::cgi_main!(serverpush::source::longpoll::LongPoll);
