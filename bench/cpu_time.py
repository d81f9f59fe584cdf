"""Run a ``hebbtorch`` command and print this process's CPU time (user + system) at the end.

Used for docs/scaling.md: on a shared machine wall-clock times depend on what else runs, while
each rank's CPU time shows how the work is divided. Works under torchrun (one line per rank)::

    OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 bench/cpu_time.py protocol rate --reps 400
"""

from __future__ import annotations

import os
import resource
import sys

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)

from hebbtorch.cli.main import main

if __name__ == "__main__":
    rc = main(sys.argv[1:])
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(f"rank {os.environ.get('RANK', '0')}: cpu {r.ru_utime + r.ru_stime:.1f} s", flush=True)
    sys.exit(rc)
