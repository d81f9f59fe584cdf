"""The ``hebbtorch`` command, run in-process: one-line errors with exit status 2, and tiny
end-to-end train / visualize / compare runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hebbtorch.cli.main import main
from hebbtorch.data import write_idx
from hebbtorch.errors import HebbtorchError

TINY = ["--steps", "8", "--hidden", "16", "--epochs", "1", "--batch-size", "100", "--quiet",
        "--device", "cpu"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error" in lines[0]
    for w in words:
        assert w in lines[0]


def assert_argparse_error(code, err, *words):
    """A bad option: one line, the problem and where to read more (not the whole usage)."""
    assert_one_line_error(code, err, *words, "(see hebbtorch")


def write_idx_folder(folder: Path, separable_data) -> Path:
    tr_x, tr_y, te_x, te_y = separable_data
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", tr_x.numpy())
    write_idx(folder / "train-labels-idx1-ubyte", tr_y.numpy().astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", te_x.numpy())
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", te_y.numpy().astype(np.uint8))
    return folder


def test_unknown_model(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--model", "resnet", "--out", tmp_path)
    assert_argparse_error(code, err, "--model", "resnet")


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_bad_epochs(capsys, tmp_path, value):
    code, _, err = run_cli(capsys, "train", "--epochs", value, "--out", tmp_path)
    assert_argparse_error(code, err, "--epochs", "positive integer")


def test_bad_lr(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--lr", "nan", "--out", tmp_path)
    assert_argparse_error(code, err, "--lr")


def test_unknown_dataset(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--dataset", "imagenet", "--out", tmp_path / "o",
                           *TINY)
    assert_one_line_error(code, err, "hebbtorch train", "imagenet")


def test_missing_data_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--dataset", "/nonexistent", "--out", tmp_path / "o",
                           *TINY)
    assert_one_line_error(code, err, "/nonexistent")


def test_corrupt_idx_folder(capsys, tmp_path, separable_data):
    folder = write_idx_folder(tmp_path / "data", separable_data)
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04garbage")
    code, _, err = run_cli(capsys, "train", "--dataset", folder, "--out", tmp_path / "o", *TINY)
    assert_one_line_error(code, err, "train-images-idx3-ubyte", "not an IDX file")
    # a truncated gzip test file
    folder = write_idx_folder(tmp_path / "data2", separable_data)
    gz = folder / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:30])
    code, _, err = run_cli(capsys, "train", "--dataset", folder, "--out", tmp_path / "o2", *TINY)
    assert_one_line_error(code, err, "t10k-images-idx3-ubyte.gz")


def test_visualize_without_checkpoint(capsys, tmp_path):
    code, _, err = run_cli(capsys, "visualize", "--run", tmp_path)
    assert_one_line_error(code, err, "hebbtorch visualize", "checkpoint.pt")
    assert not (tmp_path / "pictures").exists()
    code, _, err = run_cli(capsys, "visualize", "--run", tmp_path / "missing")
    assert_one_line_error(code, err, "checkpoint.pt")
    assert not (tmp_path / "missing").exists()  # a typo in --run creates nothing


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(HebbtorchError, match="checkpoint.pt"):
        main(["--debug", "visualize", "--run", str(tmp_path)])


def test_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run_cli(capsys, "train", "--out", f, *TINY)
    assert_one_line_error(code, err, "not a folder")


def test_no_command(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and "Traceback" not in err


@pytest.mark.slow
def test_train_then_visualize_on_idx_folder(capsys, tmp_path, separable_data):
    folder = write_idx_folder(tmp_path / "digits", separable_data)
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--dataset", folder, "--out", out, *TINY,
                                "--stop-after-batches", "1")
    assert code == 0, err
    assert "--resume" in stdout
    code, stdout, err = run_cli(capsys, "train", "--dataset", folder, "--out", out, *TINY,
                                "--resume")
    assert code == 0, err
    assert "test accuracy" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 1
    assert metrics["config"]["dataset"] == str(folder)
    for name in ("metrics.csv", "batches.csv", "learning_curves.png", "checkpoint.pt"):
        assert (out / name).is_file(), name
    # resuming with other options is refused in one line
    code, _, err = run_cli(capsys, "train", "--dataset", folder, "--out", out, *TINY,
                           "--lr", "0.5", "--resume")
    assert_one_line_error(code, err, "other options (lr)", "--overwrite")

    code, stdout, err = run_cli(capsys, "visualize", "--run", out, "--index", "3")
    assert code == 0, err
    pics = out / "pictures"
    names = {p.name for p in pics.glob("*.png")}
    assert {"input.png", "layer1.inner.png", "layer1.out.png", "layer2.inner.png",
            "layer2.out.png", "trace_hidden.png", "trace_output.png"} <= names
    for p in pics.glob("*.png"):
        assert p.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(capsys, "visualize", "--run", out, "--index", "100")
    assert_one_line_error(code, err, "--index")


@pytest.mark.slow
def test_compare_on_mnist5k(capsys, tmp_path):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(
        capsys, "compare", "--model", "seed-snn", "--dataset", "mnist-5k", "--steps", "4",
        "--hidden", "16", "--train-images", "200", "--test-images", "100", "--epochs", "1",
        "--batch-size", "100", "--quiet", "--device", "cpu", "--out", out)
    assert code == 0, err
    summary = json.loads((out / "comparison.json").read_text())
    assert set(summary["models"]) == {"seed-snn", "seed-ann"}
    snn, ann = summary["models"]["seed-snn"], summary["models"]["seed-ann"]
    assert snn["spiking"] is True and ann["spiking"] is False
    assert snn["parameters"] == ann["parameters"] == 784 * 16 + 16 + 16 * 10 + 10
    for m in (snn, ann):
        assert 0 <= m["test_accuracy_mean"] <= 100 and m["test_accuracy_std"] == 0.0
        assert len(m["runs"]) == 1
    md = (out / "comparison.md").read_text()
    assert "| seed-snn | yes |" in md and "| seed-ann | no |" in md
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "seed-snn-seed0" / "metrics.json").is_file()
    assert "seed-ann" in stdout


def test_compare_with_encoder_gives_the_twin_the_image(capsys, tmp_path, separable_data):
    folder = write_idx_folder(tmp_path / "digits", separable_data)
    out = tmp_path / "cmp"
    code, _, err = run_cli(capsys, "compare", "--model", "lif-mlp", "--encoder", "rate",
                           "--dataset", folder, "--out", out, *TINY)
    assert code == 0, err
    runs = {name: json.loads((out / f"{name}-seed0" / "metrics.json").read_text())
            for name in ("lif-mlp", "ann-mlp")}
    assert runs["lif-mlp"]["config"]["model_options"]["encoder"] == "rate"
    assert runs["ann-mlp"]["config"]["model_options"]["encoder"] is None


# ------------------------------------------------------------------ the shared vocabulary
def _leaf_parsers(parser, name=""):
    """(command words, parser) of every subcommand, nested ones (astdp train) included."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield name, parser
        return
    for word, sub in subs[0].choices.items():
        yield from _leaf_parsers(sub, f"{name} {word}".strip())


def _options(parser) -> dict:
    return {o: a for a in parser._actions for o in a.option_strings if o.startswith("--")}


# an old spelling that is a different, real option of a command
OWN_MEANING = {("unsupervised", "--neurons")}
# trains, but shows no progress to hush (it prints its result table only)
NO_PROGRESS = {"bptt-stdp"}


def test_every_subcommand_speaks_the_shared_vocabulary():
    from hebbtorch.cli import common
    from hebbtorch.cli.main import COMMANDS, build_parser

    leaves = list(_leaf_parsers(build_parser()))
    assert {n.split()[0] for n, _ in leaves} == set(COMMANDS)
    for name, p in leaves:
        command, opts = name.split()[0], _options(p)
        for old, new in common.RENAMED.items():  # old spellings fail naming the new one
            if new in opts and (command, old) not in OWN_MEANING:
                assert isinstance(opts.get(old), common._Renamed), (name, old)
        if "--dataset" in opts:
            assert "--data-root" in opts, name
        if "--device" in opts:
            assert opts["--device"].default == "auto", name
        if "--seed" in opts:
            assert opts["--seed"].type is common.seed_int, name
        if opts.get("--out") is not None and opts["--out"].default is not None:
            assert str(opts["--out"].default).startswith(f"runs/{command}"), name
        if "--resume" in opts:
            assert {"--overwrite", "--quiet"} <= set(opts), name
        if {"--epochs", "--images"} & set(opts) and command not in NO_PROGRESS:
            assert "--quiet" in opts, name  # training commands: progress can be hushed
        if "--time-budget" in opts:  # one helper, one meaning (seconds of this call)
            assert opts["--time-budget"].metavar == "SECONDS", name
            assert "of this call" in opts["--time-budget"].help, name
        for o in ("--batch-size", "--train-images", "--test-images", "--images", "--epochs"):
            if o in opts:
                assert opts[o].type is common.positive_int or opts[o].default == 0, (name, o)


def test_command_summaries_match_their_parsers():
    """``hebbtorch --help`` lists each command from a table (no import); its text is the one
    the command's own module gives."""
    import argparse

    from hebbtorch.cli.main import COMMANDS, build_parser

    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert {a.dest: a.help for a in sub._choices_actions} == COMMANDS
    assert build_parser([]).format_help() == full.format_help()


def test_help_and_version_import_no_torch():
    code = ("import sys, contextlib, io\n"
            "from hebbtorch.cli.main import main\n"
            "for argv in (['--version'], ['--help']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n            main(argv)\n"
            "        except SystemExit as e:\n            assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spikeprop_writes_its_metrics_csv(tmp_path, capsys):
    """SpikeProp runs through the shared run loop: one metrics.csv row per epoch."""
    import csv

    assert main(["spikeprop", "xor", "--epochs", "3", "--target-loss", "1e-9", "--quiet",
                 "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    report = json.loads((tmp_path / "spikeprop_xor.json").read_text())
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] == [h["epoch"] for h in
                                                           report["history"]]
    assert [float(r["loss"]) for r in rows] == [h["loss"] for h in report["history"]]
