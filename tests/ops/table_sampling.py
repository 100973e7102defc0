"""Op table rows for spatial sampling and sliding windows: F.grid_sample (the ``grid_gather``
primitive and its transpose ``grid_scatter``, reached through its vjp, with weights composed
of elementwise ops), F.affine_grid, and the ``unfold``/``fold`` primitives."""

from __future__ import annotations

import torch.nn.functional as tF

import ember.nn.functional as F

from .harness import OpInfo, S


def _grid_samples(rng):
    cases = [  # name, spatial dims, mode, padding_mode, align_corners
        ("bilinear_zeros", 2, "bilinear", "zeros", False),
        ("bilinear_border_corners", 2, "bilinear", "border", True),
        ("bilinear_reflection", 2, "bilinear", "reflection", False),
        ("nearest_reflection_corners", 2, "nearest", "reflection", True),
        ("bicubic_zeros", 2, "bicubic", "zeros", False),
        ("bicubic_reflection_corners", 2, "bicubic", "reflection", True),
        ("trilinear_border", 3, "bilinear", "border", False),
    ]
    out = []
    for name, nd, mode, padding_mode, align_corners in cases:
        x_shape = (2, 2, 3, 4) if nd == 2 else (1, 2, 3, 3, 4)
        g_shape = (2, 2, 3, 2) if nd == 2 else (1, 2, 2, 2, 3)
        out.append(S(rng.standard_normal(x_shape), rng.uniform(-1.4, 1.4, g_shape), name=name,
                     mode=mode, padding_mode=padding_mode, align_corners=align_corners))
    return out


def _affine_samples(rng):
    return [S(rng.standard_normal((2, 2, 3)), size=(2, 1, 3, 4), align_corners=False, name="2d"),
            S(rng.standard_normal((1, 3, 4)), size=(1, 1, 2, 3, 2), align_corners=True,
              name="3d_corners")]


def _unfold_samples(rng):
    return [S(rng.standard_normal((2, 2, 4, 5)), kernel_size=2, name="k2"),
            S(rng.standard_normal((1, 2, 6, 7)), kernel_size=(3, 2), dilation=(1, 2),
              padding=1, stride=(2, 1), name="strided")]


def _fold_samples(rng):
    return [S(rng.standard_normal((2, 8, 12)), output_size=(4, 5), kernel_size=2, name="k2"),
            S(rng.standard_normal((1, 12, 21)), output_size=(6, 7), kernel_size=(3, 2),
              dilation=(1, 2), padding=1, stride=(2, 1), name="strided")]


SAMPLING = [
    OpInfo("grid_sample", F.grid_sample, tF.grid_sample, _grid_samples,
           dtypes=("float32", "float64"), tol={"float32": (1e-5, 1e-5)}),
    OpInfo("affine_grid", F.affine_grid, tF.affine_grid, _affine_samples,
           dtypes=("float32", "float64")),
    OpInfo("unfold", F.unfold, tF.unfold, _unfold_samples, dtypes=("float32", "float64")),
    OpInfo("fold", F.fold, tF.fold, _fold_samples, dtypes=("float32", "float64")),
]
