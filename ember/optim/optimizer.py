"""``Optimizer``: the base that owns parameter groups, per-parameter state and checkpoints.

A subclass writes only the per-parameter rule: ``_new_state`` (the state of a parameter on
its first step), ``_coefficients`` (the step's scalars for one parameter, from its group and
state) and ``_update`` (the in-place update on backend arrays). The base validates the
parameters, keeps ``param_groups`` and ``state``, runs ``step`` and writes ``state_dict`` in
PyTorch's layout: state keyed by parameter index, groups listing indices.

Example:
    >>> import ember
    >>> w = ember.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = ember.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8, -1.6], requires_grad=True)
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ..autograd.grad_mode import enable_grad
from ..autograd.grad_mode import state as _grad_state
from ..backend import backend_of
from ..errors import ShapeError
from ..tensor import Tensor
from . import _parallel

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of ember's optimisers.

    Args:
        params: an iterable of tensors, or of dicts (parameter groups) with a ``"params"``
            entry and hyper-parameters that override ``defaults`` for that group.
        defaults: the default hyper-parameters of every group.

    Example:
        >>> import ember
        >>> a, b = ember.zeros(2, requires_grad=True), ember.zeros(3, requires_grad=True)
        >>> opt = ember.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.5]
    """

    _buffers: tuple[str, ...] = ()  # state arrays the update reads, in order, where present
    _n_scratch = 1  # scratch arrays the update needs

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: list = []
        self._opt_called = False
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of tensors or of dicts, got one tensor; "
                "wrap it in a list: [tensor]"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE.format(name=name))
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones default).

        Example:
            >>> import ember
            >>> opt = ember.optim.Adam([ember.zeros(2, requires_grad=True)], lr=1e-3)
            >>> opt.add_param_group({"params": [ember.zeros(3, requires_grad=True)], "lr": 1e-2})
            >>> len(opt.param_groups)
            2
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: a parameter group must be a dict, got {type(param_group).__name__}"
            )
        group = dict(param_group)
        if "params" not in group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE.format(name=name))
        else:
            params = list(params)
        gi = len(self.param_groups)
        for i, p in enumerate(params):
            where = f"parameter {i} of group {gi}"
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: {where} is a {type(p).__name__}, not a tensor; an optimizer "
                    "updates ember tensors (e.g. model.parameters())"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: {where} (shape {tuple(p.shape)}) is not a leaf tensor: it was "
                    "computed by an op, so it cannot be updated in place. Optimize the leaf "
                    "tensors it was computed from, or pass x.detach().requires_grad_()"
                )
            if not p.dtype.is_floating_point:
                raise TypeError(f"{name}: {where} has dtype {p.dtype.name}; only "
                                "floating-point tensors can be optimized")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: group {gi} lists the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        shared = [i for i, p in enumerate(params) if id(p) in seen]
        if shared:
            raise ValueError(
                f"{name}: some parameters appear in more than one parameter group (parameters "
                f"{shared} of group {gi} are already in an earlier group)"
            )
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for invalid hyper-parameters (subclasses extend it)."""
        lr = group.get("lr", 0.0)
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr!r}; it must be "
                             "a number >= 0")

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g._node is not None:
                        p.grad = g = g.detach()
                    g.data[...] = 0
                    g._version[0] += 1

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; returns ``closure()``'s value if given.

        Args:
            closure: a function that recomputes the loss (zeroes the gradients, runs forward
                and backward) and returns it. It runs with gradients enabled.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True
        if _grad_state.tracer is not None:  # ember.jit is tracing: record the update as ops
            from ._traced import traced_step

            traced_step(self)
            return loss
        jobs = []
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(self._new_state(p, group))
                counter = state.get("step")
                if isinstance(counter, Tensor):  # left by a traced step: count in it, since
                    state["step"] = int(counter.item())  # compiled steps read that tensor
                    coefs = self._coefficients(p, group, state)
                    counter.data[...] = state["step"]
                    counter._version[0] += 1
                    state["step"] = counter
                else:
                    coefs = self._coefficients(p, group, state)
                bufs = tuple(state[k].data for k in self._buffers if k in state)
                arr = p.data
                jobs.append((backend_of(arr).xp, coefs, arr, g.data, bufs))
                p._version[0] += 1
        if jobs:  # CUDA's kernels, oneDNN's primitives: the jobs they leave run here
            jobs = backend_of(jobs[0][2]).fused_optimizer_step(self, jobs)
        if jobs:
            _parallel.run(self._update, jobs, self._n_scratch, self._scratch)
        return loss

    def _new_state(self, p: Tensor, group: dict) -> dict:
        """The state of parameter ``p`` before its first step."""
        return {}

    def _coefficients(self, p: Tensor, group: dict, state: dict) -> tuple:
        """The scalars of this step for parameter ``p`` (advances the state's step count)."""
        raise NotImplementedError

    @staticmethod
    def _update(xp, c: tuple, p, g, bufs: tuple, s: list) -> None:
        """Update ``p`` (and the state arrays ``bufs``) in place from the gradient ``g``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout, ready for ``ember.save``.

        ``"state"`` maps a parameter's index (counted over all groups in order) to its state;
        ``"param_groups"`` holds each group's hyper-parameters with ``"params"`` as indices.
        The tensors are the optimizer's own (not copies), as in PyTorch.

        Example:
            >>> import ember
            >>> w = ember.ones(2, requires_grad=True)
            >>> opt = ember.optim.Adam([w], lr=0.1)
            >>> w.sum().backward(); opt.step()
            >>> sd = opt.state_dict()
            >>> sorted(sd["state"][0]), sd["param_groups"][0]["params"]
            (['exp_avg', 'exp_avg_sq', 'step'], [0])
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state written by ``state_dict`` (tensors are copied into place).

        The saved groups must match this optimizer's: the same number of groups, each with
        the same number of parameters, and state tensors shaped like their parameters.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}.load_state_dict: expected a dict with the keys 'state' "
                             "and 'param_groups' (as written by state_dict())")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has a different number of parameter "
                f"groups ({len(saved)}) than the optimizer ({len(self.param_groups)})"
            )
        for gi, (sg, g) in enumerate(zip(saved, self.param_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded parameter group {gi} has "
                    f"{len(sg['params'])} parameters but the optimizer's group {gi} has "
                    f"{len(g['params'])}; the state belongs to a different model or grouping"
                )
        by_index = {}
        for sg, g in zip(saved, self.param_groups):
            by_index.update(zip(sg["params"], g["params"]))
        new_state: defaultdict = defaultdict(dict)
        for key, s in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {key}, "
                                 "which no parameter group lists")
            new_state[p] = {k: _restore(v, p, k, name) for k, v in s.items()}
        groups = []
        for sg, g in zip(saved, self.param_groups):
            group = {k: copy.deepcopy(v) for k, v in sg.items() if k != "params"}
            group["params"] = g["params"]
            groups.append(group)
        for group in groups:
            self._check_group(group)
        self.state = new_state
        self.param_groups = groups

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


_SET_MESSAGE = ("{name}: optimizer parameters need to be organized in ordered collections, but "
                "the order of tensors in a set changes between runs; use a list instead")


def _restore(value, p: Tensor, key: str, name: str):
    """A copy of one saved state entry, cast and moved to parameter ``p``'s dtype and device."""
    if isinstance(value, Tensor):
        if key == "step":
            return int(value.item())
        if tuple(value.shape) != tuple(p.shape):
            raise ShapeError(
                f"{name}.load_state_dict: state {key!r} has shape {tuple(value.shape)} but its "
                f"parameter has shape {tuple(p.shape)}; the state belongs to a different model"
            )
        xp = backend_of(p.data).xp
        return Tensor(xp.array(value.to(p.dtype, device=p.device).data, order="C", copy=True))
    return copy.deepcopy(value)
