//! `nph-mercure`: the Mercure hub at `/.well-known/mercure`; see `serverpush::source::mercure`.

serverpush::cgi_main!(serverpush::source::mercure::Mercure);
