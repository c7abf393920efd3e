//! The *server*: which web server runs the program, and what follows from it. Everything the
//! programs do differently under one server is decided here, from `SERVER_SOFTWARE`, so adding
//! a server is one arm of [`Server`] (with its `check` module in the operator's command and its
//! fixture in the tests).

/// The web server that started the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// Apache httpd (mod_cgid or mod_cgi).
    Apache,
    /// lighttpd (mod_cgi).
    Lighttpd,
    /// nginx, which runs CGI programs through fcgiwrap (FastCGI to CGI).
    Nginx,
    /// Anything else, or a program run by hand.
    Other,
}

impl Server {
    /// Its name in presence records and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Server::Apache => "apache",
            Server::Lighttpd => "lighttpd",
            Server::Nginx => "nginx",
            Server::Other => "other",
        }
    }

    /// The server named by `SERVER_SOFTWARE` (`Apache/2.4.71 (Debian)`, `lighttpd/1.4.69`,
    /// `nginx/1.22.1`, as Debian's `fastcgi_params` passes it).
    pub fn from_software(software: &[u8]) -> Server {
        if software.starts_with(b"lighttpd") {
            Server::Lighttpd
        } else if software.starts_with(b"nginx") {
            Server::Nginx
        } else if software.starts_with(b"Apache") {
            Server::Apache
        } else {
            Server::Other
        }
    }

    /// True when ending the output before the process exits lets the response end sooner.
    ///
    /// Only under lighttpd, which reaps its CGI children whenever they exit. Apache cleans up
    /// after a response by making sure the program is gone: mod_cgid sends SIGTERM and, if the
    /// process is still there, looks again after 10, 20, 40 ms; mod_cgi waits 46 ms first. A
    /// response whose output ends before the process does thus closes *later* under Apache, so
    /// there the output ends with the process, which must therefore exit at once.
    pub fn output_may_end_early(self) -> bool {
        self == Server::Lighttpd
    }

    /// Why a stream is not handed to the hub (hub mode) under this server, `None` where it may
    /// be. A handed stream's program exits while the server still holds its response, so the
    /// mode is offered only where the server never signals that program's pid afterwards, which
    /// by then another process of the same user may hold (`tests/hub.rs` shows each case).
    pub fn hub_refusal(self) -> Option<&'static str> {
        match self {
            // nginx signals no CGI program, and fcgiwrap's one `kill` (on an error) passes its
            // arguments swapped, so it signals nothing either.
            Server::Nginx => None,
            Server::Apache => Some(
                "Apache signals a program's recorded pid at the end of its request (SIGTERM, \
                 then SIGKILL), which another process of the user may hold once the program \
                 has handed its stream over and exited",
            ),
            Server::Lighttpd => Some(
                "lighttpd 1.4.69 loses track of reaped CGI programs when their lives overlap \
                 and signals their pids when their responses end, which another process of \
                 the user may hold by then",
            ),
            Server::Other => Some("the server is not one whose handling of pids is known"),
        }
    }

    /// True when the server reads a program's own HTTP head (NPH output). nginx does not: its
    /// FastCGI bridge passes the bytes on, and nginx drops the status line and reads the rest
    /// as CGI headers, so every status would become 200 and a chunked body would be framed
    /// twice. Under it the `nph-` names write a CGI head, as the plain names do.
    pub fn reads_nph_output(self) -> bool {
        self != Server::Nginx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_told_by_their_software() {
        assert_eq!(Server::from_software(b"lighttpd/1.4.69"), Server::Lighttpd);
        assert_eq!(
            Server::from_software(b"Apache/2.4.71 (Debian)"),
            Server::Apache
        );
        assert_eq!(Server::from_software(b"serverpush-harness"), Server::Other);
        assert_eq!(Server::from_software(b"nginx/1.22.1"), Server::Nginx);
        assert!(!Server::Nginx.reads_nph_output());
        assert!(Server::Apache.reads_nph_output() && Server::Other.reads_nph_output());
        assert!(Server::Lighttpd.output_may_end_early());
        assert!(!Server::Apache.output_may_end_early());
    }
}
