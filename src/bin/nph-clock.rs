//! `nph-clock`: pushes the server's time over every transport; see `serverpush::source::clock`.
//! Installed as `nph-clock` it writes a full NPH response; under any other name, a CGI one.

serverpush::cgi_main!(serverpush::source::clock::Clock);
