#!/usr/bin/env bash
# The GPU checks in one run (a CUDA machine; see docs/benchmarks.md for the figures it gave). CHECKS picks which run,
# in the order given (default: all, in this order):
#   tests      pytest -m gpu (tests/test_gpu.py and the other CUDA tests);
#   demo_quick `dvos demo --quick --device cuda`, timed (DEMO_QUICK_TIMEOUT, default 150 s);
#   demo_quick_w0  the same with --num-workers 0 (training data read in the main process, as on a CPU);
#   model      model_bench.py on cuda (reference way vs dvos's Predictor, 512^2 and 1024^2, one training step);
#   predict    predict_bench.py on cuda (today's plain path vs the optimised path, end to end);
#   demo       `dvos demo --device cuda`, timed (DEMO_TIMEOUT, default 240 s);
#   accuracy   accuracy_bench.py on cuda for the four degraded sets (ACC_SETS), in parallel, with STEPS_SCALE x the
#              training, filmed at UPSCALE x the sets' 128 px (default 1; 3: real-sized footage, 384 px).
# A demo that reaches its timeout first dumps the Python stacks of its process and of its data-loader workers into
# its log (faulthandler on SIGUSR1), so a stall shows where it is. Everything lands in $OUT (default ./gpu_results):
# checks.log, model_bench.json, predict_bench.json, demo_quick.log, demo_quick_w0.log, demo.log and accuracy.json
# (one entry per set).
# DEADLINE_S (default 570) bounds the whole run: the accuracy runs get what is left.
#
#     OUT=gpu_results bash benchmarks/gpu_checks.sh
#     CHECKS="tests demo_quick" bash benchmarks/gpu_checks.sh
#     CHECKS="accuracy" STEPS_SCALE=5 UPSCALE=3 ACC_SETS="nuclei-fast-degraded conifer-fast-degraded" bash benchmarks/gpu_checks.sh
#         (issue 16's open question: do the context model's references count on real-sized footage with more training)
set -u
OUT=${OUT:-gpu_results}
DEADLINE_S=${DEADLINE_S:-570}
STEPS_SCALE=${STEPS_SCALE:-2}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-240}
DEMO_QUICK_TIMEOUT=${DEMO_QUICK_TIMEOUT:-150}
DEVICE=${DEVICE:-cuda}  # cpu: try the script on a machine without a GPU
CHECKS=${CHECKS:-"tests demo_quick demo_quick_w0 model predict demo accuracy"}
PY=${PY:-python3}
TESTDATA=${DVOS_TESTDATA:-.cache/testdata}
DEGRADED_SETS=${ACC_SETS:-"nuclei-slow-degraded nuclei-fast-degraded conifer-slow-degraded conifer-fast-degraded"}
UPSCALE=${UPSCALE:-1}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
start=$(date +%s)
log() { echo "[$(($(date +%s) - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg)] $*" | tee -a "$OUT/checks.log"; }
left() { echo $((DEADLINE_S - ($(date +%s) - start))); }

log "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
log "$($PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())')"
log "cpus: $(nproc)"

# run_demo LOG TIMEOUT ARGS...: the dvos demo, timed; 10 s before TIMEOUT every process of it prints its stacks.
run_demo() {
    local logf=$1 limit=$2
    shift 2
    local t0 pid
    t0=$(date +%s)
    $PY -c "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True)
from dvos_core.cli import main; sys.exit(main())" demo "$@" >"$logf" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ $(($(date +%s) - t0)) -lt $((limit - 10)) ]; do sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "=== stacks after $(($(date +%s) - t0)) s (main process $pid and its children)" >>"$logf"
        pkill -USR1 -P "$pid"
        kill -USR1 "$pid"
        sleep 5
        pkill -KILL -P "$pid"
        kill -KILL "$pid"
    fi
    wait "$pid"
    log "demo $*: rc $? after $(($(date +%s) - t0)) s; stages: $(grep -o '^\[[0-9]*/[0-9]*\] .*s in)' "$logf" | tr '\n' ';')"
}

for check in $CHECKS; do
    case $check in
    tests)
        log "pytest -m gpu"
        timeout 150 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py tests/test_infer_predict.py 2>&1 |
            tail -15 >>"$OUT/checks.log"
        ;;
    demo_quick)
        log "dvos demo --quick --device $DEVICE"
        run_demo "$OUT/demo_quick.log" "$DEMO_QUICK_TIMEOUT" --quick --device $DEVICE --out /tmp/dvos_demo_quick_gpu
        ;;
    demo_quick_w0)
        log "dvos demo --quick --device $DEVICE --num-workers 0"
        run_demo "$OUT/demo_quick_w0.log" "$DEMO_QUICK_TIMEOUT" --quick --device $DEVICE --num-workers 0 \
            --out /tmp/dvos_demo_quick_w0_gpu
        ;;
    model)
        log "model_bench ($DEVICE)"
        timeout 120 $PY benchmarks/model_bench.py --device $DEVICE --sizes 512 1024 --repeats 20 --rounds 1 --plain \
            --train --train-size 512 --train-batch 8 --out "$OUT/model_bench.json" 2>>"$OUT/checks.log" >/dev/null
        ;;
    predict)
        log "predict_bench ($DEVICE)"
        timeout 150 $PY benchmarks/predict_bench.py --device $DEVICE --out "$OUT/predict_bench.json" \
            2>>"$OUT/checks.log" >/dev/null
        ;;
    demo)
        log "dvos demo --device $DEVICE"
        run_demo "$OUT/demo.log" "$DEMO_TIMEOUT" --device $DEVICE --out /tmp/dvos_demo_gpu
        ;;
    accuracy)
        budget=$(($(left) - 15))
        log "accuracy_bench ($DEVICE, steps x$STEPS_SCALE, upscale x$UPSCALE, $DEGRADED_SETS in parallel, ${budget} s left)"
        if [ "$budget" -gt 60 ]; then
            for set in $DEGRADED_SETS; do
                timeout "$budget" $PY benchmarks/accuracy_bench.py --device $DEVICE --loader-workers 3 \
                    --steps-scale "$STEPS_SCALE" --upscale "$UPSCALE" --sets "$set" \
                    --models image image_ft context context_query_only \
                    --testdata "$TESTDATA" --workdir /tmp/acc_gpu --out "$OUT/acc_$set.json" >/dev/null 2>"/tmp/acc_$set.log" &
            done
            wait
            for set in $DEGRADED_SETS; do
                log "accuracy $set:"
                tail -4 "/tmp/acc_$set.log" >>"$OUT/checks.log"
            done
            # one file for the four sets (the device tool brings back at most 8 files)
            $PY -c "import json, pathlib, sys; out = pathlib.Path(sys.argv[1]); parts = sorted(out.glob('acc_*.json'))
json.dump({p.stem[4:]: json.loads(p.read_text()) for p in parts}, open(out / 'accuracy.json', 'w'), indent=1)
[p.unlink() for p in parts]" "$OUT"
        fi
        ;;
    *) log "unknown check $check (tests demo_quick demo_quick_w0 model predict demo accuracy)" ;;
    esac
done
log "done"
