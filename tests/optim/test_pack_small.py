"""Small parameters with equal step coefficients are updated as one packed flat job: the
same bits as one job each."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.optim import _parallel

MAKERS = {
    "adam": lambda ps: ember.optim.Adam(ps, lr=0.01),
    "adamw_amsgrad": lambda ps: ember.optim.AdamW(ps, lr=0.01, amsgrad=True),
    "sgd_nesterov": lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                               weight_decay=0.01),
    "rmsprop": lambda ps: ember.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda ps: ember.optim.Adagrad(ps, lr=0.1),
}


def _run(make, monkeypatch, small):
    monkeypatch.setattr(_parallel, "SMALL", small)
    rng = np.random.default_rng(2)
    shapes = [(7,), (3, 5), (16,), (4, 4, 2), (6000,), (9,)]
    ps = [ember.nn.Parameter(ember.from_numpy(rng.standard_normal(s).astype(np.float32)))
          for s in shapes]
    ps.append(ember.nn.Parameter(ember.from_numpy(rng.standard_normal(5))))  # float64
    strided = ember.nn.Parameter(ember.from_numpy(
        rng.standard_normal((4, 6)).astype(np.float32)))
    ps.append(strided)
    opt = make(ps)
    for step in range(6):
        opt.zero_grad()
        loss = sum((p * p).sum() + p.sin().sum() * float(step + 1) for p in ps)
        loss.backward()
        if step == 2:
            ps[0].grad = None  # skips a step: its coefficients differ from then on
        opt.step()
    return [p.detach().numpy().copy() for p in ps]


@pytest.mark.parametrize("name", list(MAKERS))
def test_packed_small_parameters_update_bit_for_bit_as_one_job_each(name, monkeypatch):
    packs = []
    real = _parallel._pack_small
    monkeypatch.setattr(_parallel, "_pack_small",
                        lambda jobs: (lambda r: packs.append(len(r[1])) or r)(real(jobs)))
    packed = _run(MAKERS[name], monkeypatch, _parallel.SMALL)
    assert max(packs) >= 1  # the small float32 parameters went as one job
    alone = _run(MAKERS[name], monkeypatch, 0)
    for a, b in zip(packed, alone):
        assert a.dtype == b.dtype and np.array_equal(a, b)
