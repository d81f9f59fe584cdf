"""Reference for the supervised calcium-bistable table: a linear classifier (multinomial
logistic regression, L-BFGS, L2 weight chosen on the validation split) trained by gradient on
the same training / validation / test images as bench/calcium_supervised.py, on the pixels and
on the binary features of the local-receptive-field front end (the ``*-local`` tasks, the
front end drawn from seed 0). It shows what one linear layer reaches on these inputs. Writes
bench/results/calcium-linear-reference.json.

    nice -n 10 python bench/calcium_linear_reference.py     # ~12 CPU-minutes
"""

from __future__ import annotations

from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.io import write_json
from hebbtorch.studies.calcium_supervised import (
    TASK_CONFIGS,
    front_end,
    load_flat,
    load_split,
)

# (dataset, training images incl. validation, n_val, input, extra training images after them,
# as the run of bench/calcium_supervised.py they stand beside)
DATA = (("mnist-5k", None, 500, "pixels", 0), ("fashion-mnist", 7000, 1000, "pixels", 0),
        ("mnist-5k", None, 500, "local fields", 0),
        ("fashion-mnist", 7000, 1000, "local fields", 0),
        ("fashion-mnist", 7000, 1000, "local fields", 6000),
        ("fashion-mnist", 7000, 1000, "local fields", 18000))


def fit(xtr, ytr, wd: float) -> torch.nn.Linear:
    torch.manual_seed(0)
    lin = torch.nn.Linear(xtr.shape[1], int(ytr.max()) + 1)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xtr), ytr) + wd * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lin


def accuracy(lin, x, y) -> float:
    with torch.no_grad():
        return float((lin(x).argmax(1) == y).float().mean())


if __name__ == "__main__":
    torch.set_num_threads(1)
    rows = []
    for ds, n, n_val, inp, extra in DATA:
        xtr, ytr, xva, yva = load_split(ds, n, n_val, extra)
        xte, yte = load_flat(ds, "test")
        if inp == "local fields":
            c = TASK_CONFIGS[f"{ds.split('-')[0]}-local"][0]
            xtr, xva, xte = front_end(c, 0, xtr, xva, xte)
        fits = {wd: fit(xtr, ytr, wd) for wd in (1e-4, 1e-3, 1e-2)}
        wd = max(fits, key=lambda w: accuracy(fits[w], xva, yva))
        rows.append({"dataset": ds, "input": inp, "weight_decay": wd, "n_train": len(ytr),
                     "validation_accuracy": accuracy(fits[wd], xva, yva),
                     "test_accuracy": accuracy(fits[wd], xte, yte)})
        print(rows[-1])
    write_json(Path("bench/results/calcium-linear-reference.json"),
               {"rows": rows, "command": "nice -n 10 python bench/calcium_linear_reference.py"})
