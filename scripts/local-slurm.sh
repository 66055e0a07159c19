#!/usr/bin/env bash
# A throwaway single-node Slurm cluster on 127.0.0.1, for tests and trying the
# Slurm executor: munged + slurmctld + slurmd started directly (no systemd),
# every file of the cluster under one folder.
#
#   scripts/local-slurm.sh start    install the packages if missing, start, wait
#                                   until a probe job ran, print `export SLURM_CONF=...`
#   scripts/local-slurm.sh stop     cancel jobs, stop the daemons (safe when not running)
#   scripts/local-slurm.sh status   say whether it is up
#
# Environment:
#   RUNNER_SLURM_DIR      where config, state, sockets and logs live (default /tmp/runner-slurm)
#   RUNNER_SLURM_PORT     slurmctld port (default 6817; slurmd uses the next one)
#   RUNNER_SLURM_CPUS     advertise this many CPUs (more tasks at once than cores)
#   RUNNER_SLURM_INSTALL  0: never call apt-get (fail when the daemons are missing)
# Needs root (the daemons run as root; packages are installed with apt-get).
set -euo pipefail

DIR=${RUNNER_SLURM_DIR:-/tmp/runner-slurm}
PORT=${RUNNER_SLURM_PORT:-6817}
CONF=$DIR/slurm.conf
SOCKET=$DIR/munge/munge.socket
export SLURM_CONF=$CONF
T0=$(date +%s%N)

log() {
  local ms=$((($(date +%s%N) - T0) / 1000000))
  printf 'local-slurm %d.%03ds: %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2
}
die() {
  echo "local-slurm: $*" >&2
  exit 1
}
pid_of() { cat "$DIR/run/$1.pid" 2>/dev/null; }
# running NAME: the pid file names a live (not zombie) process called NAME
running() {
  local pid line
  pid=$(pid_of "$1") || return 1
  line=$(ps -o stat=,comm= -p "$pid" 2>/dev/null) || return 1
  [[ $line != Z* && $line == *" $1" ]]
}
stopped() { ! running "$1"; }
node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }
ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
# retry N CMD...: run CMD every 0.1 s until it succeeds, at most N times
retry() {
  local n=$1
  shift
  for _ in $(seq "$n"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}
show_logs() { tail -n 20 "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log >&2 2>/dev/null || true; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  [ "${RUNNER_SLURM_INSTALL:-1}" = 1 ] ||
    die "slurmctld/slurmd/sbatch/munged not found and RUNNER_SLURM_INSTALL=0"
  command -v apt-get >/dev/null || die "Slurm is not installed and there is no apt-get; install slurmctld, slurmd, slurm-client and munge"
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' maintainer scripts would start the daemons through init
  # scripts; forbid that for the install (we start them ourselves below).
  local guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
}

start_munge() {
  if ! running munged; then
    [ -s "$DIR/munge/munge.key" ] || mungekey --create --keyfile="$DIR/munge/munge.key"
    chmod 600 "$DIR/munge/munge.key"
    rm -f "$SOCKET" "$SOCKET.lock"
    munged --force --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
      --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
      --seed-file="$DIR/munge/munged.seed"
    log "munged started"
  fi
  munge -n -S "$SOCKET" | unmunge -S "$SOCKET" >/dev/null || die "munge does not work (see $DIR/log/munged.log)"
}

# Writes the configuration to stdout. The node line comes from `slurmd -C`,
# so that CPUs and memory match what slurmd finds (else the node is drained).
write_conf() {
  local node_line node extra=""
  node_line=$(slurmd -C | head -n1)
  node=${node_line#NodeName=}
  node=${node%% *}
  if [ -n "${RUNNER_SLURM_CPUS:-}" ]; then
    node_line="NodeName=$node CPUs=$RUNNER_SLURM_CPUS $(grep -o 'RealMemory=[0-9]*' <<<"$node_line")"
    extra="SlurmdParameters=config_overrides"
  fi
  cat <<EOF
# Written by scripts/local-slurm.sh: a single-node cluster on 127.0.0.1.
ClusterName=runner-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups, no accounting database: plain processes, job records kept in memory.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Keep finished jobs visible to scontrol/squeue for an hour.
MinJobAge=3600
KillWait=2
SlurmctldTimeout=30
SlurmdTimeout=30
$extra
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

node_ready() {
  case "$(node_state)" in
  idle | mixed | allocated) return 0 ;;
  down* | drain* | fail*)
    scontrol update NodeName="$(sinfo -h -N -o '%N' | head -n1)" State=RESUME >/dev/null 2>&1 || true
    return 1
    ;;
  *) return 1 ;;
  esac
}

probe_gone() { ! squeue -h -j "$1" 2>/dev/null | grep -q .; }

cmd_start() {
  [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root)"
  install_packages
  mkdir -p "$DIR"/{munge,state,spool,log,run}
  # Clients that are not root must reach the munge socket.
  chmod 755 "$DIR" "$DIR"/{munge,state,spool,log,run}
  start_munge

  write_conf >"$CONF.new"
  if cmp -s "$CONF.new" "$CONF"; then
    rm -f "$CONF.new"
    if running slurmctld && running slurmd && ctld_up && node_ready; then
      log "already running"
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
  else
    if running slurmctld || running slurmd; then
      log "configuration changed: restarting the Slurm daemons"
      scontrol shutdown >/dev/null 2>&1 || true
      retry 100 stopped slurmctld || true
      retry 100 stopped slurmd || true
    fi
    mv "$CONF.new" "$CONF"
  fi

  if ! running slurmctld; then
    # -c: no job state from an earlier run; -i: ignore unreadable state files
    slurmctld -c -i
    log "slurmctld started"
  fi
  retry 150 ctld_up || {
    show_logs
    die "slurmctld did not answer (log: $DIR/log/slurmctld.log)"
  }
  if ! running slurmd; then
    slurmd
    log "slurmd started"
  fi
  retry 300 node_ready || {
    show_logs
    die "the node did not become ready (state '$(node_state)')"
  }
  # slurmctld schedules its first job only a few seconds after it started: run
  # one job end to end so that the cluster is really usable when we return.
  local probe
  probe=$(sbatch --parsable -J runner-slurm-probe -o /dev/null --wrap true) || die "cannot submit a probe job"
  retry 600 probe_gone "$probe" || die "the probe job $probe did not finish within 60 s"
  scontrol show job "$probe" | grep -q 'JobState=COMPLETED' || {
    show_logs
    die "the probe job $probe did not complete: $(scontrol show job "$probe" | grep -o 'JobState=[A-Z_]*')"
  }
  log "ready ($(sinfo -h -o '%D node(s), %c CPUs, partition %P'))"
  echo "export SLURM_CONF=$CONF"
}

cmd_stop() {
  if running slurmctld; then
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  running munged && kill "$(pid_of munged)" 2>/dev/null || true
  local d
  for d in slurmd slurmctld munged; do
    retry 50 stopped "$d" || true
    if running "$d"; then
      log "$d still running: SIGTERM"
      kill "$(pid_of "$d")" 2>/dev/null || true
      sleep 1
    fi
    if running "$d"; then
      log "$d still running: SIGKILL"
      kill -9 "$(pid_of "$d")" 2>/dev/null || true
    fi
  done
  rm -f "$DIR"/run/*.pid
  log "stopped"
}

cmd_status() {
  if running slurmctld && running slurmd && ctld_up; then
    echo "up: node $(node_state); export SLURM_CONF=$CONF"
  else
    echo "down"
    return 1
  fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac
