"""Op table rows for resampling: F.interpolate in each mode (the ``resample`` primitive and its
transpose ``resample_grad``, reached through its vjp) and pixel (un)shuffle."""

from __future__ import annotations

import torch
import torch.nn.functional as tF

import ember.nn.functional as F

from .harness import OpInfo, S


def _samples(cases):
    def samples(rng):
        return [S(rng.standard_normal(shape), name=name, **kw) for name, shape, kw in cases]

    return samples


RESAMPLE = [
    OpInfo("interpolate", F.interpolate, tF.interpolate, _samples([
        ("nearest_up", (1, 2, 3, 4), {"scale_factor": 1.5}),
        ("nearest_exact_down", (1, 2, 5, 4), {"size": (3, 3), "mode": "nearest-exact"}),
        ("linear", (2, 2, 4), {"size": 7, "mode": "linear"}),
        ("bilinear_corners", (1, 2, 3, 4), {"scale_factor": 2, "mode": "bilinear",
                                            "align_corners": True}),
        ("bilinear_antialias", (1, 1, 6, 5), {"size": (3, 2), "mode": "bilinear",
                                              "antialias": True}),
        ("bicubic", (1, 2, 3, 4), {"size": (5, 6), "mode": "bicubic"}),
        ("area", (1, 2, 5, 7), {"size": (2, 3), "mode": "area"}),
    ]), dtypes=("float32", "float64")),
    OpInfo("pixel_shuffle", F.pixel_shuffle, torch.pixel_shuffle, _samples([
        ("r2", (1, 8, 2, 3), {"upscale_factor": 2})]), dtypes=("float32", "float64")),
    OpInfo("pixel_unshuffle", F.pixel_unshuffle, torch.pixel_unshuffle, _samples([
        ("r2", (1, 2, 4, 6), {"downscale_factor": 2})]), dtypes=("float32", "float64")),
]
