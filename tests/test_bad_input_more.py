"""More bad input (issue 25): the ALIF and refractory neuron APIs, every image encoder, the data
readers on random IDX folders, and the flags of ``conv-stdp``, ``calcium``, ``protocol``,
``astdp`` and ``spikeprop``. Each case: a clear one-line error (HebbtorchError / exit status 2)
or a correct result; never a traceback, never a silent wrong answer. ``CASES`` counts the inputs
tried (printed by ``pytest -s``, last test)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hebbtorch.cli.main import main
from hebbtorch.data import load_dataset, write_idx
from hebbtorch.encoding.registry import IMAGE_ENCODERS, make_encoder
from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons import (
    ALIFParameters,
    RefractoryParameters,
    alif_sequence,
    refractory_sequence,
)
from tests.conftest import idx_folder

CASES = {"n": 0}
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e30]))
PROPS = settings(max_examples=100, deadline=None, derandomize=True)
CLI = settings(max_examples=15, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow])
JUNK = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e300", "x", "", "3.5",
                        "99999999999999999999", "2", "1"])


def _poisoned(poison: float) -> torch.Tensor:
    x = torch.full((4, 2, 3), 0.6)
    x[2, 1, 0] = poison
    return x


@PROPS
@given(beta=FLOATS, rho=FLOATS, threshold=FLOATS, scale=FLOATS, poison=FLOATS,
       backend=st.sampled_from(["reference", "auto"]))
def test_alif_api(beta, rho, threshold, scale, poison, backend):
    CASES["n"] += 1
    p = ALIFParameters(beta=beta, rho=rho, threshold=threshold, adapt_scale=scale)
    try:
        out = alif_sequence(_poisoned(poison), p, backend=backend)
    except HebbtorchError:
        return
    assert 0 <= beta <= 1 and 0 <= rho <= 1 and threshold > 0 and math.isfinite(poison)
    assert math.isfinite(scale) and scale >= 0
    assert set(out.spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.isfinite(out.v).all() and torch.isfinite(out.threshold).all()


@PROPS
@given(decay=FLOATS, threshold=FLOATS, penalty=FLOATS, poison=FLOATS, binary=st.booleans(),
       backend=st.sampled_from(["reference", "auto"]))
def test_refractory_api(decay, threshold, penalty, poison, binary, backend):
    CASES["n"] += 1
    p = RefractoryParameters(decay, threshold, penalty, binary)
    try:
        out = refractory_sequence(_poisoned(poison), p, backend=backend)
    except HebbtorchError:
        return
    assert 0 <= decay <= 1 and threshold > 0 and math.isfinite(penalty) and penalty >= 0
    assert math.isfinite(poison)
    assert torch.isfinite(out.inner).all() and (out.out >= 0).all()
    if binary:
        assert set(out.out.unique().tolist()) <= {0.0, 1.0}


ENCODERS = [name for name in IMAGE_ENCODERS if name != "direct"]
COUNTS = ("poisson", "dvs")  # spike (event) counts per step: non-negative integers
GRADED = ("noisy-mask",)  # the seed's graded input in [0, 1]
ANY_VALUE = ("population",)  # Gaussian fields encode any finite value (far ones: silence)


@PROPS
@given(name=st.sampled_from(ENCODERS), value=FLOATS, steps=st.integers(-2, 6))
def test_image_encoders(name, value, steps):
    """An image with one odd pixel through every named encoder: refused, or spikes (0/1;
    counts for Poisson and DVS events; graded values in [0, 1] for the noisy mask) laid out
    time first with the asked number of steps."""
    CASES["n"] += 1
    x = torch.full((2, 6, 6), 0.5)
    x[0, 2, 3] = value
    try:
        enc = make_encoder(name, steps)
        s = enc(x, generator=torch.Generator().manual_seed(0))
    except HebbtorchError:
        return
    assert steps >= 1 and math.isfinite(value), (name, value, steps)
    assert name in ANY_VALUE or 0 <= value <= 1, (name, value, steps)
    assert s.shape[0] == steps and s.shape[1] == 2, (name, tuple(s.shape))
    assert torch.isfinite(s).all() and (s >= 0).all(), name
    if name in COUNTS:
        assert torch.equal(s, s.round()), name
    elif name in GRADED:
        assert (s <= 1).all(), name
    else:
        assert set(s.unique().tolist()) <= {0.0, 1.0}, name


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       test_shape=st.sampled_from(["same", "other"]),
       labels=st.lists(st.integers(-3, 300), min_size=0, max_size=8),
       image_dtype=st.sampled_from([np.uint8, np.int16, np.float32]))
def test_data_reader_on_random_idx_folders(tmp_path_factory, shape, test_shape, labels,
                                           image_dtype):
    """Random image shapes, dtypes, label values and counts in an IDX folder: refused in one
    line, or a data set whose images are uint8 [N, H, W] with one label each in 0..C-1."""
    CASES["n"] += 1
    folder = tmp_path_factory.mktemp("idx")
    images = np.zeros(shape, dtype=image_dtype)
    other = np.zeros([*shape[:1], 3, 2], dtype=np.uint8) if test_shape == "other" else images
    y = np.array(labels, dtype=np.int64)
    for split, x in (("train", images), ("t10k", other)):
        write_idx(folder / f"{split}-images-idx3-ubyte", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte", y.astype(np.uint8) if
                  (0 <= y).all() and (y < 256).all() else y.astype(np.int32))
    try:
        ds = load_dataset(str(folder), split="train")
    except HebbtorchError:
        return
    assert ds.images.dtype == torch.uint8 and ds.images.dim() == 3
    assert len(ds.images) == len(ds.labels) == len(labels)
    if len(labels):
        assert 0 <= int(ds.labels.min()) and int(ds.labels.max()) < ds.num_classes


# ------------------------------------------------------------------------------------- CLI
class Reached(Exception):
    """Raised by a stand-in for a command's work: the flags passed every check up to it."""


def _numbers(obj) -> list[float]:
    """Every int/float inside the arguments a command handed to its work."""
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _numbers(x)]
    if isinstance(obj, list | tuple):
        return [v for x in obj for v in _numbers(x)]
    return []


def _run(capsys, monkeypatch, target: str, argv: list) -> None:
    """The command in-process with its work replaced: exit 2 with one error line, or the work
    reached with finite, non-negative numbers only (seeds, counts, rates, sizes)."""
    CASES["n"] += 1
    got: dict = {}

    def stand_in(*args, **kwargs):
        got["args"] = [args, kwargs]
        raise Reached

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(f"{module}.{name}", stand_in)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    except Reached:
        numbers = _numbers(got["args"])
        assert all(math.isfinite(v) and v >= 0 for v in numbers), (argv, numbers)
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code == 2, (argv, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return idx_folder(tmp_path_factory.mktemp("more") / "idx")


COMMANDS = {  # name -> (work replaced, base argv, flags that take numbers)
    "conv-stdp": ("hebbtorch.learning.conv_stdp.run_experiment",
                  ["conv-stdp", "--device", "cpu"],
                  ["--layer-images", "--batch-size", "--double-every", "--readout-images",
                   "--readout-epochs", "--seed"]),
    "calcium": ("hebbtorch.studies.calcium_supervised.train", ["calcium", "train", "--device",
                                                               "cpu"],
                ["--batch-size", "--epochs", "--train-images", "--test-images", "--k",
                 "--recurrent", "--eval-every", "--seed"]),
    "astdp": ("hebbtorch.learning.astdp_run.train_astdp", ["astdp", "train", "--quiet"],
              ["--hidden", "--hidden-layers", "--epochs", "--batch-size", "--steps", "--lr",
               "--gen-lr", "--noise", "--train-images", "--test-images", "--eval-samples",
               "--time-budget", "--per-class", "--seed"]),
    "spikeprop": ("hebbtorch.learning.spikeprop.SpikePropTrainer", ["spikeprop", "xor", "--quiet"],
                  ["--epochs", "--lr", "--hidden", "--batch-size", "--target-loss",
                   "--time-budget", "--seed"]),
}


@pytest.mark.parametrize("command", ["conv-stdp", "calcium", "astdp", "spikeprop"])
@CLI
@given(flags=st.lists(st.tuples(st.integers(0, 13), JUNK), min_size=1, max_size=3))
def test_command_flags(capsys, monkeypatch, tmp_path_factory, data, command, flags):
    target, base, numeric = COMMANDS[command]
    argv = [*base, "--out", tmp_path_factory.mktemp("o")]
    if command in ("conv-stdp", "calcium", "astdp"):
        argv += ["--dataset", data]
    for i, v in flags:
        argv += [numeric[i % len(numeric)], v]
    with monkeypatch.context() as m:
        _run(capsys, m, target, argv)


@CLI
@given(name=st.sampled_from(["window", "rate", "frequency", "triplets"]),
       flags=st.lists(st.tuples(st.sampled_from(["--reps", "--seed", "--rule", "--params"]),
                                st.one_of(JUNK, st.sampled_from(["pair", "dc", "nonsense"]))),
                      min_size=1, max_size=2))
def test_protocol_flags(capsys, tmp_path_factory, name, flags):
    """The protocol command for real (its repetitions kept small): exit 0 with its JSON, or
    one error line."""
    CASES["n"] += 1
    out = tmp_path_factory.mktemp("p")
    argv = ["protocol", name, "--out", str(out)]
    for f, v in flags:
        argv += [f, v]
    if "--reps" not in argv:
        argv += ["--reps", "1"]
    reps = argv[argv.index("--reps") + 1]
    if reps.isdigit() and int(reps) > 3:  # a correct but long run: not what this test checks
        return
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if code == 0:
        assert list(out.glob("*.json")), argv
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)


def test_zz_report_cases_tried():
    print(f"\nbad-input cases tried (this file): {CASES['n']}")
    assert CASES["n"] > 0
