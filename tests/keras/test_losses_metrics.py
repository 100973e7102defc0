"""Keras losses against PyTorch, metrics against scikit-learn, optimisers against ember.optim."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from sklearn.metrics import precision_score, recall_score, roc_auc_score

import ember
from ember.keras import activations, losses, metrics, optimizers

rng = np.random.default_rng(0)


def t64(a):
    return ember.tensor(np.asarray(a, np.float64))


def probs(n, c):
    logits = rng.standard_normal((n, c))
    return logits, np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def test_sparse_and_categorical_crossentropy_match_torch():
    logits, p = probs(6, 4)
    y = rng.integers(0, 4, 6)
    ref = TF.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    sparse = losses.SparseCategoricalCrossentropy()
    assert sparse(ember.tensor(y), t64(p)).item() == pytest.approx(ref, rel=1e-10)
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(
        ember.tensor(y), t64(logits)).item() == pytest.approx(ref, rel=1e-10)
    onehot = np.eye(4)[y]
    cat = losses.CategoricalCrossentropy()
    assert cat(t64(onehot), t64(p)).item() == pytest.approx(ref, rel=1e-10)
    soft = rng.dirichlet(np.ones(4), 6)
    ref_soft = TF.cross_entropy(torch.from_numpy(logits), torch.from_numpy(soft)).item()
    assert losses.CategoricalCrossentropy(from_logits=True)(t64(soft), t64(logits)).item() == \
        pytest.approx(ref_soft, rel=1e-10)
    smooth = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    ref_smooth = TF.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y),
                                  label_smoothing=0.1).item()
    assert smooth(t64(onehot), t64(logits)).item() == pytest.approx(ref_smooth, rel=1e-10)


def test_probabilities_are_clipped_like_keras_unless_logits_are_known():
    p = t64([[1.0, 0.0]])
    assert losses.get("sparse_categorical_crossentropy")(ember.tensor([1]), p).item() == \
        pytest.approx(-math.log(1e-7), rel=1e-9)
    logits = t64([[30.0, -30.0]])
    soft = activations.softmax(logits)
    assert losses.get("sparse_categorical_crossentropy")(ember.tensor([1]), soft).item() == \
        pytest.approx(60.0, rel=1e-9)


def test_binary_crossentropy_mse_mae_huber_kld_match_torch():
    x = rng.standard_normal((5, 3))
    y = rng.integers(0, 2, (5, 3)).astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    tx, ty, tp = (torch.from_numpy(a) for a in (x, y, p))
    assert losses.BinaryCrossentropy()(t64(y), t64(p)).item() == pytest.approx(
        TF.binary_cross_entropy(tp, ty).item(), rel=1e-9)
    assert losses.BinaryCrossentropy(from_logits=True)(t64(y), t64(x)).item() == pytest.approx(
        TF.binary_cross_entropy_with_logits(tx, ty).item(), rel=1e-10)
    assert losses.get("mse")(t64(y), t64(x)).item() == pytest.approx(
        TF.mse_loss(tx, ty).item(), rel=1e-12)
    assert losses.get("mae")(t64(y), t64(x)).item() == pytest.approx(
        TF.l1_loss(tx, ty).item(), rel=1e-12)
    assert losses.Huber(delta=0.5)(t64(y), t64(x)).item() == pytest.approx(
        TF.huber_loss(tx, ty, delta=0.5).item(), rel=1e-12)
    q = rng.dirichlet(np.ones(3), 5)
    assert losses.get("kld")(t64(q), t64(p / p.sum(-1, keepdims=True))).item() == \
        pytest.approx(TF.kl_div(torch.from_numpy(p / p.sum(-1, keepdims=True)).log(),
                                torch.from_numpy(q), reduction="batchmean").item() / 1,
                      rel=1e-9)


def test_sample_weight_and_reductions_follow_keras():
    y, yp = t64([[0.0], [1.0], [2.0]]), t64([[1.0], [1.0], [1.0]])
    w = t64([1.0, 2.0, 0.0])
    assert losses.MeanSquaredError()(y, yp, w).item() == pytest.approx((1 + 0 + 0) / 3)
    assert losses.MeanSquaredError(reduction="sum")(y, yp).item() == pytest.approx(2.0)
    assert losses.MeanSquaredError(reduction="none")(y, yp).tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.MeanSquaredError(reduction="avg")


def test_loss_label_checks():
    with pytest.raises(ValueError, match=r"got labels of shape \(4, 3\), which look one-hot"):
        losses.get("sparse_categorical_crossentropy")(t64(np.eye(3)[[0, 1, 2, 0]]),
                                                      t64(np.full((4, 3), 1 / 3)))
    with pytest.raises(ValueError, match=r"expects one-hot labels .* got labels of shape \(4,\)"):
        losses.get("categorical_crossentropy")(ember.tensor([0, 1, 2, 0]),
                                               t64(np.full((4, 3), 1 / 3)))
    with pytest.raises(ValueError, match=r"labels of shape \(4, 2\) do not match predictions "
                                         r"of shape \(4, 3\)"):
        losses.get("mse")(t64(np.zeros((4, 2))), t64(np.zeros((4, 3))))


def test_accuracy_variants_and_auto_resolution():
    _, p = probs(50, 4)
    y = rng.integers(0, 4, 50)
    expect = float((p.argmax(-1) == y).mean())
    assert metrics.SparseCategoricalAccuracy()(ember.tensor(y), t64(p)) == pytest.approx(expect)
    assert metrics.CategoricalAccuracy()(t64(np.eye(4)[y]), t64(p)) == pytest.approx(expect)
    assert isinstance(metrics.get("accuracy", losses.get("sparse_categorical_crossentropy"),
                                  (None,), (None, 4)), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("accuracy", None, (None, 4), (None, 4)),
                      metrics.CategoricalAccuracy)
    assert isinstance(metrics.get("acc", None, (None, 1), (None, 1)), metrics.BinaryAccuracy)
    top2 = metrics.TopKCategoricalAccuracy(k=2)(t64(np.eye(4)[y]), t64(p))
    assert top2 == pytest.approx(float((np.argsort(-p, -1)[:, :2] == y[:, None]).any(-1).mean()))


def test_metrics_accumulate_over_batches_with_weights():
    m = metrics.MeanSquaredError()
    m.update_state(t64([[0.0], [2.0]]), t64([[1.0], [1.0]]))
    m.update_state(t64([[0.0]]), t64([[3.0]]), sample_weight=t64([2.0]))
    assert m.result() == pytest.approx((1 + 1 + 2 * 9) / 4)
    state = m.get_state()
    m2 = metrics.MeanSquaredError()
    m2.set_state(state)
    assert m2.result() == m.result()
    m.reset_state()
    assert m.result() == 0.0


def test_precision_recall_auc_match_sklearn():
    y = rng.integers(0, 2, 400)
    score = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    pr, rc, auc = metrics.Precision(), metrics.Recall(), metrics.AUC(num_thresholds=1000)
    for lo in range(0, 400, 100):
        for m in (pr, rc, auc):
            m.update_state(ember.tensor(y[lo:lo + 100]), t64(score[lo:lo + 100]))
    pred = score > 0.5
    assert pr.result() == pytest.approx(precision_score(y, pred), rel=1e-12)
    assert rc.result() == pytest.approx(recall_score(y, pred), rel=1e-12)
    assert auc.result() == pytest.approx(roc_auc_score(y, score), abs=2e-3)
    pr_auc = metrics.AUC(curve="PR", num_thresholds=1000)
    pr_auc.update_state(ember.tensor(y), t64(score))
    from sklearn.metrics import average_precision_score

    assert pr_auc.result() == pytest.approx(average_precision_score(y, score), abs=0.02)


# ---------------------------------------------------------------------- optimisers
@pytest.mark.parametrize("name,make_torch", [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.01)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.001, eps=1e-7)),
    ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.001, alpha=0.9, eps=1e-7)),
    ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.001, initial_accumulator_value=0.1,
                                              eps=1e-7)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.001, eps=1e-7, weight_decay=0.004)),
])
def test_keras_optimizer_defaults_follow_keras_and_update_like_torch(name, make_torch):
    w0 = rng.standard_normal((3, 2))
    w = ember.nn.Parameter(ember.tensor(w0))
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = optimizers.get(name), make_torch([tw])
    opt.build([w])
    for _ in range(5):
        g = rng.standard_normal((3, 2))
        w.grad, tw.grad = ember.tensor(g), torch.from_numpy(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert opt.iterations == 5


def test_decoupled_weight_decay_clipping_and_schedules():
    w = ember.nn.Parameter(ember.tensor([3.0, 4.0], dtype=ember.float64))
    opt = optimizers.SGD(0.1, weight_decay=0.5, global_clipnorm=1.0)
    opt.build([w])
    w.grad = ember.tensor([30.0, 40.0], dtype=ember.float64)  # norm 50 -> clipped to 1
    opt.step()
    expect = np.array([3.0, 4.0]) * (1 - 0.1 * 0.5) - 0.1 * np.array([0.6, 0.8])
    np.testing.assert_allclose(w.detach().numpy(), expect, rtol=1e-6)
    sched = optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(sched)
    opt.build([w])
    lrs = []
    for _ in range(3):
        w.grad = ember.zeros(2, dtype=ember.float64)
        opt.step()
        lrs.append(opt.learning_rate)
    np.testing.assert_allclose(lrs, [0.1, 0.1 * 0.5 ** 0.5, 0.05], rtol=1e-12)
    cos = optimizers.schedules.CosineDecay(1.0, 10, alpha=0.1)
    assert cos(0) == 1.0 and cos(10) == pytest.approx(0.1) and cos(5) == pytest.approx(0.55)
    assert optimizers.schedules.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])(3) == 0.5
