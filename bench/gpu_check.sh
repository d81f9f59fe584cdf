#!/usr/bin/env bash
# One lent-GPU session in one command: the CUDA tests, the Triton kernel sweep, the Open
# Neuromorphic workload against the anchors, CUDA memory, and the Fashion-MNIST GPU training runs.
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

train() {  # train NAME ARGS...: fused kernels first; if they fail, resume on the reference loop
    local name=$1
    shift
    python3 -m hebbtorch.cli.main train "$@" --device cuda --quiet --out "$OUT/res/$name" \
        || HEBBTORCH_BACKEND=reference python3 -m hebbtorch.cli.main train "$@" --device cuda \
            --quiet --out "$OUT/res/$name" --resume
}
export -f train
export OUT

# Fashion-MNIST training runs first, side by side in the background (small nets are
# launch-bound, so they share the GPU well; the tests meanwhile compile kernels on the CPUs)
FM="--dataset fashion-mnist --data-root .fmnist --optimizer adam --lr 1e-3 --schedule cosine \
    --batch-size 128"
TL=${TRAIN_LIMIT:-260}
stage train-conv-wide "$TL" train conv-wide $FM --model lif-conv --batch-norm --channels 64 128 \
    --hidden 512 --steps 8 --dropout 0.3 --epochs 25 &
stage train-conv "$TL" train conv $FM --model lif-conv --batch-norm --steps 8 --dropout 0.2 \
    --epochs 30 &
stage train-mlp "$TL" train mlp $FM --model lif-mlp --hidden 1000 --hidden-layers 2 --steps 10 \
    --dropout 0.2 --epochs 30 &
stage train-mlp-wide "$TL" train mlp-wide $FM --model lif-mlp --hidden 1500 --hidden-layers 2 \
    --steps 10 --dropout 0.3 --epochs 30 &
stage tests 200 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_kernels_cuda.py \
    tests/test_precision.py
wait

# timings last, with the GPU to themselves
stage sweep 70 python3 bench/bench_neurons.py --device cuda --kernel-sweep --sizes 4096 16384 \
    --repeats 5 --out "$OUT/res/kernels.json"
stage bench 150 python3 bench/bench_neurons.py --device cuda --sizes 4096 8192 16384 \
    --repeats 3 --out "$OUT/res/neurons-cuda.json"
stage memory 40 python3 bench/bench_neurons.py --device cuda --memory \
    --memory-steps 250 500 1000 2000 --out "$OUT/res/memory-cuda.json"
cat "$OUT/res/stages.txt"
tail -3 "$OUT/res/tests.log"
grep -h "test accuracy" "$OUT"/res/train-*.log
