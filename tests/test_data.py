"""hebbtorch.data: IDX files, data set lookup and loading, downloads from a local server."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hebbtorch.data import (
    DATASETS,
    ImageDataset,
    dataset_names,
    download_dataset,
    download_file,
    load_dataset,
    md5sum,
    mnist5k_split_indices,
    read_idx,
    write_idx,
)
from hebbtorch.data import download as download_mod
from hebbtorch.data.idx import encode_idx, parse_idx
from hebbtorch.errors import HebbtorchError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def make_idx_set(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True,
                 size: int = 4, n_classes: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny fake MNIST-style set (4 IDX files) into ``folder``; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % n_classes).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % n_classes).astype(np.uint8),
    }
    for stem, arr in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arr)
    return arrays


# ----------------------------------------------------------------------------------- IDX format

IDX_DTYPES = [np.uint8, np.int8, ">i2", "<i2", np.int32, np.float32, np.float64]


@settings(max_examples=40, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from(IDX_DTYPES).map(np.dtype),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    compress=st.booleans(),
)
def test_idx_round_trip(arr: np.ndarray, compress: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("x.idx.gz" if compress else "x.idx")
        write_idx(path, arr)
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
        out = read_idx(path)
    assert out.shape == arr.shape
    assert out.dtype == arr.dtype.newbyteorder("=")
    assert out.flags.writeable
    np.testing.assert_array_equal(out, arr)  # NaNs compare equal here


def test_idx_header_bytes_match_spec() -> None:
    data = encode_idx(np.zeros((2, 3), dtype=np.uint8))
    assert data[:4] == b"\x00\x00\x08\x02"
    assert data[4:12] == b"\x00\x00\x00\x02\x00\x00\x00\x03"
    assert len(data) == 12 + 6
    # Multi-byte values are big-endian.
    assert encode_idx(np.array([1], dtype=np.int32))[8:] == b"\x00\x00\x00\x01"


def test_gzip_detected_by_magic_not_extension(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz_no_ext = tmp_path / "images"
    write_idx(gz_no_ext, arr, compress=True)
    raw_with_gz_ext = tmp_path / "images.gz"
    write_idx(raw_with_gz_ext, arr, compress=False)
    np.testing.assert_array_equal(read_idx(gz_no_ext), arr)
    np.testing.assert_array_equal(read_idx(raw_with_gz_ext), arr)


def test_write_idx_is_deterministic(tmp_path: Path) -> None:
    arr = np.arange(10, dtype=np.uint8)
    a, b = write_idx(tmp_path / "a.gz", arr), write_idx(tmp_path / "b.gz", arr)
    assert md5sum(a) == md5sum(b)


@pytest.mark.parametrize("bad", [np.zeros(3, dtype=bool), np.zeros(3, dtype=np.int64),
                                 np.zeros(3, dtype=np.uint16), np.array(5, dtype=np.uint8)])
def test_write_idx_rejects_unsupported(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(HebbtorchError, match="IDX"):
        write_idx(tmp_path / "x", bad)
    assert not (tmp_path / "x").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


GOOD = encode_idx(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))  # 16-byte header + 60


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"\x01" + GOOD[1:], r"not an IDX file.*0x01 0x00, expected 0x00 0x00"),
        (GOOD[:2] + b"\x07" + GOOD[3:], r"unknown IDX dtype code 0x07"),
        (GOOD[:-1], r"truncated.*= 76 bytes in all, file has 75 bytes"),
        (GOOD + b"\x00\x00", r"trailing bytes.*= 76 bytes in all, file has 78 bytes"),
        (GOOD[:10], r"truncated inside its header: 10 bytes.*needs 16"),
        (b"\x00\x00", r"too short for an IDX header"),
        (b"\x00\x00\x08\x00", r"0 dimensions"),
    ],
    ids=["bad-magic", "bad-dtype", "truncated", "trailing", "short-header", "tiny", "0-d"],
)
def test_corrupt_idx_raises(tmp_path: Path, data: bytes, pattern: str) -> None:
    for name, payload in (("raw", data), ("gz", gzip.compress(data))):
        path = _write(tmp_path / f"bad-{name}", payload)
        with pytest.raises(HebbtorchError, match=pattern) as info:
            read_idx(path)
        assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [b"\x1f\x8b" + b"garbage" * 10, gzip.compress(GOOD)[:-12], gzip.compress(GOOD)[:20]],
    ids=["garbage", "cut-trailer", "cut-stream"],
)
def test_bad_gzip_raises(tmp_path: Path, payload: bytes) -> None:
    path = _write(tmp_path / "train-images-idx3-ubyte.gz", payload)
    with pytest.raises(HebbtorchError, match="not a valid gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_idx_file(tmp_path: Path) -> None:
    with pytest.raises(HebbtorchError, match="not found"):
        read_idx(tmp_path / "nope.gz")


def test_parse_idx_big_endian_values() -> None:
    arr = np.array([[1, -2], [300, 70000]], dtype=np.int32)
    out = parse_idx(encode_idx(arr))
    assert out.dtype == np.dtype("=i4")
    np.testing.assert_array_equal(out, arr)


# ----------------------------------------------------------------------------- ImageDataset


def test_image_dataset_basics() -> None:
    ds = ImageDataset(torch.zeros(4, 2, 3, dtype=torch.uint8), torch.tensor([0, 1, 2, 1]),
                      ["a", "b", "c"], name="toy")
    assert len(ds) == 4 and ds.num_classes == 3 and ds.image_shape == (2, 3)
    image, label = ds[2]
    assert image.dtype == torch.uint8 and image.shape == (2, 3) and label == 2
    assert ds.labels.dtype == torch.int64
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch[0].shape == (4, 2, 3) and batch[1].tolist() == [0, 1, 2, 1]


@pytest.mark.parametrize(
    ("images", "labels", "pattern"),
    [
        (torch.zeros(3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), "3 entries but labels"),
        (torch.zeros(2, 2, 2, dtype=torch.uint8), torch.tensor([0, 3]), r"0\.\.2.*found 0\.\.3"),
        (torch.zeros(2, 2, 2, dtype=torch.uint8), torch.tensor([-1, 0]), "must be in"),
        (torch.zeros(2, 2, 2), torch.tensor([0, 1]), "uint8"),
        (torch.zeros(2, 4, dtype=torch.uint8), torch.tensor([0, 1]), r"\[N, H, W\]"),
        (torch.zeros(2, 2, 2, dtype=torch.uint8), torch.tensor([0.0, 1.0]), "integer"),
    ],
)
def test_image_dataset_validation(images: torch.Tensor, labels: torch.Tensor, pattern: str) -> None:
    with pytest.raises(HebbtorchError, match=pattern):
        ImageDataset(images, labels, ["a", "b", "c"])


# ----------------------------------------------------------------------------- folder layouts


@pytest.mark.parametrize("gz", [True, False])
def test_flat_idx_folder(tmp_path: Path, gz: bool) -> None:
    arrays = make_idx_set(tmp_path / "toy", gz=gz)
    for name in (f"idx:{tmp_path / 'toy'}", str(tmp_path / "toy")):
        train = load_dataset(name, "train")
        test = load_dataset(name, "test")
        assert (len(train), len(test)) == (12, 5)
        assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
        np.testing.assert_array_equal(train.images.numpy(), arrays["train-images-idx3-ubyte"])
        np.testing.assert_array_equal(test.labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
        assert train.classes == ["0", "1", "2"] == test.classes
        assert train.name == "toy" and train.split == "train"


def test_classes_agree_across_splits(tmp_path: Path) -> None:
    make_idx_set(tmp_path, n_test=2, n_classes=4)  # test labels only reach 1
    assert load_dataset(f"idx:{tmp_path}", "test").classes == ["0", "1", "2", "3"]


def test_torchvision_layout(tmp_path: Path) -> None:
    arrays = make_idx_set(tmp_path / "MNIST" / "raw", gz=False)
    # As a named set with root=..., and as a generic folder.
    named = load_dataset("mnist", "train", root=tmp_path)
    generic = load_dataset(f"idx:{tmp_path}", "train")
    for ds in (named, generic):
        np.testing.assert_array_equal(ds.images.numpy(), arrays["train-images-idx3-ubyte"])
    assert named.classes == [str(d) for d in range(10)] and named.name == "mnist"
    # Passing torchvision's <root>/MNIST works too.
    assert len(load_dataset("mnist", "test", root=tmp_path / "MNIST")) == 5


def test_fashion_torchvision_layout_under_root(tmp_path: Path) -> None:
    make_idx_set(tmp_path / "FashionMNIST" / "raw")
    ds = load_dataset("fashion-mnist", "test", root=tmp_path)
    assert len(ds) == 5 and ds.classes[9] == "Ankle boot"


def test_default_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_idx_set(tmp_path / "data" / "mnist")
    assert len(load_dataset("mnist", "train")) == 12


def test_ambiguous_folder(tmp_path: Path) -> None:
    make_idx_set(tmp_path / "MNIST" / "raw")
    make_idx_set(tmp_path / "FashionMNIST" / "raw")
    with pytest.raises(HebbtorchError, match="several IDX data sets"):
        load_dataset(str(tmp_path))


def test_folder_without_split(tmp_path: Path) -> None:
    make_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    assert len(load_dataset(f"idx:{tmp_path}", "train")) == 12
    with pytest.raises(HebbtorchError, match="no test split.*t10k-images-idx3-ubyte"):
        load_dataset(f"idx:{tmp_path}", "test")
    with pytest.raises(HebbtorchError, match="does not exist"):
        load_dataset(f"idx:{tmp_path / 'missing'}")


def test_mismatched_counts_in_folder(tmp_path: Path) -> None:
    make_idx_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(HebbtorchError, match="12 images but .* 11 labels"):
        load_dataset(f"idx:{tmp_path}")


def test_missing_named_set_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HebbtorchError, match=r"(?s)mnist \(test split\) not found.*data/mnist"
                       r".*MNIST/raw.*download=True"):
        load_dataset("mnist", "test")
    with pytest.raises(HebbtorchError, match="(?s)looked.*apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path / "empty")


def test_unknown_name_and_split() -> None:
    with pytest.raises(HebbtorchError, match="unknown data set 'cifar-99'.*mnist, fashion-mnist"):
        load_dataset("cifar-99")
    with pytest.raises(HebbtorchError, match="split must be one of train, test"):
        load_dataset("mnist-5k", "validation")
    assert dataset_names() == list(DATASETS) and {"mnist", "fashion-mnist", "mnist-5k"} <= set(
        dataset_names()
    )


# --------------------------------------------------------------------------------- real sets


def test_mnist5k_split() -> None:
    train = load_dataset("mnist-5k", "train")
    test = load_dataset("mnist-5k", "test")
    assert (len(train), len(test)) == (4000, 1000)
    for ds, per_class in ((train, 400), (test, 100)):
        assert ds.images.shape[1:] == (28, 28) and ds.images.dtype == torch.uint8
        assert ds.labels.bincount(minlength=10).tolist() == [per_class] * 10
        assert int(ds.images.min()) == 0 and int(ds.images.max()) == 255
        # Shuffled, not sorted by class.
        assert (ds.labels[1:] != ds.labels[:-1]).float().mean() > 0.5
    # Disjoint and deterministic.
    train_idx, test_idx = mnist5k_split_indices(np.repeat(np.arange(10), 500))
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    assert len(np.union1d(train_idx, test_idx)) == 5000
    again = load_dataset("mnist-5k", "train")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    # In-place edits of one load do not leak into the next (the parse is cached).
    train.images.zero_()
    assert int(load_dataset("mnist-5k", "train").images.max()) == 255


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_system_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # make sure ./data plays no part
    train = load_dataset("fashion-mnist", "train")
    test = load_dataset("fashion-mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.bincount().tolist() == [1000] * 10
    assert train.source == str(FASHION_DIR)
    assert train.classes[0] == "T-shirt/top"


# ---------------------------------------------------------------------------------- downloads


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder holding a fake MNIST set: yields (base URL, folder)."""
    folder = tmp_path_factory.mktemp("mirror")
    make_idx_set(folder, seed=1)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()


def _dead_url() -> str:
    """A URL on a port nothing listens on (bound then released)."""
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _sums(folder: Path) -> dict[str, str]:
    return {f"{stem}.gz": md5sum(folder / f"{stem}.gz") for stem in IDX_NAMES}


def test_download_dataset_from_local_mirror(http_mirror: tuple[str, Path], tmp_path: Path) -> None:
    url, folder = http_mirror
    # First mirror 404s (wrong folder), second is good: the fallback must be used.
    root = download_dataset("mnist", tmp_path / "dl", mirrors=[url + "missing/", url],
                            md5s=_sums(folder), progress=False, backoff=0)
    for stem in IDX_NAMES:
        assert (root / f"{stem}.gz").read_bytes() == (folder / f"{stem}.gz").read_bytes()
    assert sorted(p.name for p in root.iterdir()) == sorted(f"{s}.gz" for s in IDX_NAMES)
    ds = load_dataset("mnist", "train", root=root)
    assert len(ds) == 12
    # Files already there with the right MD5 are kept without any network access.
    again = download_dataset("mnist", root, mirrors=[_dead_url()], md5s=_sums(folder),
                             progress=False, backoff=0)
    assert again == root


def test_load_dataset_download_flag(http_mirror: tuple[str, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url, folder = http_mirror
    monkeypatch.setitem(download_mod.MIRRORS, "fashion-mnist", (url,))
    monkeypatch.setitem(download_mod.MD5S, "fashion-mnist", _sums(folder))
    ds = load_dataset("fashion-mnist", "test", root=tmp_path / "fm", download=True)
    assert len(ds) == 5 and (tmp_path / "fm" / "t10k-images-idx3-ubyte.gz").is_file()


def test_download_checksum_mismatch(http_mirror: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_mirror
    dest = tmp_path / "dl" / "train-images-idx3-ubyte.gz"
    with pytest.raises(HebbtorchError, match=r"(?s)train-images-idx3-ubyte\.gz.*checksum mismatch"
                       r".*expected md5 0{32}"):
        download_file(url + "train-images-idx3-ubyte.gz", dest, "0" * 32, progress=False)
    assert list(dest.parent.iterdir()) == []  # the bad temporary file was removed
    # The real MNIST checksums do not match the fake files either.
    with pytest.raises(HebbtorchError, match="checksum mismatch"):
        download_dataset("mnist", tmp_path / "dl2", mirrors=[url], progress=False)


def test_download_all_mirrors_fail(tmp_path: Path) -> None:
    dead = _dead_url()
    with pytest.raises(HebbtorchError, match=r"(?s)could not download x\.gz.*every mirror failed"
                       r".*attempt 2/2") as info:
        download_file([dead + "x.gz"], tmp_path / "x.gz", None, retries=2, backoff=0,
                      timeout=2, progress=False)
    assert dead in str(info.value)
    assert not (tmp_path / "x.gz").exists()
    with pytest.raises(HebbtorchError, match="no download source"):
        download_dataset("mnist-5k", tmp_path)


class _ShortHandler(http.server.BaseHTTPRequestHandler):
    """Promises 1000 bytes, sends 10 and hangs up: an interrupted transfer."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"x" * 10)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_download_short_read_is_retried_then_reported(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShortHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/f.gz"
        with pytest.raises(HebbtorchError, match="closed after 10 of 1000 bytes.*attempt 2/2"):
            download_file(url, tmp_path / "f.gz", None, retries=2, backoff=0, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert list(tmp_path.iterdir()) == []
