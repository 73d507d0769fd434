#!/usr/bin/env bash
# One prepared GPU check, run from the repository root.  Its parts:
#   tests       the suite's device tests (tests/engine/test_devices.py: every task with a host-memory bank,
#               on CPU and CUDA; the host-bank read of tests/test_functional.py), pytest on the machine;
#   throughput  CE vs SAT training-step throughput, ResNet-18 and ResNet-34, CIFAR-10, batch 256, bf16;
#               the SAT overhead ratio (benchmarks/speed/step_throughput.py);
#   noise       40%-uniform-noise CIFAR-10, ResNet-18, 15 epochs: CE, SAT (E_s 5) and SAT auto, test
#               accuracy and wall time per epoch, the noisy-validation pick (a 5% split);
#   hostbank    SAT with the bank in pinned host memory (bf16), a path CPU tests cannot reach;
#   ssl         SAT-SSL pretraining (ResNet-18, bf16 autocast, views on the GPU), 2 epochs on 10k images;
#   selective   a slice of the paper's selective regime: VGG-16-BN, SAT with the abstain class (from epoch
#               10 of 30, cosine learning rate; the paper runs 150 of 300, step decay) against Softmax
#               Response (CE), then `sat selective` on both: AURC, AUGRC, selective error at the paper's coverages;
#   robust      a slice of the paper's adversarial regime: WRN-34-10, TRADES and TRADES+SAT (PGD-10
#               training, E_s 1 of 2 epochs) on 10k images, PGD-20 on 1,000 test images;
#   long        the noise regime over 40 epochs: CE, SAT (E_s 12, the paper's 30%) and SAT auto.
# Each part runs in its own process, so one that fails is reported and the others still run; the exit
# status is 1 if any failed.  Results land in $OUT (default runs/gpu-check): JSON, run folders, log.txt.
#   bash benchmarks/gpu_check.sh              # every part, on the GPU machine
#   bash benchmarks/gpu_check.sh --cpu-smoke  # the same steps, tiny, on CPU (what the test suite runs)
#   PARTS=noise,long bash benchmarks/gpu_check.sh   # some parts
# On one H200 (2026-12-04) the parts then present took about 6.5 minutes together on a 16,000 / 2,000 image
# CIFAR-10 subset, which `python -m benchmarks.gpu_subset` writes to .gpu/cifar10_sub.npz (51 MB: the full
# file is too large to travel to a lent device).  With the parts added since (tests, the 30-epoch selective
# slice, the fixed-E_s long run) expect about 8.5 minutes: one device call, with little to spare.  The
# call that produced docs/benchmarks.md §8d:
#   export PYTHONPATH=$PWD/src PYTHON=python3 SAT_CIFAR=.gpu/cifar10_sub.npz; D=$OUT
#   OUT=runs/gpu-check timeout 540 bash benchmarks/gpu_check.sh; tar czf $D/gpu_check.tgz --exclude='*.pt' runs/gpu-check
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu-check}"
PY="${PYTHON:-python}"
DATA="${SAT_CIFAR:-../shared/data/cifar10_from_jpeg.npz}"
mkdir -p "$OUT"
PARTS="${PARTS:-tests,throughput,noise,hostbank,ssl,selective,robust,long}"
if [[ "${1:-}" == "--cpu-smoke" ]]; then
  TESTS="tests/engine/test_devices.py::test_attach_in_a_plain_loop_with_a_host_bank"     # the suite runs the rest
  DEVICE=cpu; MODELS=resnet18; WIDTH=8; BATCH=16; STEPS=2; WARMUP=1; EPOCHS=2; ES=1; SUBSET=256; TESTSUB=256
  LONG_EPOCHS=3; LONG_ES=1; SSLSUB=64; KNN=8
  SEL_WIDTH=4; SEL_EPOCHS=2; SEL_ES=1; SEL_SUB=256; SEL_VAL=50
  ADV_WIDTH=1; ADV_SUB=64; ADV_TEST=32; ADV_STEPS=2; ADV_TEST_STEPS=2; ADV_EVAL=32
else
  TESTS="tests/engine/test_devices.py tests/test_functional.py"
  DEVICE=cuda; MODELS=resnet18,resnet34; WIDTH=0; BATCH=256; STEPS=60; WARMUP=15; EPOCHS=15; ES=5; SUBSET=0; TESTSUB=0
  LONG_EPOCHS=40; LONG_ES=12; SSLSUB=10000; KNN=200
  # 1,000 test images calibrate `sat selective`'s thresholds; the rest are scored (a subset's test split may hold 2,000)
  SEL_WIDTH=0; SEL_EPOCHS=30; SEL_ES=10; SEL_SUB=0; SEL_VAL=1000
  ADV_WIDTH=0; ADV_SUB=10000; ADV_TEST=1000; ADV_STEPS=10; ADV_TEST_STEPS=20; ADV_EVAL=500
fi
if [[ -z "${GPU_CHECK_PART:-}" ]]; then        # the driver: each part in a process of its own
  for part in ${PARTS//,/ }; do
    case "$part" in tests|throughput|noise|hostbank|ssl|selective|robust|long) ;;
      *) echo "gpu_check.sh: unknown part '$part' in PARTS (tests, throughput, noise, hostbank, ssl, selective, robust," \
              "long)" >&2
         exit 2 ;;
    esac
  done
  if [[ "$DEVICE" == cuda ]]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device; use --cpu-smoke')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
  fi
  start=$(date +%s)
  echo "== parts: $PARTS ($DEVICE)" | tee "$OUT/log.txt"
  failed=()
  for part in ${PARTS//,/ }; do
    GPU_CHECK_PART="$part" bash "$0" "$@" || { failed+=("$part"); echo "== part $part FAILED" | tee -a "$OUT/log.txt"; }
  done
  echo "== done in $(( $(date +%s) - start )) s; results in $OUT" | tee -a "$OUT/log.txt"
  if (( ${#failed[@]} )); then echo "== failed parts: ${failed[*]}" | tee -a "$OUT/log.txt"; exit 1; fi
  exit 0
fi
want() { [[ "$GPU_CHECK_PART" == "$1" ]]; }
if want tests; then
  echo "== the suite's device tests ($DEVICE)" | tee -a "$OUT/log.txt"
  # shellcheck disable=SC2086  # TESTS is a list of paths
  "$PY" -m pytest -q -p no:cacheprovider -rs $TESTS 2>&1 | tail -n 15 | tee -a "$OUT/log.txt"
fi
if want throughput; then
echo "== step throughput ($DEVICE)" | tee -a "$OUT/log.txt"
"$PY" -m benchmarks.speed.step_throughput --data "$DATA" --device "$DEVICE" --models "$MODELS" --width "$WIDTH" \
  --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --out "$OUT/step_throughput.json" | tee -a "$OUT/log.txt"
fi
# One noisy-label run: $1 folder name, $2 loss, $3 start epoch, $4 epochs.  A 5% noisy validation split
# (the data's own labels) records the epoch CE would be picked at without clean labels.
noisy_run() {
  echo "== 40% uniform noise, ResNet-18, $1 (loss $2, E_s $3), $4 epochs" | tee -a "$OUT/log.txt"
  rm -rf "$OUT/$1"
  "$PY" -m selfadaptive train --config paper-cifar10-resnet34-u40-sat --out "$OUT/$1" --quiet \
    data.name=npz data.root="$DATA" data.download=false data.subset="$SUBSET" data.test_subset="$TESTSUB" model.name=resnet18 \
    model.base_width="$WIDTH" loss.name="$2" loss.start_epoch="$3" optim.epochs="$4" data.val_fraction=0.05 \
    data.batch_size="$BATCH" device="$DEVICE" log.progress=false
  "$PY" - "$OUT/$1/metrics.jsonl" "$OUT/$1/summary.json" <<'PYEOF' | tee -a "$OUT/log.txt"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    val = f"  noisy val {100 * r['val_acc_noisy']:.2f}%" if "val_acc_noisy" in r else ""
    print(f"epoch {r['epoch']:>3}  {r['time_s']:7.1f} s  test {100 * r['test_acc']:.2f}%{val}")
s = json.load(open(sys.argv[2]))
print("summary:", {k: s[k] for k in ("start_epoch_chosen", "selected_epoch", "test_acc_at_selected", "detection_auroc") if k in s})
PYEOF
}
if want noise; then
  noisy_run u40-sat sat "$ES" "$EPOCHS"
  noisy_run u40-ce ce "$ES" "$EPOCHS"
  noisy_run u40-auto sat auto "$EPOCHS"
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
    model.base_width="$SEL_WIDTH" optim.epochs="$SEL_EPOCHS" optim.schedule=cosine loss.start_epoch="$SEL_ES" \
    device="$DEVICE" log.progress=false
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
if want long; then
# A longer budget, in which CE with crops and flips may start to memorise the 40% wrong labels.
  noisy_run long-ce ce "$LONG_ES" "$LONG_EPOCHS"
  noisy_run long-sat sat "$LONG_ES" "$LONG_EPOCHS"
  noisy_run long-auto sat auto "$LONG_EPOCHS"
fi
