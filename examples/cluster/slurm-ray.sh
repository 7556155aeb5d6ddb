#!/bin/bash
# A Ray cluster on the nodes of one SLURM allocation, and a forwardkit job run on it as Ray tasks.
#
#   sbatch examples/cluster/slurm-ray.sh                                  # every reproduction, 5 seeds
#   sbatch examples/cluster/slurm-ray.sh forwardkit run --set workers=8   # any command that takes --backend
#
# The first node of the allocation runs the Ray head (and this script, so the job's driver too); every
# other node starts a Ray worker that joins it. Every node needs the same Python environment with
# forwardkit[ray] and the plugins (e.g. a virtual environment on a shared filesystem, set in VENV).
# See docs/cluster.md ("Runs on a cluster").
#SBATCH --job-name=forwardkit-ray
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --time=04:00:00
#SBATCH --output=forwardkit-ray-%j.log
# On GPU nodes, also: #SBATCH --gpus-per-task=4 (each run that trains on CUDA then asks Ray for one GPU)
set -euo pipefail

# shellcheck disable=SC1091
source "${VENV:-$HOME/forwardkit/.venv}/bin/activate"

mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
head_node=${nodes[0]}
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address | awk '{print $1}')
port=${RAY_PORT:-6379}
address="$head_ip:$port"
cpus=${SLURM_CPUS_PER_TASK:-1}
gpus=${SLURM_GPUS_PER_TASK:-0}
export RAY_ADDRESS=$address  # forwardkit's --backend ray joins $RAY_ADDRESS when no --address is given

echo "Ray head on $head_node at $address; ${#nodes[@]} nodes with $cpus CPUs and $gpus GPUs each"
srun --nodes=1 --ntasks=1 -w "$head_node" \
    ray start --head --node-ip-address="$head_ip" --port="$port" --num-cpus="$cpus" --num-gpus="$gpus" \
    --include-dashboard=false --disable-usage-stats --block &
sleep 15  # the head is up before the workers look for it
for node in "${nodes[@]:1}"; do
    srun --nodes=1 --ntasks=1 -w "$node" \
        ray start --address="$address" --num-cpus="$cpus" --num-gpus="$gpus" --disable-usage-stats --block &
done

# Wait (at most 5 minutes) until every node has joined, so that the job's first line shows them all.
python - "$address" "${#nodes[@]}" <<'PY'
import sys, time

import ray

ray.init(address=sys.argv[1], logging_level="ERROR")
wanted, deadline = int(sys.argv[2]), time.time() + 300
while (alive := sum(bool(n["Alive"]) for n in ray.nodes())) < wanted:
    if time.time() > deadline:
        sys.exit(f"only {alive} of {wanted} Ray nodes joined within 5 minutes")
    time.sleep(5)
print(f"{alive} Ray nodes joined")
PY

if [ "$#" -gt 0 ]; then
    "$@" --backend ray --address "$address"
else
    forwardkit reproduce --all --backend ray --address "$address"
fi
# The Ray processes end with the allocation (SLURM stops the srun steps when this script exits).
