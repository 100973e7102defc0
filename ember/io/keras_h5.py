"""Read Keras weight files (``.weights.h5`` of Keras 3, ``.h5`` of Keras 2) through h5py.

Keras 3 writes ``layers/<path>/vars/<i>`` datasets (the group's ``name`` attribute holds the
layer's own name; a recurrent layer's variables sit in its ``cell/vars``); Keras 2 writes
``[model_weights/]<layer>/<layer>/<var>:0`` with the layer order in a ``layer_names``
attribute and each layer's variables in ``weight_names``. Both come back as one flat dict
keyed ``"<layer name>/vars/<i>"`` (the i-th variable of the layer, in Keras's order: kernel,
bias; gamma, beta, moving mean, moving variance ...), with Keras's layouts untouched: Dense
kernels are ``(in, out)``, Conv2D kernels ``(h, w, in, out)``. ``ember.zoo.load_weights``
maps these names and layouts onto a model. Needs ``h5py`` (``pip install ember[h5]``);
nothing in the file is executed.

Example:
    >>> import h5py, numpy as np, os, tempfile
    >>> from ember.io.keras_h5 import read_keras_h5
    >>> path = os.path.join(tempfile.mkdtemp(), "m.weights.h5")
    >>> with h5py.File(path, "w") as f:
    ...     g = f.create_group("layers/dense/vars")
    ...     g.attrs["name"] = "fc"
    ...     _ = g.create_dataset("0", data=np.ones((4, 2), np.float32))
    ...     _ = g.create_dataset("1", data=np.zeros(2, np.float32))
    >>> {k: v.shape for k, v in read_keras_h5(path).items()}
    {'fc/vars/0': (4, 2), 'fc/vars/1': (2,)}
"""

from __future__ import annotations

import os

import numpy as np

from .safetensors_io import CheckpointError

__all__ = ["read_keras_h5"]


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("reading Keras .h5 weights needs h5py: pip install 'ember[h5]' "
                          "(or pip install h5py)") from None
    return h5py


def _text(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _keras3(root, h5py) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}

    def own_vars(group, where: str) -> list:
        order = sorted((k for k in group if k.isdigit()), key=int)
        if [int(k) for k in order] != list(range(len(order))):
            raise CheckpointError(f"read_keras_h5: {where} has variables {order}; expected "
                                  f"0..{len(order) - 1}")
        return [np.asarray(group[k]) for k in order]

    def collect(group, acc: list) -> None:
        """A layer's variables: its own, then its parts' (an RNN's cell, a wrapper's layers)."""
        if isinstance(group.get("vars"), h5py.Group):
            acc += own_vars(group["vars"], group.name)
        parts = [k for k in group if k not in ("vars", "layers")
                 and isinstance(group[k], h5py.Group)]
        for k in sorted(parts, key=lambda k: (k != "forward_layer", k)):
            collect(group[k], acc)

    def walk(layers) -> None:
        for key in sorted(layers):
            group = layers[key]
            if not isinstance(group, h5py.Group):
                continue
            vars_group = group.get("vars")
            name = _text(vars_group.attrs.get("name", key)) if vars_group is not None else key
            found: list = []
            collect(group, found)
            for i, arr in enumerate(found):
                out[f"{name}/vars/{i}"] = arr
            if isinstance(group.get("layers"), h5py.Group):  # a nested model
                walk(group["layers"])

    layers = root.get("layers")
    if layers is None:
        raise CheckpointError("read_keras_h5: no 'layers' group; not a Keras weights file")
    walk(layers)
    return out


def _keras2(root) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for layer in (_text(n) for n in root.attrs["layer_names"]):
        group = root[layer]
        for wname in (_text(n) for n in group.attrs.get("weight_names", [])):
            # "dense/kernel:0", "lstm/lstm_cell/kernel:0"; a nested model's group holds its
            # layers' weights ("block1_conv1/kernel:0"): each goes to the layer it names
            owner = wname.split("/", 1)[0] if "/" in wname else layer
            i = counts[owner] = counts.get(owner, -1) + 1
            out[f"{owner}/vars/{i}"] = np.asarray(group[wname])
    return out


def read_keras_h5(path) -> dict[str, np.ndarray]:
    """Read every layer variable of a Keras ``.weights.h5``/``.h5`` file as NumPy arrays.

    Args:
        path: a file written by Keras 3 ``save_weights``/``save`` or Keras 2 ``save``/
            ``save_weights`` (HDF5), or a binary file object holding one.

    Returns:
        ``{"<layer name>/vars/<i>": array}`` in Keras's layouts (optimizer state skipped).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: an HDF5 file without Keras weights, or a damaged one.
    """
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"read_keras_h5: no such file {path!r}")
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CheckpointError(f"read_keras_h5: {path!r} is not a readable HDF5 file ({e})") \
            from None
    with f:
        if "model_weights" in f:  # Keras 2 whole-model .h5
            return _keras2(f["model_weights"])
        if "layer_names" in f.attrs:  # Keras 2 save_weights
            return _keras2(f)
        if "layers" in f:
            return _keras3(f, h5py)
        raise CheckpointError(f"read_keras_h5: {path!r} holds neither Keras 3 ('layers/.../"
                              "vars') nor Keras 2 ('layer_names') weights")
