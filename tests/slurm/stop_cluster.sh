#!/usr/bin/env bash
# Stop the one-node cluster tests/slurm/start_cluster.sh started and put back the machine's Slurm config
# as it was: with a slurm.conf left behind and no controller, every later `snakemake` call hangs ~9 s in the
# Slurm executor plugin's `scontrol show config` (it probes the cluster at startup).
set -uo pipefail
state=/tmp/slurm-ci
for daemon in slurmd slurmctld; do
  [ -f "$state/$daemon.pid" ] && kill "$(cat "$state/$daemon.pid")" 2>/dev/null
done
for file in slurm.conf gres.conf; do
  if [ -f "/etc/slurm/$file.genlab-backup" ]; then
    mv -f "/etc/slurm/$file.genlab-backup" "/etc/slurm/$file"
  else
    rm -f "/etc/slurm/$file"
  fi
done
rm -f "$state/ours"
echo stopped
