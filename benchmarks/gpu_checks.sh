#!/usr/bin/env bash
# The GPU checks in one run (a CUDA machine; see docs/benchmarks.md for the figures it gave):
#   1. pytest -m gpu (tests/test_gpu.py and the other CUDA tests);
#   2. model_bench.py on cuda (reference way vs dvos's Predictor, 512^2 and 1024^2, one training step);
#   3. predict_bench.py on cuda (today's plain path vs the optimised path, end to end);
#   4. `dvos demo --device cuda`, timed;
#   5. accuracy_bench.py on cuda for the four degraded sets, in parallel, with STEPS_SCALE x the default training.
# Everything lands in $OUT (default ./gpu_results): checks.log, model_bench.json, predict_bench.json, demo.log and
# one acc_<set>.json per set. DEADLINE_S (default 570) bounds the whole run: the accuracy runs get what is left;
# DEMO_TIMEOUT (default 240 s) bounds the demo.
#
#     OUT=gpu_results bash benchmarks/gpu_checks.sh
set -u
OUT=${OUT:-gpu_results}
DEADLINE_S=${DEADLINE_S:-570}
STEPS_SCALE=${STEPS_SCALE:-2}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-240}
PY=${PY:-python3}
TESTDATA=${DVOS_TESTDATA:-.cache/testdata}
DEGRADED_SETS="nuclei-slow-degraded nuclei-fast-degraded conifer-slow-degraded conifer-fast-degraded"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
start=$(date +%s)
log() { echo "[$(($(date +%s) - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg)] $*" | tee -a "$OUT/checks.log"; }
left() { echo $((DEADLINE_S - ($(date +%s) - start))); }

log "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
log "$($PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())')"
log "cpus: $(nproc)"

log "1. pytest -m gpu"
timeout 150 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py tests/test_infer_predict.py 2>&1 | tail -15 >>"$OUT/checks.log"

log "2. model_bench (cuda)"
timeout 120 $PY benchmarks/model_bench.py --device cuda --sizes 512 1024 --repeats 20 --rounds 1 --plain --train \
    --train-size 512 --train-batch 8 --out "$OUT/model_bench.json" 2>>"$OUT/checks.log" >/dev/null

log "3. predict_bench (cuda)"
timeout 150 $PY benchmarks/predict_bench.py --device cuda --out "$OUT/predict_bench.json" 2>>"$OUT/checks.log" >/dev/null

log "4. dvos demo --device cuda"
t0=$(date +%s)
timeout "$DEMO_TIMEOUT" $PY -c "import sys; from dvos_core.cli import main; sys.exit(main())" demo --device cuda \
    --out /tmp/dvos_demo_gpu >"$OUT/demo.log" 2>&1
log "demo: rc $? after $(($(date +%s) - t0)) s"

budget=$(($(left) - 15))
log "5. accuracy_bench (cuda, steps x$STEPS_SCALE, four degraded sets in parallel, ${budget} s left)"
if [ "$budget" -gt 60 ]; then
    for set in $DEGRADED_SETS; do
        timeout "$budget" $PY benchmarks/accuracy_bench.py --device cuda --loader-workers 3 \
            --steps-scale "$STEPS_SCALE" --sets "$set" --models image image_ft context context_query_only \
            --testdata "$TESTDATA" --workdir /tmp/acc_gpu --out "$OUT/acc_$set.json" >/dev/null 2>"/tmp/acc_$set.log" &
    done
    wait
    for set in $DEGRADED_SETS; do
        log "accuracy $set:"
        tail -4 "/tmp/acc_$set.log" >>"$OUT/checks.log"
    done
fi
log "done"
