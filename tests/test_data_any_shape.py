"""Any image size and class count through the unsupervised Diehl & Cook network: an IDX folder of
12x12 images in 13 classes, end to end through the CLI; the network's input size, its fused
kernels (no 784 assumed) and the readout (labels, predictions, confusion) for n classes."""

from __future__ import annotations

import json

import pytest
import torch

from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import diehl_cook as fused
from hebbtorch.learning.unsupervised import respond
from hebbtorch.networks.diehl_cook import DiehlCookNetwork
from hebbtorch.networks.readout import (
    assign_labels,
    confusion_matrix,
    predict_all_activity,
    predict_proportion,
    receptive_fields,
)
from tests.conftest import idx_folder

SHAPE, CLASSES = (12, 12), 13


def test_unsupervised_cli_on_12x12_images_in_13_classes(tmp_path, capsys):
    data = idx_folder(tmp_path / "idx", n_train=52, n_test=26, shape=SHAPE, classes=CLASSES)
    out = tmp_path / "run"
    code = main(["unsupervised", "--dataset", str(data), "--neurons", "16", "--images", "52",
                 "--label-images", "52", "--test-images", "26", "--update-interval", "26",
                 "--checkpoint-every", "26", "--quiet", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["image_shape"] == list(SHAPE) and m["config"]["classes"] == CLASSES
    assert len(m["confusion_all_activity"]) == CLASSES
    assert all(len(row) == CLASSES for row in m["confusion_all_activity"])
    assert sum(map(sum, m["confusion_all_activity"])) == 26
    assert len(m["neurons_per_class"]) == CLASSES
    assert m["curve"] and 0.0 <= m["final"]["all_activity"] <= 1.0
    # learning happened on the band pattern: better than chance (1/13) on the training-like bands
    assert m["final"]["proportion"] > 2 / CLASSES
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert tuple(ck["weight"].shape) == (SHAPE[0] * SHAPE[1], 16)
    for png in ("receptive_fields.png", "confusion.png", "assignments.png", "accuracy.png"):
        assert (out / png).stat().st_size > 0
    # resuming with the same data is the same run; the folder's config names the image shape
    assert main(["unsupervised", "--dataset", str(data), "--neurons", "16", "--images", "52",
                 "--label-images", "52", "--test-images", "26", "--update-interval", "26",
                 "--checkpoint-every", "26", "--quiet", "--device", "cpu", "--out", str(out),
                 "--resume"]) == 0


def _images(n: int, n_input: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, n_input, generator=g) < 0.25).float() * 255


@pytest.mark.parametrize("n_input", [144, 50])
def test_fused_kernels_take_any_input_count(n_input):
    """Training (exact online mode) and the frozen batched evaluation in the fused kernels give
    the reference loop's spike counts with 144 and 50 inputs (the kernels read n_in from the
    weights)."""
    if not fused.use_fused(DiehlCookNetwork(2, n_input=n_input)):
        pytest.skip("no C++ compiler for the kernel")
    x = _images(4, n_input)
    nets, counts = {}, {}
    for backend in ("reference", "fused"):
        net = DiehlCookNetwork(8, n_input=n_input, backend=backend,
                               generator=torch.Generator().manual_seed(1))
        counts[backend] = torch.stack([net.present(x[i:i + 1], learn=True, seed=i)[0][0]
                                       for i in range(len(x))])
        nets[backend] = net
    assert counts["reference"].sum() > 0
    assert torch.equal(counts["reference"], counts["fused"])
    torch.testing.assert_close(nets["reference"].weight, nets["fused"].weight, rtol=1e-5,
                               atol=1e-6)
    evals = {}
    for backend in ("reference", "fused"):
        ev = DiehlCookNetwork(8, batch=3, n_input=n_input, backend=backend,
                              w_init=nets["reference"].weight)
        evals[backend] = respond(ev, x, seed=5)
    assert torch.equal(evals["reference"], evals["fused"])


def test_network_input_size_is_checked():
    net = DiehlCookNetwork(3, n_input=144)
    assert tuple(net.weight.shape) == (144, 3)
    with pytest.raises(HebbtorchError, match=r"pixels must be \[1, 144\]"):
        net.present(torch.zeros(1, 784), learn=False)
    with pytest.raises(HebbtorchError, match="n_input"):
        DiehlCookNetwork(3, n_input=0)
    with pytest.raises(HebbtorchError, match=r"w_init must be \[144, 3\]"):
        DiehlCookNetwork(3, n_input=144, w_init=torch.rand(784, 3))


def test_readout_for_any_class_count():
    # neuron k answers only to class k (13 classes, 13 neurons), plus a silent neuron
    labels = torch.arange(CLASSES).repeat(3)
    counts = torch.zeros(len(labels), CLASSES + 1)
    counts[torch.arange(len(labels)), labels] = 4.0
    a, prop = assign_labels(counts, labels)
    assert torch.equal(a[:CLASSES], torch.arange(CLASSES)) and int(a[CLASSES]) == -1
    assert prop.shape == (CLASSES + 1, CLASSES)
    assert torch.equal(predict_all_activity(counts, a, CLASSES), labels)
    assert torch.equal(predict_proportion(counts, a, prop), labels)
    cm = confusion_matrix(labels, labels, CLASSES)
    assert torch.equal(cm, 3 * torch.eye(CLASSES, dtype=cm.dtype))
    assert confusion_matrix(labels[:2], labels[:2], 20).shape == (20, 20)  # room for absent ones
    with pytest.raises(HebbtorchError, match=r"labels must be in 0..9, found 0..12"):
        assign_labels(counts, labels, n_classes=10)
    with pytest.raises(HebbtorchError, match="predictions must be in"):
        confusion_matrix(labels + 1, labels, CLASSES)  # (pred, labels)
    with pytest.raises(HebbtorchError, match="one row per label"):
        assign_labels(counts[:5], labels)
    with pytest.raises(HebbtorchError, match="integer class indices"):
        assign_labels(counts, labels.float())


def test_receptive_fields_of_any_image_shape():
    w = torch.arange(12 * 7 * 2, dtype=torch.float32).reshape(2, 84).T  # [84 inputs, 2]
    rf = receptive_fields(w, (12, 7))
    assert rf.shape == (2, 12, 7) and float(rf[1, 0, 0]) == 84.0
    assert receptive_fields(torch.rand(144, 3)).shape == (3, 12, 12)  # square: side inferred
    with pytest.raises(HebbtorchError, match="not a square image"):
        receptive_fields(torch.rand(84, 3))
    with pytest.raises(HebbtorchError, match="do not fit 84"):
        receptive_fields(torch.rand(84, 3), (9, 9))
