"""Data: built-in datasets (and, later, splits, preprocessing, batches and loaders)."""

from .datasets import DATASETS, Dataset, list_datasets, load_dataset

__all__ = ["DATASETS", "Dataset", "list_datasets", "load_dataset"]
