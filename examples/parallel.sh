#!/usr/bin/env bash
# Fetch one URL list as N shards side by side with GNU parallel, each shard resumable, then merge
# the shards' records back into input order.
#
#   examples/parallel.sh urls.txt 4            # 4 shards on this machine
#   SSHLOGIN=host1,host2 examples/parallel.sh urls.txt 8   # 8 shards over two machines
#
# Run it again after a crash or a kill: each shard carries on from its own shard-K.jsonl. With
# SSHLOGIN, every host needs fetchcli and the list at the same path, and the shard files are
# fetched back (--return) before merging.
set -euo pipefail
list=${1:?usage: parallel.sh URLS.txt [SHARDS]}
shards=${2:-4}
remote=()
if [ -n "${SSHLOGIN:-}" ]; then
    remote=(--sshlogin "$SSHLOGIN" --return 'shard-{}.jsonl' --cleanup)
fi
# fetchcli exits 1 when some URL failed: that is in the records, not a reason to stop the others.
seq 1 "$shards" | parallel --will-cite "${remote[@]}" --halt never \
    "fetchcli -q --shard {}/$shards --resume shard-{}.jsonl -i $list || [ \$? -eq 1 ]"
# Every record starts with {"schema_version": 1, "index": N, ...}: sort on N.
sort -t, -k2.11,2n -s shard-*.jsonl > all.jsonl
echo "all.jsonl: $(wc -l < all.jsonl) records from $shards shards" >&2
