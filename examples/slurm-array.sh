#!/usr/bin/env bash
# A Slurm job array: 8 tasks, each fetching its shard of urls.txt. --shard auto reads
# SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT; --resume makes a requeued
# task carry on where it died.
#
#   sbatch examples/slurm-array.sh            # then: sort -t, -k2.11,2n -s shard-*.jsonl > all.jsonl
#SBATCH --job-name=fetchcli
#SBATCH --array=1-8
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --output=fetchcli-%A_%a.log
set -euo pipefail
list=${URL_LIST:-urls.txt}
fetchcli -q --summary --shard auto --resume "shard-${SLURM_ARRAY_TASK_ID}.jsonl" -i "$list" || [ $? -eq 1 ]
