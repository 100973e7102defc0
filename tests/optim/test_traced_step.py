"""Optimisers inside ember.jit: the traced step records the same update rule as ops.

Losses of a jit-compiled training step equal the eager step's exactly, for every optimiser,
over several replays (so step-dependent coefficients such as Adam's bias corrections are
computed in the graph, not frozen), and eager steps after jit steps continue the same run.
"""

import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

CASES = [
    (ember.optim.Adam, dict(lr=1e-2)),
    (ember.optim.AdamW, dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
    (ember.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (ember.optim.RMSprop, dict(lr=1e-2, centered=True, momentum=0.5)),
    (ember.optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
]


def _build(cls, kw):
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    return model, cls(model.parameters(), **kw)


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("cls,kw", CASES, ids=[c[0].__name__ for c in CASES])
def test_jit_training_step_matches_eager_exactly(cls, kw):
    gen = ember.Generator(seed=3)
    x, y = ember.randn(16, 4, generator=gen), ember.randint(0, 3, (16,), generator=gen)
    m1, o1 = _build(cls, kw)
    m2, o2 = _build(cls, kw)
    compiled = ember.jit(lambda: _step(m2, o2, x, y))
    eager = [_step(m1, o1, x, y).item() for _ in range(6)]
    jitted = [compiled().item() for _ in range(6)]
    assert eager == jitted
    assert len(compiled.retrace_reasons) <= 2  # the first call, then steady state
    assert _step(m1, o1, x, y).item() == _step(m2, o2, x, y).item()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert (p1.detach().numpy() == p2.detach().numpy()).all()


def test_dropout_draws_a_fresh_mask_each_jit_step_like_eager():
    def run(compiled: bool):
        ember.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
        opt = ember.optim.SGD(model.parameters(), lr=0.1)
        gen = ember.Generator(seed=5)
        x, y = ember.randn(16, 4, generator=gen), ember.randint(0, 3, (16,), generator=gen)
        def step():
            return _step(model, opt, x, y)

        run_step = ember.jit(step) if compiled else step
        return [run_step().item() for _ in range(6)]

    eager, jitted = run(False), run(True)
    assert eager == jitted
    assert len(set(eager)) == len(eager)  # a different mask every step
