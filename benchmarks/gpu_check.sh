#!/usr/bin/env bash
# One prepared GPU check (at most ~8 minutes on one H100), run from the repository root:
#   1. CE vs SAT training-step throughput, ResNet-18 and ResNet-34, CIFAR-10, batch 256, bf16;
#      the SAT overhead ratio (benchmarks/speed/step_throughput.py);
#   2. a short 40%-uniform-noise CIFAR-10 run, SAT and CE, test accuracy against wall time
#      (metrics.jsonl has test_acc and time_s per epoch);
#   3. SAT with the bank in pinned host memory (bf16), the path CPU tests cannot reach;
#   4. SAT-SSL pretraining (ResNet-18, bf16 autocast, views on the GPU) for 2 epochs on a 10k
#      subset: seconds per epoch and the kNN probe;
#   5. a slice of the paper's selective regime: VGG-16-BN on CIFAR-10, SAT with the abstain class
#      (pretraining 5 of 15 epochs; the paper runs 150 of 300) against Softmax Response (CE), then
#      `sat selective` on both: AURC, AUGRC, selective error at the paper's coverages;
#   6. a slice of the paper's adversarial regime: WRN-34-10, TRADES and TRADES+SAT (PGD-10
#      training, E_s 1 of 2 epochs) on a 10k CIFAR-10 subset, PGD-20 on 1,000 test images.
# Parts 1-4 were sized at about 8 minutes on one H100 and parts 5-6 at about 6 (estimates: no part
# has run on a GPU yet). One device call is limited to 10 minutes, so run them as two calls:
#   PARTS=throughput,noise,hostbank,ssl bash benchmarks/gpu_check.sh
#   PARTS=selective,robust bash benchmarks/gpu_check.sh
# Results land in $OUT (default runs/gpu-check): JSON, run folders and a log.
#   bash benchmarks/gpu_check.sh              # every part, on the GPU machine
#   bash benchmarks/gpu_check.sh --cpu-smoke  # the same steps, tiny, on CPU (what the test suite runs)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu-check}"
PY="${PYTHON:-python}"
DATA="${SAT_CIFAR:-../shared/data/cifar10_from_jpeg.npz}"
mkdir -p "$OUT"
PARTS="${PARTS:-throughput,noise,hostbank,ssl,selective,robust}"
want() { [[ ",$PARTS," == *",$1,"* ]]; }
if [[ "${1:-}" == "--cpu-smoke" ]]; then
  DEVICE=cpu; MODELS=resnet18; WIDTH=8; BATCH=16; STEPS=2; WARMUP=1; EPOCHS=2; ES=1; SUBSET=256; TESTSUB=256
  SSLSUB=64; KNN=8
  SEL_WIDTH=4; SEL_EPOCHS=2; SEL_ES=1; SEL_SUB=256; SEL_VAL=50
  ADV_WIDTH=1; ADV_SUB=64; ADV_TEST=32; ADV_STEPS=2; ADV_TEST_STEPS=2; ADV_EVAL=32
else
  DEVICE=cuda; MODELS=resnet18,resnet34; WIDTH=0; BATCH=256; STEPS=60; WARMUP=15; EPOCHS=15; ES=5; SUBSET=0; TESTSUB=0
  SSLSUB=10000; KNN=200
  SEL_WIDTH=0; SEL_EPOCHS=15; SEL_ES=5; SEL_SUB=0; SEL_VAL=2000
  ADV_WIDTH=0; ADV_SUB=10000; ADV_TEST=1000; ADV_STEPS=10; ADV_TEST_STEPS=20; ADV_EVAL=500
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device; use --cpu-smoke')"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
fi
start=$(date +%s)
echo "== parts: $PARTS ($DEVICE)" | tee "$OUT/log.txt"
if want throughput; then
echo "== step throughput ($DEVICE)" | tee -a "$OUT/log.txt"
"$PY" -m benchmarks.speed.step_throughput --data "$DATA" --device "$DEVICE" --models "$MODELS" --width "$WIDTH" \
  --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --out "$OUT/step_throughput.json" | tee -a "$OUT/log.txt"
fi
if want noise; then
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
fi
if want hostbank; then
echo "== SAT with its bank in pinned host memory (loss.bank_device=cpu, bf16 storage), 3 epochs" | tee -a "$OUT/log.txt"
rm -rf "$OUT/u40-sat-hostbank"
"$PY" -m selfadaptive train --config paper-cifar10-resnet34-u40-sat --out "$OUT/u40-sat-hostbank" --quiet \
  data.name=npz data.root="$DATA" data.download=false data.subset="$SUBSET" data.test_subset="$TESTSUB" \
  model.name=resnet18 model.base_width="$WIDTH" loss.start_epoch=0 loss.bank_device=cpu loss.bank_dtype=bfloat16 \
  optim.epochs=$(( EPOCHS < 3 ? EPOCHS : 3 )) data.batch_size="$BATCH" device="$DEVICE" log.progress=false
tail -n 1 "$OUT/u40-sat-hostbank/metrics.jsonl" | tee -a "$OUT/log.txt"
fi
if want ssl; then
echo "== SAT-SSL pretraining, ResNet-18, 2 epochs on $SSLSUB images" | tee -a "$OUT/log.txt"
rm -rf "$OUT/ssl-sat"
"$PY" -m selfadaptive pretrain --config cifar10-ssl-resnet18-sat --out "$OUT/ssl-sat" --quiet \
  data.name=npz data.root="$DATA" data.download=false data.subset="$SSLSUB" data.test_subset="$TESTSUB" \
  model.base_width="$WIDTH" optim.epochs=2 optim.warmup_epochs=0 loss.start_epoch=1 ssl.knn_k="$KNN" \
  ssl.monitor_size="$SSLSUB" ssl.linear_probe=false data.batch_size="$BATCH" device="$DEVICE" log.progress=false
tail -n 1 "$OUT/ssl-sat/metrics.jsonl" | tee -a "$OUT/log.txt"
fi
if want selective; then
for method in sat ce; do
  echo "== selective slice: VGG-16-BN, $method, $SEL_EPOCHS epochs (the abstain class from epoch $SEL_ES)" | tee -a "$OUT/log.txt"
  rm -rf "$OUT/selective-$method"
  "$PY" -m selfadaptive train --config "paper-selective-cifar10-vgg16-$method" --out "$OUT/selective-$method" --quiet \
    data.name=npz data.root="$DATA" data.download=false data.subset="$SEL_SUB" data.test_subset="$TESTSUB" \
    model.base_width="$SEL_WIDTH" optim.epochs="$SEL_EPOCHS" loss.start_epoch="$SEL_ES" device="$DEVICE" log.progress=false
done
"$PY" -m selfadaptive selective "$OUT/selective-sat" "$OUT/selective-ce" --val-size "$SEL_VAL" --device "$DEVICE" \
  | tee -a "$OUT/log.txt"
fi
if want robust; then
for method in trades trades-sat; do
  echo "== adversarial slice: WRN-34-10, $method, 2 epochs on $ADV_SUB images" | tee -a "$OUT/log.txt"
  rm -rf "$OUT/robust-$method"
  "$PY" -m selfadaptive train --config "paper-robust-cifar10-wrn34-10-$method" --out "$OUT/robust-$method" --quiet \
    data.name=npz data.root="$DATA" data.download=false data.subset="$ADV_SUB" data.test_subset="$ADV_TEST" \
    model.base_width="$ADV_WIDTH" optim.epochs=2 loss.start_epoch=1 adversarial.steps="$ADV_STEPS" \
    adversarial.eval_steps="$ADV_STEPS" adversarial.eval_size="$ADV_EVAL" adversarial.test_steps="$ADV_TEST_STEPS" \
    device="$DEVICE" log.progress=false
  cat "$OUT/robust-$method/robust.json" | tee -a "$OUT/log.txt"; echo | tee -a "$OUT/log.txt"
done
fi
echo "== done in $(( $(date +%s) - start )) s; results in $OUT" | tee -a "$OUT/log.txt"
