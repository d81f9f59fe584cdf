"""Data: the IDX format, named image data sets and their downloads."""

from hebbtorch.data.cue_accumulation import CueTrials, cue_accumulation
from hebbtorch.data.datasets import (
    DATASETS,
    ImageDataset,
    dataset_names,
    load_dataset,
    mnist5k_split_indices,
)
from hebbtorch.data.download import download_dataset, download_file, md5sum
from hebbtorch.data.idx import read_idx, write_idx
from hebbtorch.data.iris import load_iris
from hebbtorch.data.preflight import DataShape, check_splits

__all__ = [
    "CueTrials",
    "DATASETS",
    "DataShape",
    "check_splits",
    "cue_accumulation",
    "load_iris",
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
