#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for zdag's Slurm tests (CI runs it as root on a
# fresh Debian 12 machine without systemd).
#
#   scripts/slurm-cluster.sh start [DIR]   install slurm-wlm and munge if missing, write
#                                          DIR/slurm.conf and DIR/cgroup.conf, start munged,
#                                          slurmctld and slurmd, wait until the node is idle
#   scripts/slurm-cluster.sh stop [DIR]    stop the daemons it started (by their recorded pids)
#   scripts/slurm-cluster.sh status [DIR]  say whether the cluster answers (exit 0) or not (1)
#   scripts/slurm-cluster.sh env [DIR]     print `export SLURM_CONF=DIR/slurm.conf`
#
# DIR defaults to $ZDAG_SLURM_DIR, else /var/tmp/zdag-slurm. Everything the cluster keeps
# (configuration, state, spool, logs, pids) is in DIR; the daemons listen on
# $ZDAG_SLURM_PORT and the next port (default 6817, 6818). Clients (sbatch, squeue, the tests)
# find the cluster through SLURM_CONF=DIR/slurm.conf; `start` prints that line last.
#
# Facts behind the choices (Slurm 22.05 here): root and no systemd, so the postinst service
# starts are blocked with a policy-rc.d that exits 101; the host name must resolve or every
# client waits ~10 s per command; NodeName is `hostname -s` with the CPU and memory line
# `slurmd -C` prints; proctrack/linuxproc, task/none and no accounting (no cgroups needed),
# but cgroup.conf must still name cgroup/v1 because autodetection fails here; cons_tres with
# CR_Core so that jobs asking for no memory share the node.
set -euo pipefail

cmd=${1:-}
dir=${2:-${ZDAG_SLURM_DIR:-/var/tmp/zdag-slurm}}
port=${ZDAG_SLURM_PORT:-6817}

say() { echo "slurm-cluster: $*" >&2; }
die() { say "$*"; exit 1; }

# Installs slurm-wlm and munge when missing (with zdag's other dependencies), their service
# starts blocked while apt runs (scripts/install-deps.sh).
install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v munged >/dev/null && return 0
    "$(dirname "$0")/install-deps.sh" || die "slurm-wlm and munge could not be installed"
    command -v slurmctld >/dev/null || die "slurm-wlm is installed, but there is no slurmctld"
}

# The host name must resolve, else every Slurm client retries for ~10 s.
check_hostname() {
    local host
    host=$(hostname -s)
    getent hosts "$host" >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || die "the host name $host does not resolve (add it to /etc/hosts)"
    say "adding $host to /etc/hosts (it did not resolve)"
    echo "127.0.0.1 $host" >>/etc/hosts
}

write_config() {
    local host node
    host=$(hostname -s)
    # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 ... RealMemory=24105"
    node=$(slurmd -C | head -n1)
    case "$node" in NodeName=*) ;; *) die "slurmd -C printed no NodeName line: $node" ;; esac
    # A fresh cluster each start: no jobs or node states of an earlier one.
    rm -rf "$dir/state" "$dir/spool" "$dir/log"
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    cat >"$dir/slurm.conf" <<EOF
# Written by zdag's scripts/slurm-cluster.sh: a one-node cluster on $host.
ClusterName=zdag
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=60
KillWait=5
$node State=UNKNOWN
PartitionName=zdag Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    echo "CgroupPlugin=cgroup/v1" >"$dir/cgroup.conf"
}

# munged as user munge, with a key and /run/munge (systemd would make both).
start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0 # a munged answers already (ours from an earlier start, or the system's)
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 755 /run/munge
    local pidfile=/run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --pid-file="$pidfile"
    local i
    for i in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || die "munged does not answer"
    cp "$pidfile" "$dir/munged.pid"
}

# Starts "$@" in the background with its output in DIR/log/NAME.out; records its pid.
start_daemon() {
    local name=$1
    shift
    SLURM_CONF="$dir/slurm.conf" setsid "$@" >"$dir/log/$name.out" 2>&1 </dev/null &
    echo $! >"$dir/$name.daemon.pid"
}

node_idle() {
    [ "$(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o '%t' 2>/dev/null | head -n1)" = idle ]
}

start() {
    if running; then
        say "the cluster in $dir answers already"
        echo "export SLURM_CONF=$dir/slurm.conf"
        return 0
    fi
    install_packages
    check_hostname
    write_config
    start_munge
    start_daemon slurmctld slurmctld -D -f "$dir/slurm.conf"
    start_daemon slurmd slurmd -D -f "$dir/slurm.conf"
    local i
    for i in $(seq 300); do
        node_idle && break
        sleep 0.1
    done
    if ! node_idle; then
        tail -n 20 "$dir"/log/*.out "$dir"/log/*.log >&2 || true
        stop_daemons
        die "the node did not become idle in 30 s (logs above, in $dir/log)"
    fi
    say "one-node cluster up: $(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o '%N %c cpus %t')"
    echo "export SLURM_CONF=$dir/slurm.conf"
}

# Stops the daemons whose pids start recorded, each by its pid: SIGTERM to all, then SIGKILL
# to those still there after 10 s.
stop_daemons() {
    local f pids=() i
    for f in "$dir"/slurmd.daemon.pid "$dir"/slurmctld.daemon.pid "$dir"/munged.pid; do
        [ -f "$f" ] || continue
        pids+=("$(cat "$f")")
        rm -f "$f"
    done
    [ ${#pids[@]} -eq 0 ] && return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for i in $(seq 100); do
        alive "${pids[@]}" || return 0
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# True when any of the pids is a live process (a zombie is not).
alive() {
    local pid st
    for pid in "$@"; do
        st=$(ps -o stat= -p "$pid" 2>/dev/null) || continue
        case "$st" in Z*) ;; *) return 0 ;; esac
    done
    return 1
}

# True when the slurmctld this script started runs and the node is idle. (Without a
# controller every client retries for ~10 s: the pid is looked at first.)
running() {
    [ -f "$dir/slurmctld.daemon.pid" ] && alive "$(cat "$dir/slurmctld.daemon.pid")" &&
        node_idle
}

case "$cmd" in
start) start ;;
stop)
    stop_daemons
    say "stopped the daemons of $dir"
    ;;
status)
    if running; then
        SLURM_CONF="$dir/slurm.conf" sinfo -N
        exit 0
    fi
    say "no cluster answers in $dir"
    exit 1
    ;;
env) echo "export SLURM_CONF=$dir/slurm.conf" ;;
*)
    echo "usage: $0 start|stop|status|env [DIR]" >&2
    exit 2
    ;;
esac
