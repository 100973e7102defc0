"""BatchNorm followed by ReLU(inplace=True): the pattern of torchvision's ResNets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import nn


@pytest.mark.parametrize("act", ["ReLU", "ReLU6", "LeakyReLU"])
def test_batchnorm_then_inplace_activation_matches_pytorch(act):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 5))
    e = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), getattr(nn, act)(inplace=True),
                      nn.Conv2d(4, 2, 1)).double()
    t = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                            getattr(torch.nn, act)(inplace=True),
                            torch.nn.Conv2d(4, 2, 1)).double()
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in
                       e.state_dict().items()})
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (e(xe) ** 2).sum().backward()
    (t(xt) ** 2).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), q in zip(e.named_parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_changing_the_statistics_of_batch_norm_in_place_is_still_caught():
    x = ember.randn(4, 3, requires_grad=True)
    from ember.autograd.node import apply

    y, mean, var = apply(ember.ops.REGISTRY["batch_norm"], x, None, None, 1e-5)
    with ember.no_grad():
        mean.mul_(2.0)
    with pytest.raises(ember.errors.AutogradError, match="modified in place"):
        y.sum().backward()
