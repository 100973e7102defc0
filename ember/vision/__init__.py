"""``ember.vision``: image ops a PyTorch user knows from ``torchvision.ops``.

``nms``, ``batched_nms``, ``box_iou``, ``roi_align`` and ``deform_conv2d`` live in
``ember/vision/ops.py``, written as composites of ember ops (``roi_align`` and
``deform_conv2d`` differentiate through them).
"""

from __future__ import annotations

from .ops import batched_nms, box_area, box_iou, deform_conv2d, nms, roi_align

__all__ = ["batched_nms", "box_area", "box_iou", "deform_conv2d", "nms", "roi_align"]
