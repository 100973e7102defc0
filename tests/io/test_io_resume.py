"""Checkpoints in anger: a process killed mid-save, and training resumed bit for bit."""

from __future__ import annotations

import glob
import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
import ember.io
import ember.optim
from ember.optim import lr_scheduler

WRITER = textwrap.dedent("""
    import sys
    import ember, ember.io
    path = sys.argv[1]
    sets = [(ember.full((6_000_000,), float(k)), ember.full((1000, 1000), float(k),
                                                           dtype=ember.float64)) for k in (1, 2)]
    print("ready", flush=True)
    i = 1
    while True:  # nearly all the time is spent inside save
        a, b = sets[i % 2]
        ember.io.save({"version": i, "a": a, "b": b, "meta": {"step": i, "tag": "x" * (i % 7)}},
                      path)
        i += 1
""")


def _check_whole(path) -> int:
    ckpt = ember.io.load(path)
    v = ckpt["version"]
    assert ckpt["meta"] == {"step": v, "tag": "x" * (v % 7)}
    assert ckpt["a"].shape == (6_000_000,) and ckpt["b"].shape == (1000, 1000)
    value = 1 + v % 2  # the writer alternates between two sets of values
    assert (ckpt["a"].data == value).all() and (ckpt["b"].data == value).all()
    return v


def test_killed_in_the_middle_of_saving_leaves_a_whole_checkpoint(tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    ember.io.save({"version": 0, "a": ember.ones(6_000_000),
                   "b": ember.ones(1000, 1000, dtype=ember.float64),
                   "meta": {"step": 0, "tag": ""}}, path)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ember.__file__)))
    rng = random.Random(0)
    versions, interrupted = [], 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE,
                                env=env)
        assert proc.stdout.readline().strip() == b"ready"
        try:
            proc.wait(timeout=0.15 + rng.random() * 0.5)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        proc.stdout.close()
        versions.append(_check_whole(path))
        leftovers = glob.glob(str(tmp_path / ".ckpt.safetensors.*.tmp"))
        interrupted += bool(leftovers)
        for f in leftovers:  # a killed writer cannot clean up its temporary file
            os.unlink(f)
    assert interrupted >= 1  # the kills did land in the middle of writes
    assert max(versions) >= 1  # and saves did complete in between


def _data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((48, 4)).astype(np.float32)
    y = (np.sin(x @ np.array([1.0, -2.0, 0.5, 1.5])) > 0).astype(np.float32)[:, None]
    return ember.tensor(x), ember.tensor(y)


def _params(seed):
    rng = np.random.default_rng(seed)
    shapes = [(4, 16), (16,), (16, 1)]
    return [ember.tensor(rng.standard_normal(s).astype(np.float32) * 0.5, requires_grad=True)
            for s in shapes]


def _make(kind, params, steps):
    if kind == "adam":
        opt = ember.optim.Adam(params, lr=0.01, amsgrad=True)
        return opt, lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
    opt = ember.optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}], lr=0.05,
                          momentum=0.9, nesterov=True)
    return opt, lr_scheduler.SequentialLR(opt, [
        lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=5),
        lr_scheduler.StepLR(opt, step_size=4, gamma=0.7)], milestones=[5])


def _train(kind, steps, path, save_at=None, resume=False):
    """Train for ``steps`` steps (4 batches an epoch, reshuffled); returns the losses."""
    x, y = _data()
    w1, b1, w2 = params = _params(0 if not resume else 99)
    opt, sched = _make(kind, params, steps)
    gen = ember.Generator(seed=3)
    ember.manual_seed(11)
    start, perm = 0, None
    if resume:
        ckpt = ember.io.load(path)
        with ember.no_grad():
            for p, saved in zip(params, ckpt["params"]):
                p.copy_(saved)
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        ember.set_rng_state(ckpt["rng"])
        gen.set_state(ckpt["data_rng"])
        start, perm = ckpt["step"], ckpt["perm"]
    losses = []
    for step in range(start, steps):
        if step % 4 == 0:
            perm = ember.randperm(48, generator=gen)
        idx = perm[(step % 4) * 12:(step % 4 + 1) * 12]
        xb, yb = x[idx], y[idx]
        keep = (ember.rand(12, 16) > 0.2).float() / 0.8  # dropout from the global generator
        h = ((xb @ w1 + b1).relu() * keep) @ w2
        loss = ((h - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        ember.nn.utils.clip_grad_norm_(params, max_norm=1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if save_at is not None and step + 1 == save_at:
            ember.io.save({"params": params, "optimizer": opt.state_dict(),
                           "scheduler": sched.state_dict(), "rng": ember.get_rng_state(),
                           "data_rng": gen.get_state(), "perm": perm, "step": step + 1}, path)
    return losses


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_resume_reproduces_the_losses_bit_for_bit(tmp_path, kind):
    path = tmp_path / "ckpt.safetensors"
    full = _train(kind, 24, path, save_at=10)
    resumed = _train(kind, 24, path, resume=True)
    assert len(resumed) == 14
    assert resumed == full[10:]
    assert len(set(full)) > 20  # the losses do change from step to step
