#!/usr/bin/env bash
# pbxctl sandbox: a cached Debian-sid chroot with Asterisk + SIPp, used by the
# integration tests and the demo.
#
#   scripts/sandbox.sh build             build the chroot once (idempotent, cached)
#   scripts/sandbox.sh start [NODE]      (re)start a node's Asterisk in the chroot, wait for AMI
#   scripts/sandbox.sh stop [NODE]       stop a node's Asterisk; without NODE every node's and any Kamailio,
#                                        then clean up mounts (idempotent)
#   scripts/sandbox.sh kill [NODE]       kill -9 a node's Asterisk (a crash); prints how many
#   scripts/sandbox.sh status [NODE]     print "running" or "stopped"
#   scripts/sandbox.sh cli CMD [NODE]    run an Asterisk CLI command on a running node
#   scripts/sandbox.sh path              print the sandbox dir
#   scripts/sandbox.sh confdir [NODE]    print a node's config dir (host path)
#   scripts/sandbox.sh logdir [NODE]     print a node's log dir (host path)
#   scripts/sandbox.sh spooldir [NODE]   print a node's spool dir (host path)
#   scripts/sandbox.sh dbdir [NODE]      print the dir of a node's AstDB (host path)
#
# Nodes: several Asterisk instances run in the one chroot. The default node, "local", uses
# the package's directories (/etc/asterisk, /var/log/asterisk, ...). Any other NODE (a-z,
# 0-9, -) keeps everything under /srv/nodes/NODE in the chroot (etc, db, spool, log, run,
# cache) and starts with "asterisk -C /srv/nodes/NODE/asterisk.conf", a file this script
# writes: those [directories], then pbxctl's own asterisk.conf from etc/ included. Which
# addresses a node binds (AMI, SIP, RTP) is what pbxctl rendered into its config dir.
#
# The sandbox lives in $PBXCTL_SANDBOX_DIR (default /var/cache/pbxctl/sandbox),
# outside the repo, so that fresh clones on the same machine reuse it.
# Needs root.
set -euo pipefail

DIR="${PBXCTL_SANDBOX_DIR:-/var/cache/pbxctl/sandbox}"
DIR="${DIR%/}"
MARKER=".pbxctl-sandbox-ready"
SUITE="${PBXCTL_SANDBOX_SUITE:-sid}"
START_TIMEOUT="${PBXCTL_SANDBOX_START_TIMEOUT:-30}"
ASTERISK_DIRS=(etc/asterisk var/lib/asterisk var/log/asterisk var/spool/asterisk var/run/asterisk var/cache/asterisk)
# What the chroot holds: Asterisk and SIPp for the nodes and phones, Kamailio for the edge.
CHROOT_PACKAGES=(asterisk asterisk-modules asterisk-config sip-tester kamailio)
# A program of each package a built sandbox must have; one missing is installed on build.
CHROOT_PROGRAMS=(usr/sbin/asterisk usr/bin/sipp usr/sbin/kamailio)

# The instance the command is about ("local": the default one); see select_node.
NODE=local
NODES_DIR=srv/nodes

log() { echo "sandbox: $*" >&2; }
die() { echo "sandbox: error: $*" >&2; exit 1; }

# Host path of a path inside chroot $1. Resolves the absolute /var/run -> /run
# symlink of current Debian inside the chroot (following it on the host would
# land in the HOST's /run).
inroot() {
    local root="$1" rel="${2#/}"
    if [ -L "$root/var/run" ] && [[ "$rel" == var/run/* || "$rel" == var/run ]]; then
        rel="run${rel#var/run}"
    fi
    echo "$root/$rel"
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

is_node_name() { [[ "$1" =~ ^[a-z][a-z0-9-]{1,31}$ ]]; }

# Make $1 (empty: local) the node the command is about.
select_node() {
    NODE="${1:-local}"
    is_node_name "$NODE" || die "not a node name: $NODE"
}

# The chroot path of the node's directory $1 (etc, db, spool, log, run, cache).
node_path() {
    local kind="$1"
    if [ "$NODE" != local ]; then
        echo "/$NODES_DIR/$NODE/$kind"
        return 0
    fi
    case "$kind" in
        etc) echo /etc/asterisk ;;
        db) echo /var/lib/asterisk ;;
        spool) echo /var/spool/asterisk ;;
        log) echo /var/log/asterisk ;;
        run) echo /var/run/asterisk ;;
        cache) echo /var/cache/asterisk ;;
        *) die "no node directory $kind" ;;
    esac
}

# The host path of the node's directory $1 (created when missing).
node_dir() {
    local path
    path=$(inroot "$DIR" "$(node_path "$1")")
    if [ ! -d "$path" ]; then
        need_root
        mkdir -p "$path"
    fi
    echo "$path"
}

# Asterisk as the node runs it, in the chroot (options follow).
node_asterisk() {
    if [ "$NODE" = local ]; then
        echo /usr/sbin/asterisk
    else
        echo "/usr/sbin/asterisk -C /$NODES_DIR/$NODE/asterisk.conf"
    fi
}

# Every directory of the node; for a named node also the asterisk.conf pointing at them.
prepare_node() {
    local kind
    for kind in etc db spool log run cache; do node_dir "$kind" >/dev/null; done
    mkdir -p "$(node_dir log)/cdr-csv"
    [ "$NODE" = local ] && return 0
    cat >"$DIR/$NODES_DIR/$NODE/asterisk.conf" <<EOF
; Written by scripts/sandbox.sh: where sandbox node $NODE keeps its files.
[directories]
astetcdir => $(node_path etc)
astdbdir => $(node_path db)
astspooldir => $(node_path spool)
astlogdir => $(node_path log)
astrundir => $(node_path run)
astcachedir => $(node_path cache)
; pbxctl's own asterisk.conf ([options]), as it renders it for the node.
#tryinclude "$(node_path etc)/asterisk.conf"
EOF
}

# The Debian mirror this host's apt already uses (first .../debian URI).
host_mirror() {
    local m=""
    shopt -s nullglob
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        m=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^(https?|ftp):\/\//) { print $i; break } }' "$f" \
            | grep -E '/debian/?$' | head -n1 || true)
        [ -n "$m" ] && break
    done
    if [ -z "$m" ]; then
        for f in /etc/apt/sources.list.d/*.sources; do
            m=$(awk 'tolower($1)=="uris:" { for (i=2;i<=NF;i++) print $i }' "$f" \
                | grep -E '/debian/?$' | head -n1 || true)
            [ -n "$m" ] && break
        done
    fi
    shopt -u nullglob
    [ -n "$m" ] || m="http://deb.debian.org/debian"
    echo "${m%/}"
}

# Unmount everything mounted at or below $1 (deepest first).
umount_below() {
    local root="$1" mp
    [ -d "$root" ] || return 0
    root=$(readlink -f "$root")
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts \
        | sort -r | while read -r mp; do
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
        done
}

# Device nodes Asterisk (and apt/dpkg during build) need inside the chroot.
ensure_dev() {
    local root="$1"
    mkdir -p "$root/dev"
    local spec name type major minor
    for spec in "null c 1 3" "zero c 1 5" "full c 1 7" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
        read -r name type major minor <<<"$spec"
        if [ ! -c "$root/dev/$name" ]; then
            rm -f "$root/dev/$name"
            mknod -m 666 "$root/dev/$name" "$type" "$major" "$minor"
        fi
    done
}

mount_proc() {
    local root="$1"
    mkdir -p "$root/proc"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
}

# PIDs of processes whose root directory is the sandbox (one find, not a readlink per
# process: stopping polls this).
chroot_pids() {
    local root
    root=$(readlink -f "$DIR" 2>/dev/null) || return 0
    find /proc/[0-9]*/root -maxdepth 0 -lname "$root" 2>/dev/null | cut -d/ -f3
    return 0
}

# Any edge's Kamailio still running in the chroot (tests stop theirs; a crashed run may
# not have): TERM, then KILL after 5 s.
stop_kamailio() {
    local tries
    kamailio_pids | xargs -r kill 2>/dev/null || true
    for tries in $(seq 50); do
        [ -n "$(kamailio_pids)" ] || return 0
        sleep 0.1
    done
    kamailio_pids | xargs -r kill -9 2>/dev/null || true
}

kamailio_pids() {
    local p
    for p in $(chroot_pids) $(host_kamailio_pids); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = kamailio ] && echo "$p"
    done
    return 0
}

# The host's Kamailio processes running an edge whose files lie in this sandbox.
host_kamailio_pids() {
    local p root command
    root=$(readlink -f "$DIR" 2>/dev/null) || return 0
    for p in $(pgrep -x kamailio); do
        command=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
        [[ "$command" == *" $root/etc/kamailio-pbxctl/"* ]] && echo "$p"
    done
    return 0
}

# PIDs of the node's Asterisk processes: "-C" with its asterisk.conf, or none for local.
asterisk_pids() {
    local p conf="/$NODES_DIR/$NODE/asterisk.conf" args
    for p in $(chroot_pids); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = asterisk ] || continue
        args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
        if [ "$NODE" = local ]; then
            [[ " $args " == *" -C "* ]] || echo "$p"
        else
            [[ " $args " == *" -C $conf "* ]] && echo "$p"
        fi
    done
    return 0
}

# The named nodes of the sandbox (those with a directory under /srv/nodes).
named_nodes() {
    local d
    for d in "$DIR/$NODES_DIR"/*/; do
        [ -d "$d" ] && is_node_name "$(basename "$d")" && basename "$d"
    done
    return 0
}

is_built() { [ -f "$DIR/$MARKER" ]; }
require_built() { is_built || die "sandbox not built at $DIR; run: $0 build"; }

# Install into a built chroot the packages a newer pbxctl needs (a cached sandbox stays).
# Asterisk may be running: its /proc mount stays, its DNS is local again at the end.
ADDED_PROC=0
end_adding() {
    echo "nameserver 127.0.0.1" >"$DIR/etc/resolv.conf"
    [ "$ADDED_PROC" = 0 ] || umount_below "$DIR/proc"
}

add_missing_packages() {
    local program missing=0
    for program in "${CHROOT_PROGRAMS[@]}"; do
        [ -e "$DIR/$program" ] || missing=1
    done
    [ "$missing" = 1 ] || return 0
    log "adding missing packages to the chroot: ${CHROOT_PACKAGES[*]}"
    mountpoint -q "$DIR/proc" || ADDED_PROC=1
    trap end_adding EXIT
    cp -L /etc/resolv.conf "$DIR/etc/resolv.conf"
    mount_proc "$DIR"
    local ienv=(env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin)
    if ! chroot "$DIR" "${ienv[@]}" apt-get -q -o Acquire::Check-Valid-Until=false update >"$DIR/root/apt.log" 2>&1 ||
       ! chroot "$DIR" "${ienv[@]}" apt-get -q install -y --no-install-recommends \
            "${CHROOT_PACKAGES[@]}" >>"$DIR/root/apt.log" 2>&1; then
        tail -n 30 "$DIR/root/apt.log" >&2
        die "apt-get in the chroot failed (log: $DIR/root/apt.log)"
    fi
    chroot "$DIR" apt-get clean
    end_adding
    trap - EXIT
}

# The host's own packages: debootstrap builds the chroot, SIPp plays phones and carriers,
# and the host's Kamailio (Debian 12's 5.6) runs the edge besides the chroot's (sid's) in
# the tests that check both versions. Its service is not wanted here: disabled, stopped.
add_missing_host_packages() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v sipp >/dev/null || missing+=(sip-tester)
    [ -x /usr/sbin/kamailio ] || missing+=(kamailio)
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing host packages: ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null; then
        systemctl disable --now kamailio.service >/dev/null 2>&1 || true
    fi
}

cmd_build() {
    need_root
    add_missing_host_packages
    if is_built; then
        add_missing_packages
        log "already built at $DIR"
        return 0
    fi
    local t0=$SECONDS

    local mirror tmp
    mirror=$(host_mirror)
    tmp="$DIR.building"
    mkdir -p "$(dirname "$DIR")"
    # Leftovers of an interrupted build (or an unfinished sandbox) are redone.
    local d
    for d in "$tmp" "$DIR"; do
        if [ -e "$d" ]; then
            log "removing unfinished $d"
            umount_below "$d"
            rm -rf --one-file-system "$d"
        fi
    done

    log "debootstrap --variant=minbase $SUITE from $mirror (takes a few minutes)"
    if ! debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$tmp.debootstrap.log" 2>&1; then
        tail -n 30 "$tmp.debootstrap.log" >&2 || true
        [ -f "$tmp/debootstrap/debootstrap.log" ] && tail -n 30 "$tmp/debootstrap/debootstrap.log" >&2
        umount_below "$tmp"
        die "debootstrap failed (log: $tmp.debootstrap.log)"
    fi
    rm -f "$tmp.debootstrap.log"

    trap 'umount_below "'"$tmp"'"' EXIT
    ensure_dev "$tmp"
    mount_proc "$tmp"
    cp -L /etc/resolv.conf "$tmp/etc/resolv.conf"
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
    # Never start services from maintainer scripts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/usr/sbin/policy-rc.d"

    log "installing ${CHROOT_PACKAGES[*]} in the chroot"
    local ienv=(env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin)
    if ! chroot "$tmp" "${ienv[@]}" apt-get -q -o Acquire::Check-Valid-Until=false update >"$tmp/root/apt.log" 2>&1 ||
       ! chroot "$tmp" "${ienv[@]}" apt-get -q install -y --no-install-recommends \
            "${CHROOT_PACKAGES[@]}" >>"$tmp/root/apt.log" 2>&1; then
        tail -n 30 "$tmp/root/apt.log" >&2
        die "apt-get in the chroot failed (log: $tmp/root/apt.log)"
    fi
    chroot "$tmp" apt-get clean

    # Only pbxctl-rendered files belong in /etc/asterisk: park the samples.
    mkdir -p "$tmp/etc/asterisk.dist"
    if [ -d "$tmp/etc/asterisk" ]; then
        find "$tmp/etc/asterisk" -mindepth 1 -maxdepth 1 -exec mv -t "$tmp/etc/asterisk.dist/" {} +
    fi
    # Asterisk runs as root in the sandbox (no -U): everything root-owned.
    for d in "${ASTERISK_DIRS[@]}"; do
        mkdir -p "$(inroot "$tmp" "$d")"
        chown -R root:root "$(inroot "$tmp" "$d")"
    done
    chown -R root:root "$tmp/etc/asterisk.dist"
    mkdir -p "$tmp/var/log/asterisk/cdr-csv"

    # DNS inside the sandbox fails fast instead of timing out.
    rm -f "$tmp/etc/resolv.conf"
    echo "nameserver 127.0.0.1" >"$tmp/etc/resolv.conf"

    umount_below "$tmp"
    trap - EXIT
    local ver
    ver=$(chroot "$tmp" dpkg-query -W -f='${Version}' asterisk 2>/dev/null || echo '?')
    echo "suite=$SUITE mirror=$mirror asterisk=$ver built=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/$MARKER"
    mv -T "$tmp" "$DIR"
    log "built $DIR (asterisk $ver) in $((SECONDS - t0)) s"
}

# AMI host/port from the node's manager.conf ([general] section).
ami_endpoint() {
    local conf host=127.0.0.1 port=5038
    conf="$(node_dir etc)/manager.conf"
    if [ -f "$conf" ]; then
        local kv
        kv=$(awk -F'=' '
            /^[ \t]*\[/ { sec = $0; gsub(/[ \t\[\]]/, "", sec); next }
            sec == "general" {
                k = $1; gsub(/[ \t]/, "", k); v = $2; sub(/;.*/, "", v); gsub(/[ \t]/, "", v)
                if (k == "port") port = v; if (k == "bindaddr") host = v
            }
            END { print host " " port }' "$conf")
        read -r host port <<<"$kv"
        [ -n "$host" ] || host=127.0.0.1
        [ -n "$port" ] || port=5038
    fi
    case "$host" in 0.0.0.0|::|"[::]") host=127.0.0.1 ;; esac
    echo "$host $port"
}

ami_answers() {
    local host="$1" port="$2" banner
    banner=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -n1 <&3' "$host" "$port" 2>/dev/null) || return 1
    [[ "$banner" == "Asterisk Call Manager/"* ]]
}

cmd_start() {
    need_root
    require_built
    stop_node >/dev/null
    prepare_node
    # Without its own manager.conf a node would be waited for on local's AMI address.
    [ "$NODE" = local ] || [ -f "$(node_dir etc)/manager.conf" ] ||
        die "node $NODE has no configuration in $(node_dir etc): pbxctl apply [--offline] first"
    ensure_dev "$DIR"
    mount_proc "$DIR"
    rm -f "$(node_dir run)"/asterisk.{ctl,pid}
    local console logs
    logs=$(node_dir log)
    console="$logs/console.log"
    : >"$console"
    log "starting asterisk node $NODE in $DIR"
    # node_asterisk: the program and its options, one word each
    setsid chroot "$DIR" $(node_asterisk) -f -n -vvv \
        </dev/null >"$console" 2>&1 &
    local pid=$! host port
    read -r host port < <(ami_endpoint)
    local deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        if kill -0 "$pid" 2>/dev/null && ami_answers "$host" "$port"; then
            # AMI comes up before all modules are loaded: also wait for
            # FullyBooted so that PJSIP etc. are there when we return.
            if timeout $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)) \
                    chroot "$DIR" $(node_asterisk) -rx 'core waitfullybooted' >/dev/null 2>&1; then
                log "asterisk node $NODE running (pid $pid), AMI on $host:$port"
                return 0
            fi
            log "asterisk did not finish booting within ${START_TIMEOUT}s"
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "asterisk exited during startup"
            break
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "AMI did not answer on $host:$port within ${START_TIMEOUT}s"
            break
        fi
        sleep 0.5
    done
    echo "---- tail of $console" >&2
    tail -n 40 "$console" >&2 || true
    if [ -f "$logs/messages" ]; then
        echo "---- tail of $logs/messages" >&2
        tail -n 20 "$logs/messages" >&2 || true
    fi
    stop_node >/dev/null || true
    exit 1
}

# Stop the node's Asterisk: "core stop now", then SIGTERM, then SIGKILL.
stop_node() {
    if [ -n "$(asterisk_pids)" ]; then
        timeout 10 chroot "$DIR" $(node_asterisk) -rx 'core stop now' >/dev/null 2>&1 || true
        local i
        for i in $(seq 1 20); do
            [ -z "$(asterisk_pids)" ] && break
            sleep 0.25
        done
        local pids
        pids=$(asterisk_pids)
        if [ -n "$pids" ]; then
            log "asterisk node $NODE still running, sending SIGTERM"
            kill $pids 2>/dev/null || true
            for i in $(seq 1 12); do
                [ -z "$(asterisk_pids)" ] && break
                sleep 0.25
            done
            pids=$(asterisk_pids)
            if [ -n "$pids" ]; then
                log "sending SIGKILL"
                kill -9 $pids 2>/dev/null || true
                sleep 0.5
            fi
        fi
    fi
    rm -f "$(inroot "$DIR" "$(node_path run)")"/asterisk.{ctl,pid}
}

# Stop one node ($1 given), or every node; unmount once nothing runs in the chroot.
cmd_stop() {
    need_root
    [ -d "$DIR" ] || { echo stopped; return 0; }
    if [ -n "${1:-}" ]; then
        select_node "$1"
        stop_node
    else
        local name
        for name in local $(named_nodes); do
            select_node "$name"
            stop_node
        done
        stop_kamailio
    fi
    # Only unmount once nothing of ours runs inside the chroot any more.
    [ -z "$(chroot_pids)" ] && umount_below "$DIR"
    echo stopped
}

# kill -9 the node's Asterisk, as a crash would; prints how many processes were killed.
cmd_kill() {
    need_root
    local pids
    pids=$(asterisk_pids)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    echo "$pids" | grep -c . || true
}

# A CLI command over the node's control socket: for what pbxctl's AMI user may not do.
cmd_cli() {
    need_root
    [ -n "$(asterisk_pids)" ] || die "asterisk node $NODE is not running"
    chroot "$DIR" $(node_asterisk) -rx "$1"
}

cmd_status() {
    if [ -d "$DIR" ] && [ -n "$(asterisk_pids)" ]; then echo running; else echo stopped; fi
}

case "${1:-}" in
    build) cmd_build ;;
    start) select_node "${2:-}"; cmd_start ;;
    stop) cmd_stop "${2:-}" ;;
    kill) select_node "${2:-}"; cmd_kill ;;
    status) select_node "${2:-}"; cmd_status ;;
    cli) select_node "${3:-}"; cmd_cli "${2:?usage: $0 cli COMMAND [NODE]}" ;;
    path) echo "$DIR" ;;
    confdir) select_node "${2:-}"; node_dir etc ;;
    logdir) select_node "${2:-}"; node_dir log ;;
    spooldir) select_node "${2:-}"; node_dir spool ;;
    dbdir) select_node "${2:-}"; node_dir db ;;
    *) echo "usage: $0 {build|start|stop|kill|status|cli|path|confdir|logdir|spooldir|dbdir}" \
            "[NODE]" >&2; exit 2 ;;
esac
