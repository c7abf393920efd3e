# Sourced by every script that builds serverpush (test.sh, install-cgi.sh, build-deb.sh,
# bench.sh): the programs are linked statically, as static-pie on glibc hosts.
#
# Each request starts a process, and a dynamically linked Rust program spends a third of its
# start-up in the dynamic loader (mapping libc and libgcc_s, relocating, libgcc_s's processor
# probe): static-pie starts in 0.5 ms of CPU instead of 0.8 (a C hello takes 0.44), touches 67
# pages instead of 111 and keeps 40 KiB less private memory per waiting process, and keeps
# address randomisation. Cargo applies these flags to the programs only when the target is
# named, so the host's triple is set as the build target (its output is target/TRIPLE/): flags
# for the host would reach the proc-macro crates, which cannot be static.
# SERVERPUSH_PIE=no links them without position independence (static, at a fixed address): a
# static-pie program relocates its tables of pointers when it starts, which makes about 56 KiB of
# private memory per process (a quarter of a waiting stream's); without PIE those pages stay
# shared with the file. It costs the randomisation of the program's own addresses (its heap,
# stack and mappings stay random): for hosts that hold thousands of streams (README, "How many
# clients one host holds").
# Other hosts (musl, other systems) build as usual. SERVERPUSH_RELEASE is where the release
# programs are after `cargo build --release`.
host="$(rustc -vV | sed -n 's/^host: //p')"
case "$host" in
  *-linux-gnu*)
    export CARGO_BUILD_TARGET="$host"
    flags_var="CARGO_TARGET_$(printf '%s' "$host" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS"
    flags="-C target-feature=+crt-static"
    if [[ "${SERVERPUSH_PIE:-yes}" == no ]]; then
      flags="$flags -C relocation-model=static"
    fi
    export "$flags_var=$flags"
    unset flags
    unset flags_var
    ;;
esac
SERVERPUSH_RELEASE="$(realpath -m "${CARGO_TARGET_DIR:-target}")/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release"
export SERVERPUSH_RELEASE
