#!/usr/bin/env bash
# Train a Cadenza model on several GPU machines without SkyPilot: run this script on every
# machine, the same way, changing only NODE_RANK. Set up each machine once first with
# examples/cloud/setup-gpu.sh (a CUDA build of torch, then `make setup`).
#
#   # on the first machine (10.0.0.1), then on the second with NODE_RANK=1:
#   NODE_RANK=0 MASTER_ADDR=10.0.0.1 NUM_NODES=2 RUN_DIR=/shared/runs/transformer-essen \
#       bash examples/cloud/torchrun-multinode.sh
#
# Required:
#   NODE_RANK      this machine's index: 0 on the machine at MASTER_ADDR, then 1, 2, ...
#   MASTER_ADDR    the address of machine 0, reachable from every machine
#   NUM_NODES      how many machines take part
#   RUN_DIR        the run folder, on a file system every machine sees (NFS, a mounted bucket):
#                  machine 0 writes it, every machine reads it to resume
# Optional:
#   GPUS_PER_NODE  GPUs this machine trains on                 [every GPU nvidia-smi lists]
#   MASTER_PORT    a free TCP port on machine 0                 [29500]
#   MODEL          lstm, transformer, polyphonic, ddsp, wavenet [transformer]
#   DATA           corpus, audio set or folder                  [essen]
#   PRESET         the model's preset                           [gpu]
#   PRECISION      32-true, bf16-mixed (Ampere or newer), 16-mixed [bf16-mixed]
#   MAX_MINUTES    time budget of the training                  [480]
#   LAUNCHER       torchrun: torchrun starts one process a GPU (Lightning reads its variables);
#                  lightning: Lightning starts them itself from MASTER_ADDR, MASTER_PORT and
#                  NODE_RANK                                    [torchrun]
#   CADENZA        the cadenza command                          [.venv/bin/cadenza]
#   TORCHRUN       the torchrun command (it comes with torch)   [.venv/bin/torchrun]
#   DRY_RUN        1: print the command this machine would run, and stop
#
# Stopped or pre-empted? Run the same command again on every machine: training resumes from
# the newest good checkpoint in RUN_DIR/checkpoints.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

fail() {
    echo "error: $*" >&2
    exit 2
}

need() {  # need NAME WHAT: stop with one line when $NAME is unset or empty
    [[ -n "${!1:-}" ]] || fail "$1 is not set: $2 (see the top of $0)"
}

need NODE_RANK "this machine's index, 0 on the machine at MASTER_ADDR"
need MASTER_ADDR "the address of machine 0"
need NUM_NODES "how many machines take part"
need RUN_DIR "the run folder, on a file system every machine sees"
MASTER_PORT=${MASTER_PORT:-29500}
MODEL=${MODEL:-transformer}
DATA=${DATA:-essen}
PRESET=${PRESET:-gpu}
PRECISION=${PRECISION:-bf16-mixed}
MAX_MINUTES=${MAX_MINUTES:-480}
LAUNCHER=${LAUNCHER:-torchrun}
CADENZA=${CADENZA:-.venv/bin/cadenza}
TORCHRUN=${TORCHRUN:-.venv/bin/torchrun}
DRY_RUN=${DRY_RUN:-0}
if [[ -z "${GPUS_PER_NODE:-}" ]]; then
    command -v nvidia-smi >/dev/null || fail "no nvidia-smi on this machine: set GPUS_PER_NODE"
    GPUS_PER_NODE=$(nvidia-smi --list-gpus | wc -l)
fi
for number in NODE_RANK NUM_NODES GPUS_PER_NODE MASTER_PORT; do
    [[ "${!number}" =~ ^[0-9]+$ ]] || fail "$number must be a whole number, got '${!number}'"
done
(( NODE_RANK < NUM_NODES )) || fail "NODE_RANK $NODE_RANK is not below NUM_NODES $NUM_NODES"
(( GPUS_PER_NODE > 0 )) || fail "GPUS_PER_NODE is 0: this recipe trains on GPUs"

train=(train "$MODEL" --data "$DATA" --out "$RUN_DIR" --preset "$PRESET"
       --accelerator gpu --devices "$GPUS_PER_NODE" --num-nodes "$NUM_NODES" --strategy ddp
       --precision "$PRECISION" --max-minutes "$MAX_MINUTES")

case "$LAUNCHER" in
    torchrun)
        # torchrun starts GPUS_PER_NODE copies of the command and sets RANK, LOCAL_RANK,
        # WORLD_SIZE and TORCHELASTIC_RUN_ID, which Lightning reads; --no-python runs the
        # cadenza command itself rather than a Python file
        command=("$TORCHRUN" --nnodes "$NUM_NODES" --nproc-per-node "$GPUS_PER_NODE"
                 --node-rank "$NODE_RANK" --master-addr "$MASTER_ADDR" --master-port "$MASTER_PORT"
                 --no-python "$CADENZA" "${train[@]}")
        ;;
    lightning)
        # Lightning's own cluster environment: it starts the processes of this machine itself
        command=(env MASTER_ADDR="$MASTER_ADDR" MASTER_PORT="$MASTER_PORT" NODE_RANK="$NODE_RANK"
                 "$CADENZA" "${train[@]}")
        ;;
    *)
        fail "LAUNCHER must be torchrun or lightning, got '$LAUNCHER'"
        ;;
esac

if [[ "$DRY_RUN" == 1 ]]; then
    printf '%q ' "${command[@]}"
    echo
    exit 0
fi
test -x "$CADENZA" || fail "$CADENZA is not there: set the machine up with examples/cloud/setup-gpu.sh"
exec "${command[@]}"
