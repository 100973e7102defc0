"""ember.data: datasets, a prefetching ``DataLoader``, samplers, transforms and dataset loaders.

PyTorch's names: ``Dataset``, ``IterableDataset``, ``TensorDataset``, ``ConcatDataset``,
``Subset``, ``random_split``, ``DataLoader`` and the samplers; ``ArrayDataset`` keeps whole
arrays in memory and gets a one-fancy-index-per-batch fast path. ``ember.data.transforms``
holds torchvision-style transforms that also run on whole batches, and
``ember.data.datasets`` reads digits, MNIST, CIFAR, image folders and tabular files.

Example:
    >>> import ember
    >>> from ember.data import DataLoader, datasets
    >>> ds = datasets.digits()
    >>> x, y = next(iter(DataLoader(ds, batch_size=32, shuffle=True)))
    >>> x.shape, y.dtype
    ((32, 1, 8, 8), ember.int64)
"""

from __future__ import annotations

from . import datasets, transforms
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
    ArrayDataset,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .worker import WorkerError, WorkerInfo, get_worker_info, sample_generator

__all__ = [
    "ArrayDataset", "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
    "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
    "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "WorkerError",
    "WorkerInfo", "datasets", "default_collate", "default_convert", "get_worker_info",
    "random_split", "sample_generator", "transforms",
]
