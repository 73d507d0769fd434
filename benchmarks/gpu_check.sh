#!/usr/bin/env bash
# One prepared GPU check (at most ~8 minutes on one H100), run from the repository root:
#   1. CE vs SAT training-step throughput, ResNet-18 and ResNet-34, CIFAR-10, batch 256, bf16;
#      the SAT overhead ratio (benchmarks/speed/step_throughput.py);
#   2. a short 40%-uniform-noise CIFAR-10 run, SAT and CE, test accuracy against wall time
#      (metrics.jsonl has test_acc and time_s per epoch);
#   3. SAT with the bank in pinned host memory (bf16), the path CPU tests cannot reach;
#   4. SAT-SSL pretraining (ResNet-18, bf16 autocast, views on the GPU) for 2 epochs on a 10k
#      subset: seconds per epoch and the kNN probe.
# Results land in $OUT (default runs/gpu-check): JSON, run folders and a log.
#   bash benchmarks/gpu_check.sh              # on the GPU machine
#   bash benchmarks/gpu_check.sh --cpu-smoke  # the same steps, tiny, on CPU (what the test suite runs)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu-check}"
PY="${PYTHON:-python}"
DATA="${SAT_CIFAR:-../shared/data/cifar10_from_jpeg.npz}"
mkdir -p "$OUT"
if [[ "${1:-}" == "--cpu-smoke" ]]; then
  DEVICE=cpu; MODELS=resnet18; WIDTH=8; BATCH=16; STEPS=2; WARMUP=1; EPOCHS=2; ES=1; SUBSET=256; TESTSUB=256
  SSLSUB=64; KNN=8
else
  DEVICE=cuda; MODELS=resnet18,resnet34; WIDTH=0; BATCH=256; STEPS=60; WARMUP=15; EPOCHS=15; ES=5; SUBSET=0; TESTSUB=0
  SSLSUB=10000; KNN=200
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device; use --cpu-smoke')"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
fi
start=$(date +%s)
echo "== step throughput ($DEVICE)" | tee "$OUT/log.txt"
"$PY" -m benchmarks.speed.step_throughput --data "$DATA" --device "$DEVICE" --models "$MODELS" --width "$WIDTH" \
  --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --out "$OUT/step_throughput.json" | tee -a "$OUT/log.txt"
for loss in sat ce; do
  echo "== 40% uniform noise, ResNet-18, $loss, $EPOCHS epochs" | tee -a "$OUT/log.txt"
  rm -rf "$OUT/u40-$loss"
  "$PY" -m selfadaptive train --config paper-cifar10-resnet34-u40-sat --out "$OUT/u40-$loss" --quiet \
    data.name=npz data.root="$DATA" data.download=false data.subset="$SUBSET" data.test_subset="$TESTSUB" model.name=resnet18 \
    model.base_width="$WIDTH" loss.name="$loss" loss.start_epoch="$ES" optim.epochs="$EPOCHS" \
    data.batch_size="$BATCH" device="$DEVICE" log.progress=false
  "$PY" - "$OUT/u40-$loss/metrics.jsonl" <<'PYEOF' | tee -a "$OUT/log.txt"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"epoch {r['epoch']:>3}  {r['time_s']:7.1f} s  test {100 * r['test_acc']:.2f}%")
PYEOF
done
echo "== SAT with its bank in pinned host memory (loss.bank_device=cpu, bf16 storage), 3 epochs" | tee -a "$OUT/log.txt"
rm -rf "$OUT/u40-sat-hostbank"
"$PY" -m selfadaptive train --config paper-cifar10-resnet34-u40-sat --out "$OUT/u40-sat-hostbank" --quiet \
  data.name=npz data.root="$DATA" data.download=false data.subset="$SUBSET" data.test_subset="$TESTSUB" \
  model.name=resnet18 model.base_width="$WIDTH" loss.start_epoch=0 loss.bank_device=cpu loss.bank_dtype=bfloat16 \
  optim.epochs=$(( EPOCHS < 3 ? EPOCHS : 3 )) data.batch_size="$BATCH" device="$DEVICE" log.progress=false
tail -n 1 "$OUT/u40-sat-hostbank/metrics.jsonl" | tee -a "$OUT/log.txt"
echo "== SAT-SSL pretraining, ResNet-18, 2 epochs on $SSLSUB images" | tee -a "$OUT/log.txt"
rm -rf "$OUT/ssl-sat"
"$PY" -m selfadaptive pretrain --config cifar10-ssl-resnet18-sat --out "$OUT/ssl-sat" --quiet \
  data.name=npz data.root="$DATA" data.download=false data.subset="$SSLSUB" data.test_subset="$TESTSUB" \
  model.base_width="$WIDTH" optim.epochs=2 optim.warmup_epochs=0 loss.start_epoch=1 ssl.knn_k="$KNN" \
  ssl.monitor_size="$SSLSUB" ssl.linear_probe=false data.batch_size="$BATCH" device="$DEVICE" log.progress=false
tail -n 1 "$OUT/ssl-sat/metrics.jsonl" | tee -a "$OUT/log.txt"
echo "== done in $(( $(date +%s) - start )) s; results in $OUT" | tee -a "$OUT/log.txt"
