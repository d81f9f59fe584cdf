#!/usr/bin/env bash
# One lent-GPU session in one command (about 9 minutes): the Open Neuromorphic workload against
# the anchors, the Triton kernel sweep (and, with MEMORY=1, CUDA memory), then the CUDA tests
# beside the Diehl & Cook GPU epoch. The Fashion-MNIST BPTT runs of docs/results.md are in its history.
# Run from the repo root on the GPU machine (its own python3 with torch + Triton), with
#   .whl/     snntorch, norse, spikingjelly (+ nir, nirtorch, loguru, scienceplots) wheels
#   .fmnist/  the four Fashion-MNIST .gz files
# Everything lands in $OUT (default ./gpu-out): logs, JSON and Markdown tables, training reports.
# Each stage has its own time limit and a failing stage does not stop the others.
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT/res"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl >"$OUT/res/pip.log" 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv \
    >"$OUT/res/gpu.txt" 2>&1
python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >>"$OUT/res/gpu.txt"

pack() {  # what has landed so far, in one file ($OUT returns at most 8); atomic: stages overlap
    tar -czf "$OUT/.results.$BASHPID.tgz" --exclude='checkpoint*.pt' -C "$OUT" res 2>/dev/null
    mv -f "$OUT/.results.$BASHPID.tgz" "$OUT/results.tgz"
}

stage() {  # stage NAME SECONDS COMMAND...: run with a limit, log, note the exit status, pack
    local name=$1 limit=$2 t0=$SECONDS
    shift 2
    timeout "$limit" bash -c '"$@"' _ "$@" >"$OUT/res/$name.log" 2>&1  # "$@" may be a function
    echo "$name rc=$? $((SECONDS - t0)) s" >>"$OUT/res/stages.txt"
    pack
}

# timings first, with the GPU to themselves
stage bench 170 python3 bench/bench_neurons.py --device cuda --sizes 4096 8192 16384 \
    --repeats "${REPEATS:-5}" --out "$OUT/res/neurons-cuda.json"
stage sweep 90 python3 bench/bench_neurons.py --device cuda --kernel-sweep --sizes 4096 8192 16384 \
    --repeats 5 --out "$OUT/res/kernels.json"
[ -n "${MEMORY:-}" ] && stage memory 40 python3 bench/bench_neurons.py --device cuda --memory \
    --memory-steps 250 500 1000 2000 --out "$OUT/res/memory-cuda.json"

# The Diehl & Cook GPU epoch (issue 6: 60,000 Fashion-MNIST images, 6,400 neurons, exact online
# mode) side by side with the CUDA tests: the tests mostly compile kernels on the CPUs, the epoch
# keeps 50 SMs busy; its training stops at DC_BUDGET seconds (then a shorter evaluation).
# DC_RULE=triplet or calcium trains with those rules instead (the kernel takes all three).
DC_BUDGET=${DC_BUDGET:-300}
stage dc6400 "${DC_LIMIT:-390}" python3 -m hebbtorch.cli.main unsupervised --rule "${DC_RULE:-dc}" \
    --neurons 6400 --dataset fashion-mnist --data-root .fmnist --images 60000 --label-images 5000 \
    --test-images 5000 --eval-batch 1 --update-interval 10000 --checkpoint-every 10000 \
    --device cuda --time-budget "$DC_BUDGET" --out "$OUT/res/dc6400" &
stage tests 300 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_diehl_cook_cuda.py \
    tests/test_kernels_cuda.py tests/test_precision.py
wait
cat "$OUT/res/stages.txt"
tail -3 "$OUT/res/tests.log"
tail -c 600 "$OUT/res/dc6400.log"
