"""End to end time of the user command of issue 23 on two checkouts (a baseline and this one),
on the machine as it is and with one other busy process, with the default threads and with one:

    hebbtorch unsupervised --rule dc --neurons 100 --images 8000 --label-images 1000 \
        --test-images 1000            (mnist-5k, --eval-batch 50 by default)

Each run is a fresh process (``python -m hebbtorch.cli.main`` with the checkout first on
``PYTHONPATH``) after one untimed warm-up run per checkout (kernel builds); the runs alternate
between the checkouts so that a change in the machine's other load hits both. Records wall
seconds, training and evaluation images/s and the accuracies (from metrics.json), the load
average before each run, each checkout's commit, and prints a summary (new / baseline, busy /
quiet, default / one thread). Writes bench/results/unsupervised-e2e.json.

    python bench/bench_unsupervised_e2e.py --baseline 3d74976    # a commit: checked out in a
    python bench/bench_unsupervised_e2e.py --baseline ../main    # temporary worktree, or a folder

A quiet machine (nothing else running) gives the numbers of the issue's targets; on a shared
machine only the ratios of runs in the same invocation are meaningful (``loadavg_before``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"


def commit(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() or "unknown") + ("+changes" if dirty else "")


@contextlib.contextmanager
def checkout(baseline: str) -> Iterator[Path]:
    """``baseline`` as a folder: itself; else a commit of this repository, checked out in a
    temporary worktree (removed afterwards)."""
    if Path(baseline).is_dir():
        yield Path(baseline).resolve()
        return
    tmp = Path(tempfile.mkdtemp(prefix="hebbtorch-baseline-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tmp), baseline],
                   check=True, capture_output=True)
    try:
        yield tmp
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp)],
                       capture_output=True)


def run(repo: Path, label: str, args: list[str], threads: int | None, busy: bool,
        timed: bool = True) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    env.pop("HEBBTORCH_EVAL_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    load = os.getloadavg()
    hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hebbtorch.cli.main", "unsupervised", *args,
                            "--out", out, "--quiet"], cwd=repo, env=env, check=True)
            wall = time.perf_counter() - t0
            m = json.loads((Path(out) / "metrics.json").read_text())
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    n_eval = m["label_images"] + m["test_images"]
    return {"repo": label, "busy_process": busy,
            "OMP_NUM_THREADS": threads if threads is not None else "default",
            "loadavg_before_1_5_15min": [round(x, 2) for x in load],
            "wall_seconds": round(wall, 1), "train_seconds": round(m["train_seconds"], 1),
            "train_images_per_second": round(m["train_images_per_second"], 1),
            "eval_seconds": round(m["eval_seconds"], 1),
            "eval_images_per_second": round(n_eval / m["eval_seconds"], 1),
            "accuracy_all_activity": m["final"]["all_activity"],
            "accuracy_proportion": m["final"]["proportion"]}


def medians(runs: list[dict]) -> list[dict]:
    """Each configuration's median wall time and throughputs (the docs' table reads these)."""
    out = []
    for who in ("baseline", "this"):
        for busy in (False, True):
            for threads in ("default", 1):
                hits = [r for r in runs if r["repo"].startswith(who)
                        and r["busy_process"] == busy and r["OMP_NUM_THREADS"] == threads]
                if hits:
                    out.append({"checkout": who, "busy_process": busy, "threads": threads,
                                "runs": len(hits), **{k: statistics.median(r[k] for r in hits)
                                for k in ("wall_seconds", "train_images_per_second",
                                          "eval_images_per_second")}})
    return out


def summary(runs: list[dict]) -> list[str]:
    """One line per run, then the ratios the issue's targets are about (medians of the
    configurations' runs)."""
    lines = [f"{'checkout':<28} {'busy':<5} {'threads':<8} {'wall s':>7} {'train img/s':>12} "
             f"{'eval img/s':>11} {'acc %':>6} {'load1':>6}"]
    for r in runs:
        lines.append(f"{r['repo']:<28} {str(r['busy_process']):<5} "
                     f"{str(r['OMP_NUM_THREADS']):<8} {r['wall_seconds']:>7.1f} "
                     f"{r['train_images_per_second']:>12.1f} {r['eval_images_per_second']:>11.1f} "
                     f"{100 * r['accuracy_all_activity']:>6.1f} "
                     f"{r['loadavg_before_1_5_15min'][0]:>6.2f}")

    med = {(m["checkout"], m["busy_process"], m["threads"]): m["wall_seconds"]
           for m in medians(runs)}

    def wall(repo: str, busy: bool, threads: object = "default") -> float | None:
        return med.get((repo, busy, threads))

    for name, a, b in (("this / baseline, quiet", wall("this", False), wall("baseline", False)),
                       ("this / baseline, busy", wall("this", True), wall("baseline", True)),
                       ("this: busy / quiet (target <= 1.3)", wall("this", True),
                        wall("this", False)),
                       ("this, busy: default / 1 thread (target <= 1)", wall("this", True),
                        wall("this", True, 1)),
                       ("this, quiet: default / 1 thread", wall("this", False),
                        wall("this", False, 1))):
        if a is not None and b is not None:
            lines.append(f"{name}: {a / b:.2f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True,
                    help="checkout (folder) or commit of this repository to compare against")
    ap.add_argument("--images", type=int, default=8000)
    ap.add_argument("--eval-images", type=int, default=1000, help="label and test images each")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/unsupervised-e2e.json")
    ap.add_argument("--baseline-busy", action="store_true",
                    help="also time the baseline beside a busy process")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of this checkout's runs (the baseline runs once); the summary "
                         "takes each configuration's median")
    a = ap.parse_args()
    args = ["--rule", "dc", "--neurons", "100", "--images", str(a.images), "--label-images",
            str(a.eval_images), "--test-images", str(a.eval_images)]
    with checkout(a.baseline) as base:
        labels = {base: f"baseline {commit(base)}", ROOT: f"this checkout {commit(ROOT)}"}
        warm = ["--rule", "dc", "--neurons", "2", "--images", "1", "--label-images", "1",
                "--test-images", "1"]
        for repo in (base, ROOT):  # kernel builds, first imports: not timed
            run(repo, labels[repo], warm, None, False)
        plan = [(busy, repo, threads) for k in range(a.repeat) for busy in (False, True)
                for repo, threads in ((base, None), (ROOT, None), (ROOT, 1))
                if not (repo != ROOT and (k > 0 or busy and not a.baseline_busy))]
        runs = []
        for busy, repo, threads in plan:
            runs.append(run(repo, labels[repo], args, threads, busy))
            print(json.dumps(runs[-1]), flush=True)
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps({
                "command": "hebbtorch unsupervised " + " ".join(args), "cpus": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
                "bench": "python bench/bench_unsupervised_e2e.py --baseline "
                         f"{a.baseline if not Path(a.baseline).is_dir() else 'BASELINE'}"
                         + (" --baseline-busy" if a.baseline_busy else "")
                         + (f" --repeat {a.repeat}" if a.repeat > 1 else ""),
                "note": "loadavg_before is the machine's other load at each start: only a quiet "
                        "machine gives absolute numbers; ratios compare runs of one invocation",
                "runs": runs, "medians": medians(runs)}, indent=1) + "\n")
    print("\n".join(summary(runs)))


if __name__ == "__main__":
    main()
