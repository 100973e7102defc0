"""Op table rows for shape ops: reshape/view, transpose, permute, (un)squeeze, flatten,
broadcast_to/expand, cat, stack, split, chunk, tile, repeat, flip, roll and pad in its five
modes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as tF

import ember

from .harness import ALL, FLOAT, OpInfo, S


def _x(rng, *shape):
    return rng.standard_normal(shape)


def _each(shape_kwargs):
    """Samples of one normal input per (name, shape, kwargs)."""
    def samples(rng):
        return [S(_x(rng, *shape), name=n, **kw) for n, shape, kw in shape_kwargs]

    return samples


def _list_samples(rng):
    return [
        S(_x(rng, 2, 3), _x(rng, 1, 3), name="d0", dim=0),
        S(_x(rng, 2, 3), _x(rng, 2, 1), _x(rng, 2, 2), name="d1_three", dim=1),
        S(_x(rng, 2, 3), _x(rng, 2, 2), name="neg", dim=-1),
        S(_x(rng, 2), name="single", dim=0),
    ]


def _stack_samples(rng):
    return [
        S(_x(rng, 2, 3), _x(rng, 2, 3), name="d0", dim=0),
        S(_x(rng, 2, 3), _x(rng, 2, 3), _x(rng, 2, 3), name="d2", dim=2),
        S(_x(rng, 3), _x(rng, 3), name="neg", dim=-1),
        S(_x(rng), _x(rng), name="0d", dim=0),
    ]


def _symmetric_torch(x, pad):
    """Symmetric padding in PyTorch by gathering along each axis at NumPy's pad indices."""
    for i in range(len(pad) // 2):
        axis = x.ndim - 1 - i
        idx = np.pad(np.arange(x.shape[axis]), (pad[2 * i], pad[2 * i + 1]), mode="symmetric")
        x = torch.index_select(x, axis, torch.from_numpy(idx))
    return x


PAD_CASES = [  # name, input shape, pad
    ("1d", (2, 5), (2, 3)),
    ("1d_batched", (2, 2, 5), (4, 1)),
    ("2d", (1, 2, 4, 3), (1, 2, 2, 1)),
    ("2d_one_side", (2, 3, 4), (0, 2, 3, 0)),
    ("3d", (1, 1, 3, 3, 4), (1, 2, 2, 1, 1, 3)),
]


def _pad_samples(mode):
    def samples(rng):
        out = []
        for name, shape, pad in PAD_CASES:
            if mode == "reflect":  # reflect needs pad < size; torch's circular needs <= size
                pad = tuple(min(p, shape[-1 - i // 2] - 1) for i, p in enumerate(pad))
            kw = {"value": -1.5} if mode == "constant" else {}
            out.append(S(_x(rng, *shape), name=name, pad=pad, mode=mode, **kw))
        return out

    return samples


def _torch_pad(x, pad, mode, value=0.0):
    if mode == "symmetric":
        return _symmetric_torch(x, pad)
    if mode == "constant":
        return tF.pad(x, pad, mode="constant", value=value)
    return tF.pad(x, pad, mode=mode)


def _torch_roll(x, shifts, dims=None):
    return torch.roll(x, shifts, dims)


SHAPE = [
    OpInfo("reshape", lambda x, shape: ember.reshape(x, shape),
           lambda x, shape: torch.reshape(x, shape), _each([
               ("2d_to_3d", (2, 6), {"shape": (3, 2, 2)}), ("infer", (2, 3, 2), {"shape": (-1, 4)}),
               ("to_0d", (1, 1), {"shape": ()}), ("from_0d", (), {"shape": (1, 1)}),
               ("same", (2, 3), {"shape": (2, 3)})]), dtypes=ALL),
    OpInfo("view_method", lambda x: x.view(3, -1), lambda x: x.view(3, -1),
           _each([("2d", (2, 6), {})]), dtypes=ALL),
    OpInfo("transpose", ember.transpose, torch.transpose, _each([
        ("2d", (2, 3), {"dim0": 0, "dim1": 1}), ("3d_neg", (2, 3, 4), {"dim0": -1, "dim1": 0})]),
        dtypes=ALL),
    OpInfo("T", lambda x: x.T, lambda x: x.permute(*reversed(range(x.ndim))),
           _each([("2d", (2, 3), {}), ("3d", (2, 3, 4), {}), ("1d", (3,), {})])),
    OpInfo("mT", lambda x: x.mT, lambda x: x.mT, _each([("3d", (2, 3, 4), {})])),
    OpInfo("permute", lambda x, dims: ember.permute(x, dims),
           lambda x, dims: torch.permute(x, dims), _each([
        ("3d", (2, 3, 4), {"dims": (2, 0, 1)}), ("neg", (2, 3, 4), {"dims": (-1, 0, -2)}),
        ("0d", (), {"dims": ()})]), dtypes=ALL),
    OpInfo("moveaxis", ember.moveaxis, torch.moveaxis, _each([
        ("one", (2, 3, 4), {"source": 0, "destination": -1}),
        ("two", (2, 3, 4), {"source": (0, 1), "destination": (2, 0)})])),
    OpInfo("unsqueeze", ember.unsqueeze, torch.unsqueeze, _each([
        ("front", (2, 3), {"dim": 0}), ("back_neg", (2, 3), {"dim": -1}),
        ("middle", (2, 3), {"dim": 1}), ("0d", (), {"dim": 0})]), dtypes=ALL),
    OpInfo("expand_dims", lambda x, axis: ember.expand_dims(x, axis),
           lambda x, axis: torch.unsqueeze(x, axis), _each([("2d", (2, 3), {"axis": 2})])),
    OpInfo("squeeze", ember.squeeze, torch.squeeze, _each([
        ("all", (1, 2, 1, 3), {}), ("dim", (1, 2, 1, 3), {"dim": 2}),
        ("dim_not_1", (1, 2, 1, 3), {"dim": 1}), ("tuple", (1, 2, 1, 3), {"dim": (0, -2)}),
        ("0d", (), {})]), dtypes=ALL),
    OpInfo("flatten", ember.flatten, torch.flatten, _each([
        ("all", (2, 3, 4), {}), ("middle", (2, 3, 4, 2), {"start_dim": 1, "end_dim": 2}),
        ("neg", (2, 3, 4), {"start_dim": -2}), ("0d", (), {})]), dtypes=ALL),
    OpInfo("unflatten", ember.unflatten, torch.unflatten, _each([
        ("mid", (2, 6), {"dim": 1, "sizes": (2, 3)})])),
    OpInfo("broadcast_to", lambda x, size: ember.broadcast_to(x, size),
           lambda x, size: torch.broadcast_to(x, size), _each([
        ("row", (3,), {"size": (2, 3)}), ("col", (2, 1), {"size": (2, 4)}),
        ("0d", (), {"size": (2, 2)}), ("lead", (1, 3), {"size": (2, 2, 3)})]), dtypes=ALL),
    OpInfo("expand", lambda x, *s: x.expand(*s), lambda x, *s: x.expand(*s), lambda rng: [
        S(_x(rng, 2, 1), 2, 4, name="ints"), S(_x(rng, 2, 1), 3, -1, 5, name="neg1_lead"),
        S(_x(rng, 3), (2, 3), name="tuple")], dtypes=ALL),
    OpInfo("cat", lambda *xs, dim: ember.cat(list(xs), dim),
           lambda *xs, dim: torch.cat(list(xs), dim), _list_samples, dtypes=ALL),
    OpInfo("concat", lambda *xs, dim: ember.concat(xs, axis=dim),
           lambda *xs, dim: torch.concat(xs, dim), _list_samples),
    OpInfo("stack", lambda *xs, dim: ember.stack(list(xs), dim),
           lambda *xs, dim: torch.stack(list(xs), dim), _stack_samples, dtypes=ALL),
    OpInfo("split", ember.split, torch.split, _each([
        ("size", (5, 2), {"split_size_or_sections": 2}),
        ("sizes", (2, 6), {"split_size_or_sections": [1, 3, 2], "dim": 1}),
        ("neg", (2, 4), {"split_size_or_sections": 4, "dim": -1})]), dtypes=ALL),
    OpInfo("chunk", ember.chunk, torch.chunk, _each([
        ("even", (6, 2), {"chunks": 3}), ("uneven", (2, 5), {"chunks": 2, "dim": 1}),
        ("more_than_size", (2, 3), {"chunks": 5, "dim": -1})]), dtypes=ALL),
    OpInfo("unbind", ember.unbind, torch.unbind, _each([("d1", (2, 3), {"dim": 1})])),
    OpInfo("tile", ember.tile, lambda x, reps: torch.tile(x, reps), _each([
        ("2d", (2, 3), {"reps": (2, 1)}), ("more_reps", (2, 3), {"reps": (2, 1, 3)}),
        ("fewer_reps", (2, 3), {"reps": (2,)}), ("0d", (), {"reps": (3,)})]), dtypes=ALL),
    OpInfo("repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: x.repeat(*sizes),
           _each([("same_ndim", (2, 3), {"sizes": (2, 2)}), ("more", (2, 3), {"sizes": (2, 1, 3)}),
                  ("0d", (), {"sizes": (2,)})]), dtypes=ALL),
    OpInfo("repeat_interleave", ember.repeat_interleave, torch.repeat_interleave, _each([
        ("dim", (2, 3), {"repeats": 2, "dim": 1}), ("flat", (2, 3), {"repeats": 3})])),
    OpInfo("flip", ember.flip, torch.flip, _each([
        ("one", (2, 3), {"dims": (0,)}), ("two_neg", (2, 3, 4), {"dims": (-1, 0)})]),
        dtypes=ALL),
    OpInfo("flip_int_dim", lambda x: ember.flip(x, 1), lambda x: torch.flip(x, (1,)),
           _each([("2d", (2, 3), {})])),
    OpInfo("roll", ember.roll, _torch_roll, _each([
        ("flat", (2, 3), {"shifts": 4}), ("dim", (2, 3), {"shifts": -1, "dims": 1}),
        ("two", (2, 3, 4), {"shifts": (1, 5), "dims": (0, -1)})]), dtypes=ALL),
] + [
    OpInfo(f"pad_{mode}", ember.pad, _torch_pad, _pad_samples(mode), dtypes=FLOAT)
    for mode in ("constant", "reflect", "symmetric", "replicate", "circular")
]
