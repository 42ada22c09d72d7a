#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for testing `gzbench slurm` (what
# scripts/slurm-check.sh does). Needs root and Debian's packages; no systemd, no cgroups, so it
# runs in a container.
#
#   scripts/slurm-local.sh start    install slurm-wlm + munge if missing (apt-get), write
#                                   /etc/slurm/slurm.conf for node `localhost` (partition
#                                   `debug`), start munged, slurmctld and slurmd, wait until the
#                                   node is idle; does nothing that is already done
#   scripts/slurm-local.sh stop     stop the daemons it started (by their pid files)
#   scripts/slurm-local.sh status   the daemons and `sinfo`
#
# State, logs and pid files: $GZBENCH_SLURM_DIR (default /var/tmp/gzbench-slurm). It refuses to
# replace a slurm.conf it did not write.
set -euo pipefail

STATE=${GZBENCH_SLURM_DIR:-/var/tmp/gzbench-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by gzbench scripts/slurm-local.sh"

say() { echo "slurm-local: $*" >&2; }
die() { say "error: $*"; exit 1; }

alive() { # pid file -> running?
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "installing Slurm needs root (apt-get install slurm-wlm munge)"
    command -v apt-get >/dev/null || die "no apt-get: install Slurm (slurmctld, slurmd, sbatch) and munge yourself"
    local t0=$SECONDS
    say "installing slurm-wlm and munge from the distribution's packages"
    apt-get update -qq
    # no daemon may start from the packages' scripts: this script starts them
    local policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" = 0 ] || die "apt-get install slurm-wlm munge failed ($rc)"
    say "installed in $((SECONDS - t0)) s"
}

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; not replacing it"
    fi
    mkdir -p "$STATE/slurmctld" "$STATE/slurmd" /etc/slurm
    # what slurmd sees of this machine; no more CPUs than this process may use
    local hw cpus mem
    hw=$(slurmd -C | head -1)
    cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
    mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    [ -n "$cpus" ] && [ -n "$mem" ] || die "cannot read CPUs and RealMemory from 'slurmd -C': $hw"
    if [ "$(nproc)" -lt "$cpus" ]; then cpus=$(nproc); fi
    local new
    new=$(cat <<EOF
$MARK
ClusterName=gzbench
SlurmctldHost=$(hostname -s)(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
MailProg=/bin/true
# start queued tasks as soon as others end (halves this check's job phase; a test cluster)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# finished jobs stay visible to scontrol for 10 minutes
MinJobAge=600
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
)
    if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$new" ]; then
        return
    fi
    printf '%s\n' "$new" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    say "wrote $CONF (localhost: $cpus CPUs, $mem MB)"
    # running daemons read the old file: restart them
    if alive "$STATE/slurmd.pid" || alive "$STATE/slurmctld.pid"; then stop_slurm; fi
}

start_munge() {
    if alive "$STATE/munge/munged.pid"; then return; fi
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    # munged runs as the munge user, which writes its pid and log there
    mkdir -p "$STATE/munge"
    chown munge:munge "$STATE/munge"
    runuser -u munge -- munged --force --pid-file="$STATE/munge/munged.pid" \
        --log-file="$STATE/munge/munged.log" || die "munged did not start (log: $STATE/munge/munged.log)"
    munge -n | unmunge >/dev/null || die "munge does not answer (log: $STATE/munge/munged.log)"
}

start_slurm() {
    if ! alive "$STATE/slurmctld.pid"; then
        slurmctld || die "slurmctld did not start (log: $STATE/slurmctld.log)"
    fi
    if ! alive "$STATE/slurmd.pid"; then
        slurmd -N localhost || die "slurmd did not start (log: $STATE/slurmd.log)"
    fi
    local state=""
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -n localhost -o '%T' 2>/dev/null || true)
        case "$state" in
            idle*|mixed*|allocated*) say "node localhost is $state"; return ;;
            drain*|down*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    die "node localhost is '${state:-not answering}' after 60 s (logs: $STATE/slurmctld.log, $STATE/slurmd.log)"
}

stop_one() { # name pidfile
    if alive "$2"; then
        local pid
        pid=$(cat "$2")
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        say "stopped $1 ($pid)"
    fi
    rm -f "$2"
}

stop_slurm() {
    stop_one slurmd "$STATE/slurmd.pid"
    stop_one slurmctld "$STATE/slurmctld.pid"
}

case "${1:-start}" in
    start)
        install
        write_conf
        start_munge
        start_slurm
        ;;
    stop)
        stop_slurm
        stop_one munged "$STATE/munge/munged.pid"
        ;;
    status)
        for p in munge/munged slurmctld slurmd; do
            if alive "$STATE/$p.pid"; then echo "${p#*/}: running ($(cat "$STATE/$p.pid"))"; else echo "${p#*/}: stopped"; fi
        done
        # sinfo retries for seconds when no slurmctld answers
        if alive "$STATE/slurmctld.pid"; then sinfo || true; fi
        ;;
    *)
        die "usage: $0 start|stop|status"
        ;;
esac
