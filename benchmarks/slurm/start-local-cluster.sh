#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try (and test) the slurm executor without a
# real cluster: installs Debian's slurmctld, slurmd, slurm-client and munge when missing,
# writes slurm.conf for this host (its name, CPUs, memory; one partition, `debug`), starts
# munged, slurmctld and slurmd, and waits until the node answers in sinfo.
#
# Idempotent: with the node already up it does nothing. It never fails: where it cannot
# install or start the cluster (not root, no apt-get, a daemon that will not start) it says
# why and exits 0, so CI on a machine without SLURM goes on (the slurm tests then skip).
#
# Environment: SLURM_START_TIMEOUT (seconds to wait for the node, default 60),
# SLURM_CONF_DIR (default /etc/slurm), SLURM_STATE_DIR (spool and logs, default /var).
set -uo pipefail

TIMEOUT="${SLURM_START_TIMEOUT:-60}"
CONF_DIR="${SLURM_CONF_DIR:-/etc/slurm}"
STATE_DIR="${SLURM_STATE_DIR:-/var}"
PARTITION=debug
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "start-local-cluster: $*"; }
give_up() {
    say "$*; no local SLURM cluster (tests marked slurm will skip)"
    exit 0
}

node_up() {
    # the node answers and takes jobs: idle, or running some (mixed, allocated, completing)
    sinfo --noheader --Node --format='%T' 2>/dev/null \
        | grep -qE '^(idle|mixed|allocated|completing)$'
}

if command -v sinfo >/dev/null && node_up; then
    say "already running: $(sinfo --noheader --format='%P %D node(s) %T' | head -n 1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    give_up "not root (installing and starting the daemons needs root)"
fi

missing=()
for program in slurmctld slurmd sbatch munged; do
    command -v "$program" >/dev/null || missing+=("$program")
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || give_up "no apt-get to install ${PACKAGES[*]}"
    say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null 2>&1 \
            || give_up "apt-get could not install ${PACKAGES[*]}"
    fi
fi

host="$(hostname -s)"
cpus="$(nproc)"
# RealMemory: what is free now, in MB, less a margin for the daemons and the sweep itself
free_mb="$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)"
memory=$(( free_mb > 2048 ? free_mb - 1024 : free_mb ))

mkdir -p "$CONF_DIR" "$STATE_DIR/spool/slurmctld" "$STATE_DIR/spool/slurmd" \
    "$STATE_DIR/log/slurm" /run/munge
conf="$CONF_DIR/slurm.conf"
cat >"$conf" <<CONF
# written by rmdbench's benchmarks/slurm/start-local-cluster.sh: one node, this host
ClusterName=rmdbench-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it starts again (default 120)
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
KillWait=5
StateSaveLocation=$STATE_DIR/spool/slurmctld
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldLogFile=$STATE_DIR/log/slurm/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
say "wrote $conf: node $host, $cpus CPUs, ${memory} MB, partition $PARTITION"

# munge: a key, then the daemon as its own user (as the Debian service does)
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
if id munge >/dev/null 2>&1; then
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge \
        2>/dev/null
fi
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged || give_up "munged did not start"
    else
        munged --force || give_up "munged did not start"
    fi
fi

# the SLURM daemons: started unless running (a stale slurmd without slurmctld is restarted)
if ! pgrep -x slurmctld >/dev/null; then
    slurmctld || give_up "slurmctld did not start (see $STATE_DIR/log/slurm/slurmctld.log)"
fi
if ! pgrep -x slurmd >/dev/null; then
    slurmd || give_up "slurmd did not start (see $STATE_DIR/log/slurm/slurmd.log)"
fi

waited=0
until node_up; do
    if [ "$waited" -ge "$TIMEOUT" ]; then
        state="$(sinfo --noheader --Node --format='%T %E' 2>&1 | head -n 1)"
        give_up "the node is not up after ${TIMEOUT} s (sinfo: ${state:-no answer})"
    fi
    # a node left down or drained by an earlier start comes back
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sleep 1
    waited=$((waited + 1))
done
say "cluster up in ${waited} s: $(sinfo --noheader --format='%P %D node(s) %T' | head -n 1)"
