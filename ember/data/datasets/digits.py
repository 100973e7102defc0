"""scikit-learn's bundled handwritten digits (1,797 8x8 images): the default demo dataset."""

from __future__ import annotations

import numpy as np

from ..dataset import ArrayDataset


def digits(flatten: bool = False) -> ArrayDataset:
    """The UCI handwritten digits that ship with scikit-learn, as an in-memory dataset.

    Pixels are float32 in [0, 1] (the raw 0..16 counts divided by 16); labels are int64 in
    0..9. Nothing is downloaded: scikit-learn carries the data.

    Args:
        flatten: give images as 64-vectors instead of ``(1, 8, 8)``.

    Example:
        >>> from ember.data.datasets import digits
        >>> ds = digits()
        >>> len(ds), ds[0][0].shape, ds.classes[:3]
        (1797, (1, 8, 8), [0, 1, 2])
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("digits() reads the copy bundled with scikit-learn: "
                          "pip install scikit-learn") from None
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    x = x if flatten else x.reshape(-1, 1, 8, 8)
    ds = ArrayDataset(np.ascontiguousarray(x), bunch.target.astype(np.int64))
    ds.classes = list(range(10))
    return ds
