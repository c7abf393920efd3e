//! The systems under test: serverpush under Apache, lighttpd and nginx (through fcgiwrap), the
//! seeds' scripts, nchan in the same nginx, all started on loopback and stopped on drop.

#[allow(unused_imports)]
use super::*;

/// Kills what the seeds leave behind: their scripts never notice a departed client.
pub(crate) struct Leftovers(pub(crate) PathBuf);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.0.as_os_str())
            .status();
    }
}

/// The systems under test, running.
pub(crate) struct Systems {
    pub(crate) site: Site,
    pub(crate) apache: Server,
    /// The shared Redis: serverpush's Redis store and nchan's Redis mode use the same server.
    pub(crate) redis: Redis,
    /// The same programs with `store = "redis"`, under an Apache of their own.
    pub(crate) site_redis: Site,
    pub(crate) apache_redis: Server,
    pub(crate) lighttpd: Server,
    /// serverpush through fcgiwrap and nchan, in one nginx.
    pub(crate) nginx: Server,
    pub(crate) peers: PathBuf,
    /// The directory `nph-sse-floor` watches.
    pub(crate) floor_dir: PathBuf,
    pub(crate) data_file: PathBuf,
    pub(crate) peer_cam: PathBuf,
}

/// Where nchan keeps its channels: its own shared memory, or the shared Redis.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nchan {
    Memory,
    Redis,
}

impl Nchan {
    /// The prefix of its locations in `nchan.conf.in`.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Nchan::Memory => "",
            Nchan::Redis => "r",
        }
    }
}

/// The channel store the programs of `site` use, as they open it.
pub(crate) fn store_of(site: &Site) -> Box<dyn ChannelStore> {
    let config = serverpush::config::Config::load(Some(&site.config)).unwrap();
    serverpush::store::open(&config).unwrap()
}

/// Publishes into the site's store as its spool's owner, as `serverpush publish` run by root
/// does, so that the channels it makes are the programs' user's (who publishes over HTTP too),
/// from a thread of its own (Linux keeps credentials per thread).
pub(crate) fn owner_publisher(site: &Site) -> impl FnMut(&str, &str) + use<> {
    let config = serverpush::config::Config::load(Some(&site.config)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(String, String, std::sync::mpsc::Sender<()>)>();
    std::thread::spawn(move || {
        use serverpush::store::spool::owner::{Use, become_owner};
        become_owner(&config.spool_dir, Use::Write).unwrap();
        let mut store = serverpush::store::open(&config).unwrap();
        for (channel, data, done) in rx {
            store.put(&channel, &data);
            let _ = done.send(());
        }
    });
    move |channel: &str, data: &str| {
        let (done, published) = std::sync::mpsc::channel();
        tx.send((channel.to_owned(), data.to_owned(), done))
            .unwrap();
        published.recv().unwrap();
    }
}

/// The channel stores of the spool site and the Redis site, for the scenarios that publish
/// locally (as `serverpush publish` does).
pub(crate) struct Stores {
    pub(crate) spool: Box<dyn ChannelStore>,
    pub(crate) redis: Box<dyn ChannelStore>,
}

impl Stores {
    pub(crate) fn of(sys: &Systems) -> Stores {
        Stores {
            spool: store_of(&sys.site),
            redis: store_of(&sys.site_redis),
        }
    }
}

/// Builds the fan-out floor into the programs' own cgi-bin, so that Apache and lighttpd serve
/// it as they serve ours; returns the directory it watches, readable by the server's user.
pub(crate) fn install_floor(site: &Site) -> PathBuf {
    for floor in [
        "nph-sse-floor",
        "nph-sse-protocol-floor",
        "nph-mjpeg-floor",
        "nph-publish-floor",
    ] {
        sh(&format!(
            "gcc -O2 -o {}/{floor} {}/benches/peers/{floor}.c",
            site.cgi_bin.display(),
            repo().display()
        ));
    }
    let floor_dir = site.dir.path().join("floor");
    std::fs::create_dir_all(&floor_dir).unwrap();
    std::fs::set_permissions(
        &floor_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // Where the publish floor writes, as the server's user, for the latency floor's subscriber.
    let publish_dir = site.dir.path().join("floor-publish");
    std::fs::create_dir_all(&publish_dir).unwrap();
    std::fs::set_permissions(
        &publish_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    floor_dir
}

/// The directory the publish floor writes in ([`install_floor`]).
pub(crate) fn publish_floor_dir(site: &Site) -> PathBuf {
    site.dir.path().join("floor-publish")
}

/// The test's nginx made the benchmark's: nchan loaded and its locations (`nchan_conf`) in the
/// server beside serverpush's, nchan's worker and connection counts, and the program names of
/// the C peers (`hello.cgi`) let through to fcgiwrap as well.
pub(crate) fn with_nchan(name: &str, conf: String, nchan_conf: &Path) -> String {
    match name {
        "nginx.conf" => {
            let conf = format!("load_module /usr/lib/nginx/modules/ngx_nchan_module.so;\n{conf}")
                .replace(
                    "worker_processes 1;",
                    "worker_processes 2;\nworker_rlimit_nofile 8192;",
                )
                .replace("worker_connections 4096;", "worker_connections 8192;");
            let mut out = String::new();
            for line in conf.lines() {
                out.push_str(line);
                out.push('\n');
                if line.trim_start().starts_with("include")
                    && line.contains("serverpush-nginx.conf")
                {
                    out.push_str(&format!("        include {};\n", nchan_conf.display()));
                }
            }
            assert!(out.contains("nchan.conf;"), "nchan in the server block");
            out
        }
        "serverpush-nginx.conf" => conf.replace("[a-z-]+", "[a-z.-]+"),
        _ => conf,
    }
}

pub(crate) fn sh(script: &str) {
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .status()
        .expect("bash");
    assert!(status.success(), "failed: {script}");
}

pub(crate) fn output(cmd: &str) -> String {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_owned()
        })
        .unwrap_or_default()
}

/// What the Redis site's config adds before the shared part.
pub(crate) const CONFIG_STORE_REDIS: &str = "store = \"redis\"\n";

pub(crate) const CONFIG: &str = "spool_dir = \"@SPOOL@\"\nopen_channels = [\"lat\", \"llat\", \"nlat\", \"sse\", \"lsse\", \"nsse\", \"nspawn\", \"loss\", \"fan\", \"idle\", \"spawn\", \"lspawn\", \"once\", \"waiting\", \"crowd\"]\n\
retention_messages = 20000\nlongpoll_timeout_secs = 120\nheartbeat_secs = 15\nkeepalive_secs = 5\n\
mercure_anonymous = true\njwt_secret = \"the-benchmark-hub-secret-of-32-bytes-or-more\"\n\
[cameras]\ndefault = \"@CAMS@/cam.jpg\"\n";

pub(crate) fn start(plan: &Plan) -> Systems {
    let peers_src = repo().join("benches/peers");
    sh(&format!("bash {}/install-peers.sh", peers_src.display()));
    sh(&format!(
        "bash {}/scripts/install-deps.sh",
        repo().display()
    ));
    // One inotify instance per waiting subscriber or viewer, all of one user.
    let _ = Command::new("sysctl")
        .args(["-qw", "fs.inotify.max_user_instances=8192"])
        .status();
    let _ = Command::new("sysctl")
        .args(["-qw", "fs.inotify.max_user_watches=524288"])
        .status();

    let site = Site::new(CONFIG);
    // The spool store does not fsync a message; for an even comparison this Redis syncs its
    // append-only file once a second, as most sites run it. `appendfsync always`, which the
    // project's Redis fragment recommends, adds one fsync per publish on top.
    let redis = Redis::start_with("everysec");
    let site_redis = Site::new(&format!(
        "{CONFIG_STORE_REDIS}redis_url = \"{}\"\n{CONFIG}",
        redis.url()
    ));
    let peers = site.dir.path().join("peers");
    util::copy_tree(&peers_src, &peers);
    sh(&format!(
        "cd {p} && gcc -O2 -o hello.cgi hello.c && chmod 0755 *.php *.pl hello.cgi && chmod 0755 {p}",
        p = peers.display()
    ));
    sh(&format!(
        "cp {}/hello.cgi {}/",
        peers.display(),
        site.cgi_bin.display()
    ));
    let floor_dir = install_floor(&site);
    let data_file = site.dir.path().join("peerdata/data.txt");
    let peer_cam = site.cams.join("peer.jpg");
    std::fs::create_dir_all(data_file.parent().unwrap()).unwrap();
    std::fs::write(&data_file, "").unwrap();
    let (user, _) = run_as();
    sh(&format!(
        "chown -R {user} {}",
        data_file.parent().unwrap().display()
    ));

    let peers_conf = site.dir.path().join("apache-peers.conf");
    let text = std::fs::read_to_string(peers.join("apache-peers.conf.in"))
        .unwrap()
        .replace("@PEERS_ENV_WEBCAM@", &peer_cam.display().to_string())
        .replace("@PEERS_ENV_DATA@", &data_file.display().to_string())
        .replace("@PEERS@", &peers.display().to_string());
    std::fs::write(&peers_conf, text).unwrap();
    let workers = if plan.smoke { 256 } else { 1536 };
    let raise =
        |conf: String| fixtures::raise_workers(conf, workers).replace("Timeout 60", "Timeout 180");
    let apache = Server::apache_with(&site, |conf| {
        let mut conf = raise(conf);
        conf.push_str(&format!("\nInclude \"{}\"\n", peers_conf.display()));
        conf
    });
    let apache_redis = Server::apache_with(&site_redis, raise);

    // The same programs under lighttpd, for the scenarios where the server makes a difference.
    let lighttpd = Server::lighttpd(&site);

    // serverpush through fcgiwrap as the shipped snippets run it, and nchan, in one nginx.
    let nchan_conf = site.dir.path().join("nchan.conf");
    let text = std::fs::read_to_string(peers.join("nchan.conf.in"))
        .unwrap()
        .replace("@REDIS_URL@", &format!("redis://127.0.0.1:{}", redis.port));
    std::fs::write(&nchan_conf, text).unwrap();
    let nginx = Server::nginx_with(&site, workers, |name, conf| {
        with_nchan(name, conf, &nchan_conf)
    });
    Systems {
        site,
        apache,
        redis,
        site_redis,
        apache_redis,
        lighttpd,
        nginx,
        peers,
        data_file,
        peer_cam,
        floor_dir,
    }
}
