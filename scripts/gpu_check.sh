#!/usr/bin/env bash
# GPU check: does the harness use a GPU well? In under 8 minutes on one GPU it runs
#   1. the smoke grid (20 cells, 160 simulated patients) with --device cuda, and
#   2. one epoch of the 2D ResNet-152 on 512-px images (mi task, ~2,000 simulated ECGs, bf16, channels_last),
# then prints per cell: training ECG/s, training wall s, GPU s (CUDA events), peak GPU memory
# (torch.cuda.max_memory_allocated) and the harness overhead (cell wall time minus training). ECG/s counts the
# training split x epochs run; af_survival trains on one ECG per patient per epoch, so its figure is an upper bound.
#
#   scripts/gpu_check.sh                 # on the GPU
#   scripts/gpu_check.sh --device cpu    # dry run at tiny sizes (2 smoke cells, a ResNet-18-depth twin on 64-px
#                                        # images, 30 patients): checks the script end to end on any machine
# Options: --results DIR (default: a new temporary folder; its cache/ is reused when given again).
# Python: $BENCH_PYTHON, else the project's virtual environment (scripts/venv.sh).
# GPU columns read "n/a (cpu)" on a CPU run: GPU figures are only ever measured, never estimated.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
device=cuda
results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (use --device cuda|cpu, --results DIR)" >&2; exit 2 ;;
  esac
done
case "$device" in
  cuda|cpu) ;;
  *) echo "gpu_check.sh: --device must be cuda or cpu, not $device" >&2; exit 2 ;;
esac
py=${BENCH_PYTHON:-$(scripts/venv.sh)}
results=${results:-$(mktemp -d -t gpu-check-XXXXXX)}
mkdir -p "$results"

if [ "$device" = cuda ]; then
  smoke_args=()
  resnet_source="synthetic:1050,seed=3"  # ~2,000 ECGs
  resnet_rep='name = "image"
label = "image@512"
params = { width = 512 }'
  resnet_model='name = "resnet2d"
params = { depth = 152, width = 1.0 }'
else
  smoke_args=(--source "synthetic:30,seed=11" --max-cells 2)
  resnet_source="synthetic:30,seed=11"
  resnet_rep='name = "image"
label = "image@64"
params = { width = 64 }'
  resnet_model='name = "resnet2d"
label = "resnet2d-18-x0.25"
params = { depth = 18, width = 0.25 }'
fi

cat > "$results/gpu_check_resnet.toml" <<EOF
# written by scripts/gpu_check.sh: one epoch of the 2D ResNet on images, for ECG/s and GPU memory
name = "gpu-check-resnet"
source = "$resnet_source"
seeds = [0]
[train]
epochs = 1
batch_size = 32
eval_batch_size = 64
patience = 0
amp = true
channels_last = true
[split]
val = 0.15
test = 0.2
[eval]
n_boot = 50
gradcam_ecgs = 0
[[tasks]]
name = "mi"
[[representations]]
$resnet_rep
[[models]]
$resnet_model
EOF

start=$SECONDS
status=0
"$py" -m bench run --grid smoke --device "$device" --results "$results" --quiet "${smoke_args[@]}" || status=$?
"$py" -m bench run --grid "$results/gpu_check_resnet.toml" --device "$device" --results "$results" --quiet \
  || status=$?

"$py" - "$results" <<'EOF'
"""Per-cell compute of the two experiments, from their MLflow runs."""
import sys
from pathlib import Path

from bench.harness.driver import print_table
from bench.harness.tracking import client_for, default_tracking_uri

client = client_for(default_tracking_uri(Path(sys.argv[1])))
rows = []
for name in ("repbench-smoke", "repbench-gpu-check-resnet"):
    exp = client.get_experiment_by_name(name)
    for run in client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"]) if exp else []:
        m = run.data.metrics
        if run.info.status != "FINISHED":
            rows.append((run.info.run_name, run.info.status, "", "", "", "", ""))
            continue
        ecgs = m.get("data/n_train", 0) * m.get("train/epochs_run", 0)
        gpu = "compute/gpu_s" in m
        rows.append((run.info.run_name, "FINISHED", f"{ecgs / m['compute/train_s']:.1f}", f"{m['compute/train_s']:.1f}",
                     f"{m['compute/gpu_s']:.1f}" if gpu else "n/a (cpu)",
                     f"{m['compute/peak_gpu_mb']:.0f}" if gpu else "n/a (cpu)",
                     f"{m.get('compute/overhead_s', float('nan')):.2f}"))
print()
print_table(["cell", "status", "train ECG/s", "train s", "GPU s", "peak GPU MB", "overhead s"], rows)
EOF
echo
echo "gpu_check: device $device, $((SECONDS - start)) s, results in $results"
exit $status
