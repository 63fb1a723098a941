#!/usr/bin/env bash
# Start a real one-node Slurm cluster on this (Debian, root) machine for tests/test_slurm.py:
# Debian's slurmctld, slurmd and munge, a node named localhost with a fake GPU (gres) so that rules
# asking for `gpu: 1` submit, and no accounting daemon (status via squeue, MinJobAge keeps finished
# jobs visible). Recipe and pitfalls: shared/notes/slurm-ci.md. Idempotent; prints "ready" when up.
set -euo pipefail
state=/tmp/slurm-ci
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
mkdir -p /etc/slurm "$state"/{spool,state,log} /run/munge
# a machine's own Slurm config is kept aside and put back by tests/slurm/stop_cluster.sh
for file in slurm.conf gres.conf; do
  if [ -f "/etc/slurm/$file" ] && [ ! -f "/etc/slurm/$file.genlab-backup" ] && [ ! -f "$state/ours" ]; then
    cp -p "/etc/slurm/$file" "/etc/slurm/$file.genlab-backup"
  fi
done
touch "$state/ours"
chown munge:munge /run/munge && chmod 0755 /run/munge
mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
cpus=$(nproc)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmdSpoolDir=$state/spool
StateSaveLocation=$state/state
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/log/jobcomp.txt
GresTypes=gpu
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=localhost Name=gpu File=/dev/null" > /etc/slurm/gres.conf
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd -N localhost
for _ in $(seq 60); do
  if sinfo -h -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then echo ready; exit 0; fi
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm did not come up:" >&2
sinfo >&2 || true
tail -20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
exit 1
