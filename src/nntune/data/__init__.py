"""Data: built-in datasets, splits, labels, mini-batches, augmentation, files.

Files larger than memory are read out of core: :func:`open_mapped`.
"""

from .augment import (
    Augment,
    GaussianNoise,
    HorizontalFlip,
    RandomRotation,
    RandomShift,
    rotate,
)
from .datasets import DATASETS, Dataset, list_datasets, load_dataset
from .formats import DataFileError
from .io import load_file, save_file
from .mapped import MappedArray, open_mapped
from .preprocessing import one_hot
from .split import Split, split_warnings, train_dev_test_split

__all__ = [
    "DATASETS",
    "Augment",
    "DataFileError",
    "Dataset",
    "GaussianNoise",
    "HorizontalFlip",
    "MappedArray",
    "RandomRotation",
    "RandomShift",
    "Split",
    "list_datasets",
    "load_dataset",
    "load_file",
    "one_hot",
    "open_mapped",
    "rotate",
    "save_file",
    "split_warnings",
    "train_dev_test_split",
]
