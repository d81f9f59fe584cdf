"""Data: the IDX format, named image data sets and their downloads."""

from hebbtorch.data.datasets import (
    DATASETS,
    ImageDataset,
    dataset_names,
    load_dataset,
    mnist5k_split_indices,
)
from hebbtorch.data.download import download_dataset, download_file, md5sum
from hebbtorch.data.idx import read_idx, write_idx

__all__ = [
    "DATASETS",
    "ImageDataset",
    "dataset_names",
    "download_dataset",
    "download_file",
    "load_dataset",
    "md5sum",
    "mnist5k_split_indices",
    "read_idx",
    "write_idx",
]
