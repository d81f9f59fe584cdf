"""Bad input, everywhere: a clear one-line error or a correct result, never a traceback and never
a silent wrong answer. Property-based (hypothesis) over the CLI flags, the IDX reader and the
public neuron / encoder / plasticity APIs, plus the cases issue 25 lists one by one.

``CASES`` counts the inputs tried (printed by ``pytest -s``)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hebbtorch.cli.main import main
from hebbtorch.data.idx import encode_idx, parse_idx
from hebbtorch.errors import HebbtorchError
from tests.conftest import idx_folder

CASES = {"n": 0}
FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def run_cli(capsys, argv) -> tuple[int, str, str]:
    """The command in-process; exceptions other than a clean exit propagate (and fail)."""
    CASES["n"] += 1
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse and --help/--version
        code = e.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def assert_clean(code: int, err: str) -> None:
    """Exit 0, or status 2 with exactly one line naming the problem."""
    assert "Traceback" not in err, err
    if code != 0:
        assert code == 2, (code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "error" in lines[0], err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return idx_folder(tmp_path_factory.mktemp("bad") / "idx")


TINY = ["--model", "seed-ann", "--epochs", "1", "--batch-size", "20", "--quiet",
        "--device", "cpu"]


# --------------------------------------------------------------------------- one case each
def test_exploding_learning_rate_stops_the_run_naming_it(capsys, tmp_path, data):
    code, _, err = run_cli(capsys, ["train", "--model", "lif-mlp", "--steps", "4", "--hidden",
                                    "8", "--epochs", "1", "--batch-size", "10", "--lr", "1e30",
                                    "--dataset", data, "--out", tmp_path, "--quiet",
                                    "--device", "cpu"])
    assert_clean(code, err)
    assert code == 2 and "learning rate (1e+30)" in err and "--lr" in err


def test_empty_training_split_is_refused(capsys, tmp_path):
    folder = idx_folder(tmp_path / "empty", n_train=0)
    code, _, err = run_cli(capsys, ["train", *TINY, "--dataset", folder,
                                    "--out", tmp_path / "o"])
    assert code == 2 and "training split is empty" in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_any_image_size_and_class_count(capsys, tmp_path):
    """20x24 images with 12 classes: the MLPs are sized from the data; the conv models, which
    need square images, say so."""
    folder = idx_folder(tmp_path / "d", n_train=60, n_test=24, shape=(20, 24), classes=12)
    code, _, err = run_cli(capsys, ["train", *TINY, "--dataset", folder, "--out", tmp_path / "o",
                                    "--optimizer", "adam", "--lr", "0.01", "--epochs", "3"])
    assert code == 0, err
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["config"]["model_options"]["image"] == [20, 24]
    assert m["config"]["model_options"]["classes"] == 12
    assert m["final"]["test_accuracy"] > 1 / 12  # it learns, 12 ways
    code, _, err = run_cli(capsys, ["train", *TINY[:1], "ann-conv", *TINY[2:], "--dataset",
                                    folder, "--out", tmp_path / "c"])
    assert code == 2 and "square images" in err


def test_out_under_a_file(capsys, tmp_path, data):
    (tmp_path / "f").write_text("x")
    for cmd in (["train", *TINY], ["unsupervised", "--neurons", "2", "--images", "1"]):
        code, _, err = run_cli(capsys, [*cmd, "--dataset", data, "--out", tmp_path / "f" / "o"])
        assert_clean(code, err)
        assert code == 2 and "--out" in err


def test_read_only_out(capsys, tmp_path, data):
    if os.geteuid() == 0:  # root writes into mode-0500 folders; /proc refuses even root
        if not os.path.isdir("/proc"):
            pytest.skip("root, and no /proc to stand for a read-only folder")
        target = Path("/proc/hebbtorch-read-only/o")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        target = ro / "o"
    code, _, err = run_cli(capsys, ["train", *TINY, "--dataset", data, "--out", target])
    assert code == 2 and "--out" in err


def test_unsupervised_refusals(capsys, tmp_path, data):
    base = ["unsupervised", "--dataset", data, "--neurons", "2", "--images", "2",
            "--update-interval", "2", "--checkpoint-every", "2", "--test-images", "4",
            "--eval-batch", "2", "--quiet", "--device", "cpu"]
    code, _, err = run_cli(capsys, [*base, "--label-images", "100000", "--out", tmp_path / "a"])
    assert code == 2 and "--label-images 100000" in err and "only 40" in err
    code, _, err = run_cli(capsys, [*base, "--label-images", "4", "--eval-batch", "10000000",
                                    "--out", tmp_path / "a"])
    assert code == 2 and "GiB" in err and "--eval-batch" in err
    assert not (tmp_path / "a").exists()
    code, _, err = run_cli(capsys, [*base, "--label-images", "4", "--out", tmp_path / "b"])
    assert code == 0, err
    ck = tmp_path / "b" / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])  # truncated
    code, _, err = run_cli(capsys, [*base, "--label-images", "4", "--out", tmp_path / "b",
                                    "--resume"])
    assert code == 2 and "unreadable" in err
    code, _, err = run_cli(capsys, [*base, "--label-images", "4", "--out", tmp_path / "c",
                                    "--resume"])
    assert code == 2 and "--resume: no checkpoint.pt" in err


def test_protocol_refusals(capsys, tmp_path):
    code, _, err = run_cli(capsys, ["protocol", "window", "--stem", "../../x", "--out", tmp_path])
    assert_clean(code, err)
    assert code == 2 and "--stem" in err
    code, _, err = run_cli(capsys, ["protocol", "rate", "--reps", str(10**13), "--out", tmp_path])
    assert code == 2 and "--reps" in err and "GiB" in err


def test_chunked_repetitions_give_the_unchunked_result(monkeypatch):
    from hebbtorch.studies import protocols

    kw = dict(post_rates=[5.0, 20.0], duration_s=0.5, reps=5, seed=3)
    whole = protocols.rate_dependence("calcium", **kw)
    monkeypatch.setattr(protocols, "CHUNK", 3)  # 10 conditions in chunks of 3
    monkeypatch.setattr(protocols.chunked, "__defaults__", (3, None))
    parts = protocols.rate_dependence("calcium", **kw)
    assert parts == whole


def test_cuda_on_a_cpu_build(capsys, tmp_path, data):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, _, err = run_cli(capsys, ["train", *TINY[:-2], "--device", "cuda", "--dataset", data,
                                    "--out", tmp_path])
    assert code == 2 and "CUDA is not available" in err


def test_version_debug_and_renamed_options(capsys):
    code, out, _ = run_cli(capsys, ["--version"])
    assert code == 0 and out.startswith("hebbtorch ")
    with pytest.raises(HebbtorchError):  # --debug after the command: the traceback
        main(["train", "--device", "nonsense", "--debug"])
    capsys.readouterr()
    for cmd, old, new in (("train", "--data", "--dataset"), ("unsupervised", "--batch",
                          "--batch-size"), ("train", "--max-train", "--train-images"),
                          ("bptt-stdp", "--train-size", "--train-images"),
                          ("astdp train", "--max-test", "--test-images")):
        code, _, err = run_cli(capsys, [*cmd.split(), old, "1"])
        assert_clean(code, err)
        assert code == 2 and f"{old} was renamed {new}" in err and "--help" in err


def test_api_refusals():
    from hebbtorch.neurons.li import LIParameters, li_sequence
    from hebbtorch.neurons.lif import LIFParameters, lif_sequence
    from hebbtorch.plasticity import PairSTDP, PlasticConnection

    with pytest.raises(HebbtorchError, match="threshold"):
        lif_sequence(torch.ones(3, 2, 4), LIFParameters(threshold=0))
    x = torch.zeros(3, 2, 4)
    x[1, 0, 2] = float("nan")
    with pytest.raises(HebbtorchError, match="NaN"):
        li_sequence(x, LIParameters())
    conn = PlasticConnection(3, 2, PairSTDP())
    for bad in (5.0, -1.0, float("nan")):
        pre = torch.zeros(1, 3)
        pre[0, 1] = bad
        with pytest.raises(HebbtorchError, match="spikes"):
            conn.step(pre, torch.zeros(1, 2))
    assert torch.isfinite(conn.weight).all()


# ------------------------------------------------------------------------ property-based
JUNK = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e300", "1e-300", "x", "", "3.5",
                        "99999999999999999999", "2", "1"])
TRAIN_FLAGS = ["--epochs", "--batch-size", "--lr", "--momentum", "--weight-decay", "--steps",
               "--hidden", "--seed", "--train-images", "--test-images", "--dropout", "--beta",
               "--threshold", "--slope", "--checkpoint-every", "--time-budget"]


@FAST
@given(st.lists(st.tuples(st.sampled_from(TRAIN_FLAGS), JUNK), min_size=1, max_size=3))
def test_train_flags(capsys, tmp_path_factory, data, flags):
    out = tmp_path_factory.mktemp("h")
    argv = ["train", *TINY, "--dataset", data, "--out", out, "--train-images", "20",
            "--test-images", "10"]
    for f, v in flags:
        argv += [f, v]
    code, _, err = run_cli(capsys, argv)
    assert_clean(code, err)
    if code == 0:  # a correct result: a finished run with finite numbers
        m = json.loads((out / "metrics.json").read_text())
        assert math.isfinite(m["final"]["test_loss"])
        assert 0.0 <= m["final"]["test_accuracy"] <= 1.0


UNSUP_FLAGS = ["--neurons", "--images", "--batch-size", "--label-images", "--test-images",
               "--eval-batch", "--update-interval", "--checkpoint-every", "--seed",
               "--gb-drift-every"]


@FAST
@given(st.lists(st.tuples(st.sampled_from(UNSUP_FLAGS), JUNK), min_size=1, max_size=3))
def test_unsupervised_flags(capsys, tmp_path_factory, data, flags):
    out = tmp_path_factory.mktemp("u")
    argv = ["unsupervised", "--dataset", data, "--neurons", "2", "--images", "2",
            "--label-images", "2", "--test-images", "2", "--eval-batch", "2",
            "--update-interval", "2", "--checkpoint-every", "2", "--quiet", "--device", "cpu",
            "--out", out]
    for f, v in flags:
        argv += [f, v]
    code, _, err = run_cli(capsys, argv)
    assert_clean(code, err)
    if code == 0:
        m = json.loads((out / "metrics.json").read_text())
        assert 0.0 <= m["final"]["all_activity"] <= 1.0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=64))
def test_idx_reader_random_bytes(blob):
    CASES["n"] += 1
    try:
        arr = parse_idx(blob)
    except HebbtorchError:
        return
    assert len(encode_idx(arr)) == len(blob)  # what parses is exactly a valid file


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.integers(0, 4 + 4 * 3 + 2 * 3 * 4 - 1))
def test_idx_reader_truncated(cut):
    CASES["n"] += 1
    blob = encode_idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    with pytest.raises(HebbtorchError):
        parse_idx(blob[:cut])


FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e30]))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(beta=FLOATS, threshold=FLOATS, poison=FLOATS)
def test_lif_api(beta, threshold, poison):
    from hebbtorch.neurons.lif import LIFParameters, lif_sequence

    CASES["n"] += 1
    x = torch.full((4, 2, 3), 0.6)
    x[2, 1, 0] = poison
    try:
        out = lif_sequence(x, LIFParameters(beta=beta, threshold=threshold), backend="reference")
    except HebbtorchError:
        return
    assert 0 <= beta <= 1 and threshold > 0 and math.isfinite(poison)
    assert set(out.spikes.unique().tolist()) <= {0.0, 1.0}


@settings(max_examples=100, deadline=None, derandomize=True)
@given(value=FLOATS, steps=st.integers(-2, 5), rate=FLOATS)
def test_rate_encoder_api(value, steps, rate):
    from hebbtorch.encoding.rate import rate_encode

    CASES["n"] += 1
    x = torch.full((2, 3), 0.5)
    x[0, 0] = value
    try:
        s = rate_encode(x, steps, max_rate=rate, dt=1.0)
    except HebbtorchError:
        return
    assert 0 <= value <= 1 and steps >= 1 and 0 <= rate * 1e-3 <= 1
    assert s.shape == (steps, 2, 3) and set(s.unique().tolist()) <= {0.0, 1.0}


@settings(max_examples=100, deadline=None, derandomize=True)
@given(pre=st.lists(FLOATS, min_size=3, max_size=3), post=st.lists(FLOATS, min_size=2,
                                                                    max_size=2))
def test_plastic_connection_api(pre, post):
    from hebbtorch.plasticity import PairSTDP, PlasticConnection

    CASES["n"] += 1
    conn = PlasticConnection(3, 2, PairSTDP())
    try:
        conn.step(torch.tensor([pre]), torch.tensor([post]))
    except HebbtorchError:
        assert not all(v in (0.0, 1.0) for v in [*pre, *post])
        return
    assert all(v in (0.0, 1.0) for v in [*pre, *post])
    assert torch.isfinite(conn.weight).all()


def test_zz_report_cases_tried():
    print(f"\nbad-input cases tried: {CASES['n']}")
    assert CASES["n"] > 0
