#!/bin/bash
# One experiment trained data-parallel across the nodes of a SLURM allocation (multi-node DDP).
#
#   sbatch examples/cluster/slurm-ddp.sh examples/metaformer-digits.yaml [--set trainer.epochs=30 ...]
#
# SLURM starts `forwardkit run` once per node; each gets its node rank from SLURM_NODEID and starts
# --nproc training processes (one per GPU on GPU nodes, else a few sharing the cores). The first node is
# the master: its address and a free port are the rendezvous, and it alone writes the run folder.
# See docs/cluster.md ("Runs on a cluster").
#SBATCH --job-name=forwardkit-ddp
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
#SBATCH --output=forwardkit-ddp-%j.log
set -euo pipefail

# shellcheck disable=SC1091
source "${VENV:-$HOME/forwardkit/.venv}/bin/activate"

experiment=${1:?give the experiment file}
shift
master=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
port=${MASTER_PORT:-29500}
nproc=${NPROC_PER_NODE:-1}
run_dir=${RUN_DIR:-runs/ddp-$SLURM_JOB_ID}

# SLURM_NODEID is expanded by each task, on its own node (hence the single quotes).
srun --ntasks-per-node=1 bash -c 'exec forwardkit run "$0" --run-dir "$1" --nnodes "$SLURM_NNODES" \
    --node-rank "$SLURM_NODEID" --nproc "$2" --master-addr "$3" --master-port "$4" "${@:5}"' \
    "$experiment" "$run_dir" "$nproc" "$master" "$port" "$@"
