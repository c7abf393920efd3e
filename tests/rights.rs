//! Private channels, files and cameras: JWT rights from each token source, `REMOTE_USER`
//! rights, publish claims and the origin rule, through the CGI harness; and the same through
//! real Apache and lighttpd.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::client::request;
use crate::fixtures::{Server, Site};
use crate::harness::{CgiRequest, split_head};
use crate::longpoll::Spool;
use crate::util::{bin, require_tool};

const SECRET: &str = "a-test-secret-of-more-than-32-bytes!";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token signed with `SECRET` (HS256) carrying `grants` and `exp` an hour ahead.
fn token(grants: Value) -> String {
    token_with(
        Algorithm::HS256,
        SECRET.as_bytes(),
        json!({ "exp": now() + 3600, "serverpush": grants }),
    )
}

fn token_with(alg: Algorithm, secret: &[u8], claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // URL-safe base64 without padding, enough for a test's hand-made token.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.write_char(char::from(A[(n >> (18 - 6 * i) & 63) as usize]))
                .unwrap();
        }
    }
    out
}

/// Runs `req` and returns its status, head and stderr.
fn status(req: CgiRequest) -> (u16, String, String) {
    let (exit, out, stderr) = req
        .spawn(&bin("nph-longpoll"))
        .finish(std::time::Duration::from_secs(20));
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (head, _) = split_head(&out);
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head, stderr)
}

fn get<'a>(spool: &'a Spool, query: &'a str) -> CgiRequest<'a> {
    spool.get(query)
}

const PRIVATE: &str = "private_channels = [\"user.*\", \"admin\"]\nprivate_files = [\"secret\"]\n";

fn config(extra: &str) -> String {
    format!("{PRIVATE}jwt_secret = \"{SECRET}\"\n{extra}")
}

#[test]
fn private_channels_need_a_token_from_any_source() {
    let spool = Spool::new(&config(""));
    let ok = token(json!({ "subscribe": ["user.42"] }));
    // Public channels need nothing.
    assert_eq!(status(get(&spool, "channel=news&timeout=0")).0, 200);
    // A private one without a token: 401 with the Bearer challenge.
    let (code, head, stderr) = status(get(&spool, "channel=user.42&timeout=0"));
    assert_eq!(code, 401);
    assert!(
        head.contains("Www-Authenticate: Bearer error=\"invalid_token\""),
        "{head}"
    );
    assert!(stderr.contains("user.42 is private"), "{stderr}");
    // Each source.
    let header =
        get(&spool, "channel=user.42&timeout=0").var("HTTP_AUTHORIZATION", format!("Bearer {ok}"));
    assert_eq!(status(header).0, 200);
    let query = format!("channel=user.42&timeout=0&token={ok}");
    assert_eq!(status(get(&spool, &query)).0, 200);
    let cookie = get(&spool, "channel=user.42&timeout=0").var(
        "HTTP_COOKIE",
        format!("theme=dark; serverpush_token={ok}; x=1"),
    );
    assert_eq!(status(cookie).0, 200);
    // SSE takes the query form too (EventSource cannot set headers).
    let sse = format!("channel=user.42&transport=sse&token={ok}");
    let mut stream = get(&spool, &sse).spawn(&bin("nph-longpoll"));
    stream.read_until_count(b"retry:", 1, std::time::Duration::from_secs(20));
    // A valid token without the right: 403.
    let other = format!("channel=user.7&timeout=0&token={ok}");
    assert_eq!(status(get(&spool, &other)).0, 403);
    // Wildcard claims.
    let wild = token(json!({ "subscribe": ["user.*"] }));
    for channel in ["user.7", "user.42"] {
        let q = format!("channel={channel}&timeout=0&token={wild}");
        assert_eq!(status(get(&spool, &q)).0, 200, "{channel}");
    }
    let q = format!("channel=admin&timeout=0&token={wild}");
    assert_eq!(status(get(&spool, &q)).0, 403);
    // Several channels: refused whole if one is not granted, public ones need nothing.
    let q = format!("channel=user.42&channel=admin&channel=news&timeout=0&token={ok}");
    let (code, _, stderr) = status(get(&spool, &q));
    assert_eq!(code, 403);
    assert!(stderr.contains("admin"), "{stderr}");
    let both = token(json!({ "subscribe": ["user.42", "admin"] }));
    let q = format!("channel=user.42&channel=admin&channel=news&timeout=0&token={both}");
    assert_eq!(status(get(&spool, &q)).0, 200);
}

#[test]
fn bad_tokens_are_401_and_never_logged() {
    let spool = Spool::new(&config(""));
    let grants = json!({ "subscribe": ["user.42"] });
    let hs = |claims: Value| token_with(Algorithm::HS256, SECRET.as_bytes(), claims);
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(json!({ "exp": now() + 3600, "serverpush": grants })
            .to_string()
            .as_bytes())
    );
    let cases = [
        (
            "expired",
            hs(json!({ "exp": now() - 3600, "serverpush": grants })),
        ),
        (
            "not yet valid",
            hs(json!({ "exp": now() + 7200, "nbf": now() + 3600, "serverpush": grants })),
        ),
        ("no exp", hs(json!({ "serverpush": grants }))),
        (
            "wrongly signed",
            token_with(
                Algorithm::HS256,
                b"another-secret-of-more-than-32-bytes",
                json!({ "exp": now() + 3600, "serverpush": grants }),
            ),
        ),
        ("alg none", none),
        (
            "wrong algorithm",
            token_with(
                Algorithm::HS384,
                SECRET.as_bytes(),
                json!({ "exp": now() + 3600, "serverpush": grants }),
            ),
        ),
        ("garbage", "not-a-token".to_owned()),
        ("garbage dots", "a.b.c".to_owned()),
    ];
    for (what, bad) in cases {
        let req = get(&spool, "channel=user.42&timeout=0")
            .var("HTTP_AUTHORIZATION", format!("Bearer {bad}"));
        let (code, head, stderr) = status(req);
        assert_eq!(code, 401, "{what}");
        assert!(head.contains("error=\"invalid_token\""), "{what}: {head}");
        assert!(
            !stderr.contains(&bad) || bad.len() < 6,
            "{what}: token in the log: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "{what}: secret in the log");
    }
    // Within the leeway an expired token still passes.
    let recent = hs(json!({ "exp": now() - 5, "serverpush": grants }));
    let q = format!("channel=user.42&timeout=0&token={recent}");
    assert_eq!(status(get(&spool, &q)).0, 200);
}

/// Makes a key pair with openssl: (private PEM, public PEM path).
fn key_pair(dir: &Path, kind: &str) -> (Vec<u8>, PathBuf) {
    require_tool("/usr/bin/openssl", "openssl");
    let private = dir.join(format!("{kind}.pem"));
    let public = dir.join(format!("{kind}.pub.pem"));
    let made = match kind {
        "rsa" => Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&private)
            .stderr(std::process::Stdio::null())
            .status(),
        _ => Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&private)
            .status(),
    };
    assert!(made.unwrap().success());
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status();
    assert!(out.unwrap().success());
    (std::fs::read(&private).unwrap(), public)
}

#[test]
fn public_keys_verify_rs256_and_es256_only() {
    let dir = tempfile::tempdir().unwrap();
    let grants = json!({ "exp": now() + 3600, "serverpush": { "subscribe": ["user.42"] } });
    for (kind, alg, other_alg) in [
        ("rsa", Algorithm::RS256, "ec"),
        ("ec", Algorithm::ES256, "rsa"),
    ] {
        let (private, public) = key_pair(dir.path(), kind);
        let spool = Spool::new(&format!(
            "{PRIVATE}jwt_public_key = \"{}\"\n",
            public.display()
        ));
        let key = if kind == "rsa" {
            EncodingKey::from_rsa_pem(&private).unwrap()
        } else {
            EncodingKey::from_ec_pem(&private).unwrap()
        };
        let good = jsonwebtoken::encode(&Header::new(alg), &grants, &key).unwrap();
        let q = format!("channel=user.42&timeout=0&token={good}");
        assert_eq!(status(get(&spool, &q)).0, 200, "{kind}");
        // The other kind of key, and the classic confusion: HS256 with the public key's text.
        let (other_private, _) = key_pair(dir.path(), other_alg);
        let other = if other_alg == "rsa" {
            jsonwebtoken::encode(
                &Header::new(Algorithm::RS256),
                &grants,
                &EncodingKey::from_rsa_pem(&other_private).unwrap(),
            )
        } else {
            jsonwebtoken::encode(
                &Header::new(Algorithm::ES256),
                &grants,
                &EncodingKey::from_ec_pem(&other_private).unwrap(),
            )
        }
        .unwrap();
        let confused = token_with(
            Algorithm::HS256,
            &std::fs::read(&public).unwrap(),
            grants.clone(),
        );
        for bad in [other, confused] {
            let q = format!("channel=user.42&timeout=0&token={bad}");
            assert_eq!(status(get(&spool, &q)).0, 401, "{kind}");
        }
    }
}

#[test]
fn remote_user_rights_and_the_origin_rule() {
    let spool = Spool::new(&config(
        "remote_user_channels = [\"user.{user}\", \"file:{user}\"]\n",
    ));
    let as_user =
        |query: &'static str, user: &str| get(&spool, query).var("REMOTE_USER", user.to_owned());
    assert_eq!(
        status(as_user("channel=user.alice&timeout=0", "alice")).0,
        200
    );
    assert_eq!(
        status(as_user("channel=user.bob&timeout=0", "alice")).0,
        403
    );
    // A user name that is not a valid channel name is never substituted.
    assert_eq!(
        status(as_user("channel=user.bob&timeout=0", "bob@example.com")).0,
        403
    );
    assert_eq!(status(as_user("channel=user.*&timeout=0", "*")).0, 400);
    // Publishing on the user's own channel; a browser's cross-site post is refused.
    let post = |channel: &str, user: &str, origin: Option<&str>| {
        let mut req = spool.get("");
        req.method = "POST";
        req.body = b"hi";
        req = req
            .var("PATH_INFO", format!("/{channel}"))
            .var("REMOTE_USER", user.to_owned())
            .var("HTTP_HOST", "127.0.0.1:8080");
        if let Some(o) = origin {
            req = req.var("HTTP_ORIGIN", o.to_owned());
        }
        status(req).0
    };
    assert_eq!(post("user.alice", "alice", None), 201);
    assert_eq!(
        post("user.alice", "alice", Some("http://127.0.0.1:8080")),
        201
    );
    assert_eq!(
        post("user.alice", "alice", Some("https://evil.example")),
        403
    );
    assert_eq!(post("user.bob", "alice", None), 403);
    assert_eq!(post("news", "alice", None), 403);
    let stored = spool.json(
        spool
            .get("channel=user.alice&since=0")
            .var("REMOTE_USER", "alice"),
    );
    assert_eq!(stored["messages"].as_array().unwrap().len(), 2);
}

#[test]
fn publish_claims_and_cookies() {
    let spool = Spool::new(&config("allowed_origins = [\"https://app.example\"]\n"));
    let writer = token(json!({ "publish": ["user.42"] }));
    let post = |channel: &str, header: (&'static str, String), origin: Option<&str>| {
        let mut req = spool.get("");
        req.method = "POST";
        req.body = b"hi";
        req = req
            .var("PATH_INFO", format!("/{channel}"))
            .var(header.0, header.1);
        if let Some(o) = origin {
            req = req.var("HTTP_ORIGIN", o.to_owned());
        }
        status(req).0
    };
    let bearer = || ("HTTP_AUTHORIZATION", format!("Bearer {writer}"));
    let cookie = || ("HTTP_COOKIE", format!("serverpush_token={writer}"));
    assert_eq!(post("user.42", bearer(), None), 201);
    assert_eq!(
        post("user.42", bearer(), Some("https://evil.example")),
        201,
        "a bearer is not ambient"
    );
    assert_eq!(post("user.7", bearer(), None), 403);
    assert_eq!(post("user.42", cookie(), Some("https://app.example")), 201);
    assert_eq!(post("user.42", cookie(), Some("https://evil.example")), 403);
    // The publish token still works beside JWTs.
    assert_eq!(
        post(
            "user.7",
            (
                "HTTP_AUTHORIZATION",
                format!("Bearer {}", crate::longpoll::TOKEN)
            ),
            None
        ),
        201
    );
}

#[test]
fn private_files_and_cameras() {
    let spool = Spool::new(&config(&format!(
        "private_cameras = [\"yard\"]\n[files]\nsecret = \"{0}/secret.txt\"\nopen = \"{0}/open.txt\"\n[cameras]\nyard = \"{0}/yard.jpg\"\n",
        std::env::temp_dir().display()
    )));
    assert_eq!(status(get(&spool, "file=open&timeout=0")).0, 200);
    assert_eq!(status(get(&spool, "file=secret&timeout=0")).0, 401);
    let t = token(json!({ "subscribe": ["file:secret", "camera:yard"] }));
    let q = format!("file=secret&timeout=0&token={t}");
    assert_eq!(status(get(&spool, &q)).0, 200);
    let cam = |query: &str| {
        let mut req = CgiRequest::get("nph-webcam", "");
        req.query = query.as_bytes();
        req.config = Some(&spool.config);
        let (_, out, stderr) = req
            .spawn(&bin("nph-webcam"))
            .finish(std::time::Duration::from_secs(20));
        let (head, _) = split_head(&out);
        (
            head.split(' ').nth(1).unwrap_or_default().to_owned(),
            stderr,
        )
    };
    assert_eq!(cam("cam=yard&action=snapshot").0, "401");
    let q = format!("cam=yard&action=snapshot&token={t}");
    // Allowed: the camera has no frame yet, so a snapshot is 503, not 401.
    assert_eq!(cam(&q).0, "503");
}

/// Through a real server: each token source reaches the program (Apache needs `CGIPassAuth On`
/// for the header), and refusals are logged without the token.
pub fn private_channels_through(server: &Server) {
    let ok = token(json!({ "subscribe": ["user.42"] }));
    let get = |target: String, extra: &[&str]| {
        let mut r = request(server.port, "GET", &target, "HTTP/1.1", extra);
        r.read_complete(std::time::Duration::from_secs(20));
        r.status()
    };
    let base = "/cgi-bin/nph-longpoll/user.42?timeout=0";
    assert_eq!(
        get(base.into(), &[]),
        401,
        "{}: {}",
        server.name,
        server.error_log()
    );
    assert_eq!(
        get(base.into(), &[&format!("Authorization: Bearer {ok}")]),
        200,
        "{}: header",
        server.name
    );
    assert_eq!(
        get(format!("{base}&token={ok}"), &[]),
        200,
        "{}: query",
        server.name
    );
    assert_eq!(
        get(base.into(), &[&format!("Cookie: serverpush_token={ok}")]),
        200,
        "{}: cookie",
        server.name
    );
    let log = server.error_log();
    assert!(log.contains("user.42 is private"), "{}: {log}", server.name);
    assert!(
        !log.contains(&ok) && !log.contains(SECRET),
        "{}: a secret in the log",
        server.name
    );
}

pub const SERVED_CONFIG: &str = "spool_dir = \"@SPOOL@\"\nprivate_channels = [\"user.*\"]\njwt_secret = \"a-test-secret-of-more-than-32-bytes!\"\nheartbeat_secs = 2\n";

#[test]
fn private_channels_under_apache() {
    let site = Site::new(SERVED_CONFIG);
    private_channels_through(&Server::apache(&site));
}

#[test]
fn private_channels_under_lighttpd() {
    let site = Site::new(SERVED_CONFIG);
    private_channels_through(&Server::lighttpd(&site));
}

/// A user the server authenticated (basic auth with an htpasswd file) gets the channels
/// `remote_user_channels` names for them, and a publish on those credentials must come from an
/// allowed origin.
fn remote_user_through(server: &Server) {
    let basic = |user: &str| {
        let token = match user {
            "alice" => "YWxpY2U6YWxpY2UtcGFzcw==",
            _ => "Ym9iOmJvYi1wYXNz",
        };
        format!("Authorization: Basic {token}")
    };
    let get = |path: &str, user: &str| {
        let mut r = request(server.port, "GET", path, "HTTP/1.1", &[&basic(user)]);
        r.read_complete(std::time::Duration::from_secs(20));
        r.status()
    };
    let name = server.name;
    assert_eq!(
        get("/cgi-bin/nph-longpoll/user.alice?timeout=0", "alice"),
        200,
        "{name}"
    );
    assert_eq!(
        get("/cgi-bin/nph-longpoll/user.bob?timeout=0", "alice"),
        403,
        "{name}"
    );
    assert_eq!(
        get("/cgi-bin/nph-longpoll/user.bob?timeout=0", "bob"),
        200,
        "{name}"
    );
    let post = |origin: &str| {
        let mut r = request(
            server.port,
            "POST",
            "/cgi-bin/nph-longpoll/user.alice",
            "HTTP/1.1",
            &[
                &basic("alice"),
                "Content-Type: text/plain",
                "Content-Length: 2",
                &format!("Origin: {origin}"),
                "\r\nhi",
            ],
        );
        r.read_complete(std::time::Duration::from_secs(20));
        r.status()
    };
    assert_eq!(
        post(&format!("http://127.0.0.1:{}", server.port)),
        201,
        "{name}: same origin"
    );
    assert_eq!(post("https://evil.example"), 403, "{name}: cross-site");
}

/// An htpasswd file with alice and bob (MD5, which both servers read).
fn htpasswd(site: &Site) -> std::path::PathBuf {
    require_tool("/usr/bin/htpasswd", "apache2-utils");
    let path = site.dir.path().join("htpasswd");
    for (i, (user, pass)) in [("alice", "alice-pass"), ("bob", "bob-pass")]
        .iter()
        .enumerate()
    {
        let mut cmd = Command::new("/usr/bin/htpasswd");
        if i == 0 {
            cmd.arg("-c");
        }
        let ok = cmd
            .args(["-b", "-m"])
            .arg(&path)
            .args([user, pass])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let _ = Command::new("chmod").arg("0644").arg(&path).status();
    path
}

const USER_CONFIG: &str = "spool_dir = \"@SPOOL@\"\nprivate_channels = [\"user.*\"]\nremote_user_channels = [\"user.{user}\"]\nheartbeat_secs = 2\n";

#[test]
fn remote_user_under_apache() {
    let site = Site::new(USER_CONFIG);
    let users = htpasswd(&site);
    let server = Server::apache_with(&site, |conf| {
        let modules = "/usr/lib/apache2/modules";
        format!(
            "{conf}\nLoadModule auth_basic_module {modules}/mod_auth_basic.so\nLoadModule authn_core_module {modules}/mod_authn_core.so\nLoadModule authn_file_module {modules}/mod_authn_file.so\nLoadModule authz_user_module {modules}/mod_authz_user.so\n<LocationMatch \"^/cgi-bin/(nph-)?longpoll/user\\.\">\n    AuthType Basic\n    AuthName serverpush\n    AuthUserFile \"{}\"\n    Require valid-user\n</LocationMatch>\n",
            users.display()
        )
    });
    remote_user_through(&server);
}

#[test]
fn remote_user_under_lighttpd() {
    let site = Site::new(USER_CONFIG);
    let users = htpasswd(&site);
    let server = Server::lighttpd_with(&site, |conf| {
        format!(
            "{conf}\nserver.modules += ( \"mod_auth\", \"mod_authn_file\" )\nauth.backend = \"htpasswd\"\nauth.backend.htpasswd.userfile = \"{}\"\nauth.require = ( \"/cgi-bin/nph-longpoll/user.\" => ( \"method\" => \"basic\", \"realm\" => \"serverpush\", \"require\" => \"valid-user\" ) )\n",
            users.display()
        )
    });
    remote_user_through(&server);
}
