"""Sequential, ModuleList, ModuleDict, ParameterList and ParameterDict behave like PyTorch's."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
from ember import nn


def test_sequential_indexing_slicing_append_and_forward():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    x = ember.randn(5, 3)
    manual = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).detach().numpy(), manual.detach().numpy())
    seq.append(nn.Tanh())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[1], nn.Linear)
    seq[2] = nn.Sigmoid()
    assert isinstance(seq[2], nn.Sigmoid)
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and len(seq) == 4
    popped = seq.pop(0)
    assert isinstance(popped, nn.Identity) and len(seq) == 3
    with pytest.raises(IndexError, match="index 5 is out of range for length 3"):
        seq[5]


def test_sequential_from_ordered_dict_matches_torch_names():
    def build(m):
        return m.Sequential(OrderedDict([("fc", m.Linear(2, 3)), ("act", m.ReLU()),
                                         ("out", m.Linear(3, 1))]))

    e, t = build(nn), build(torch.nn)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(e) == repr(t)
    assert isinstance(e.fc, nn.Linear)


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml += [nn.Sigmoid()]
    assert [type(m).__name__ for m in ml][-3:] == ["ReLU", "Tanh", "Sigmoid"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    assert ml[-1] is list(ml)[-1]
    ml.insert(1, nn.Identity())
    assert isinstance(ml[1], nn.Identity) and list(ml._modules)[-1] == str(len(ml) - 1)
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(len(ml))]
    with pytest.raises(NotImplementedError, match="ModuleList"):
        ml(ember.ones(1))
    with pytest.raises(TypeError, match="expected an iterable of modules"):
        nn.ModuleList(nn.Linear(1, 1))


def test_module_dict():
    md = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert [k for k, _ in md.items()] == list(md)
    assert md.pop("b").__class__ is nn.ReLU and "b" not in md
    md.update([("d", nn.Identity())])
    assert list(md) == ["a", "c", "d"]
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(ValueError, match="element #0 should be a \\(name, module\\) pair"):
        md.update([nn.ReLU()])


def test_parameter_list_and_dict_match_torch():
    def build(m, tensor):
        class Holder(m.Module):
            def __init__(self):
                super().__init__()
                self.plist = m.ParameterList([tensor(2, 3), tensor(4)])
                self.pdict = m.ParameterDict({"scale": tensor(3), "shift": tensor(1)})

        return Holder()

    e = build(nn, lambda *s: ember.zeros(*s))
    t = build(torch.nn, lambda *s: torch.zeros(*s))
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(e.state_dict()) == list(t.state_dict())
    # PyTorch names the dtype as torch.float32 in ParameterList, torch.FloatTensor in
    # ParameterDict; ember says ember.float32 in both
    assert repr(e).replace("ember.", "torch.") == repr(t).replace("FloatTensor", "float32")
    assert all(isinstance(p, nn.Parameter) for p in e.plist)
    e.plist.append(ember.ones(2))
    assert len(e.plist) == 3 and isinstance(e.plist[-1], nn.Parameter)
    assert isinstance(e.plist[:2], nn.ParameterList)
    e.pdict["bias"] = ember.ones(2)
    assert list(e.pdict) == ["scale", "shift", "bias"] and "bias" in e.pdict
    assert list(nn.ParameterDict({"z": ember.ones(1), "a": ember.ones(1)})) == ["a", "z"]
    assert list(nn.ParameterDict([("z", ember.ones(1)), ("a", ember.ones(1))])) == ["z", "a"]
    assert e.pdict.pop("shift").shape == (1,) and list(e.pdict.keys()) == ["scale", "bias"]
    assert e.pdict.get("missing") is None


def test_containers_register_for_state_dict_and_to():
    net = nn.Sequential(nn.ModuleList([nn.Linear(2, 2)]), nn.ModuleDict({"n": nn.LayerNorm(2)}))
    assert list(net.state_dict()) == ["0.0.weight", "0.0.bias", "1.n.weight", "1.n.bias"]
    net.double()
    assert all(p.dtype == ember.float64 for p in net.parameters())
