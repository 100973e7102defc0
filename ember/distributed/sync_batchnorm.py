"""``SyncBatchNorm``: batch normalization with statistics over the whole global batch.

In training each rank sends its per-channel count, mean and sum of squared deviations
(one all-gather; combined exactly with Chan's parallel formula, so float64 matches a single
process to rounding), and backward all-reduces the two per-channel sums the input gradient
needs. Outside training, or without a process group, it is an ordinary BatchNorm.
"""

from __future__ import annotations

from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..backend import backend_of
from ..nn.layers.normalization import _BatchNorm
from ..nn.module import Module
from ..tensor import Tensor
from .group import _GROUP, DistributedError

__all__ = ["SyncBatchNorm"]


def _axes(ndim: int) -> tuple:
    return (0,) + tuple(range(2, ndim))


def _bshape(ndim: int, c: int) -> tuple:
    return (1, c) + (1,) * (ndim - 2)


class _SyncBatchNormFn(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps, group, stats_out):
        xa = x.data
        xp = backend_of(xa).xp  # NumPy, or CuPy for CUDA tensors
        axes, c = _axes(xa.ndim), xa.shape[1]
        n_local = xa.size // c
        mean_l = xa.mean(axis=axes)
        m2_l = ((xa - mean_l.reshape(_bshape(xa.ndim, c))) ** 2).sum(axis=axes)
        mine = xp.stack([xp.full(c, n_local, dtype=mean_l.dtype), mean_l, m2_l])
        every = xp.empty((group.world_size,) + mine.shape, dtype=mine.dtype)
        group.all_gather(every, mine).wait()
        counts, means = every[:, 0], every[:, 1]
        n = counts.sum(axis=0)
        mean = (counts * means).sum(axis=0) / n
        m2 = (every[:, 2] + counts * (means - mean) ** 2).sum(axis=0)
        var = m2 / n
        invstd = 1.0 / xp.sqrt(var + eps)
        shape = _bshape(xa.ndim, c)
        xhat = (xa - mean.reshape(shape)) * invstd.reshape(shape)
        y = xhat
        if weight is not None:
            y = y * weight.data.reshape(shape)
        if bias is not None:
            y = y + bias.data.reshape(shape)
        total = int(n[0])
        stats_out.extend([mean, m2 / max(total - 1, 1), total])
        ctx.xhat, ctx.invstd, ctx.n, ctx.group = xhat, invstd, n, group
        ctx.weight = None if weight is None else weight.data
        ctx.has_bias = bias is not None
        return Tensor(y.astype(xa.dtype, copy=False))

    @staticmethod
    def backward(ctx, grad):
        dy = grad.data
        xhat, invstd, n = ctx.xhat, ctx.invstd, ctx.n
        axes, c = _axes(dy.ndim), dy.shape[1]
        shape = _bshape(dy.ndim, c)
        sum_dy = dy.sum(axis=axes)
        sum_dy_xhat = (dy * xhat).sum(axis=axes)
        both = backend_of(dy).xp.stack([sum_dy, sum_dy_xhat])
        ctx.group.all_reduce(both, "sum", check=False, inline=True).wait()
        scale = invstd if ctx.weight is None else ctx.weight * invstd
        dx = scale.reshape(shape) * (dy - (both[0] / n).reshape(shape)
                                     - xhat * (both[1] / n).reshape(shape))
        dw = None if ctx.weight is None else Tensor(sum_dy_xhat)
        db = Tensor(sum_dy) if ctx.has_bias else None
        return Tensor(dx.astype(dy.dtype, copy=False)), dw, db, None, None, None


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics cover the batch of every rank together.

    Takes input ``(N, C, ...)`` of any rank ≥ 2. Same arguments as ``BatchNorm2d``; in
    training under an initialized process group every rank must call it (it communicates),
    otherwise it behaves exactly like BatchNorm. ``convert_sync_batchnorm(model)`` swaps every
    BatchNorm of a model for one, keeping parameters and running statistics.

    Shape:
        input ``(N, C, *)``, output the same.

    Example:
        >>> import ember
        >>> from ember.distributed import SyncBatchNorm
        >>> bn = SyncBatchNorm(3)
        >>> bn(ember.randn(4, 3, 5)).shape
        (4, 3, 5)
    """

    _dims = (2, 3, 4, 5)

    def forward(self, input):
        group = _GROUP[0]
        if not self.training or group is None or group.world_size == 1:
            return super().forward(input)
        if not isinstance(input, Tensor) or input.data.ndim < 2 or \
                input.data.shape[1] != self.num_features:
            shape = getattr(input, "shape", None)
            raise DistributedError(f"SyncBatchNorm: expected input (N, {self.num_features}, "
                                   f"...), got shape {shape}")
        if group.backend != "mpi":
            raise DistributedError("SyncBatchNorm: implemented for the mpi backend (CPU "
                                   "tensors); with nccl use per-GPU BatchNorm for now")
        stats: list = []
        params = self._parameters
        out = _SyncBatchNormFn.apply(input, params["weight"], params["bias"], self.eps, group,
                                     stats)
        if self.track_running_stats:
            mean, unbiased, _ = stats
            with no_grad():
                tracked = self._buffers["num_batches_tracked"]
                tracked.add_(1)
                m = 1.0 / float(tracked.data) if self.momentum is None else self.momentum
                rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
                rm.data[...] = (1 - m) * rm.data + m * mean
                rv.data[...] = (1 - m) * rv.data + m * unbiased
                rm._version[0] += 1
                rv._version[0] += 1
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """Return ``module`` with every BatchNorm1d/2d/3d replaced by a ``SyncBatchNorm``."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats)
            for name in ("weight", "bias"):
                if module._parameters.get(name) is not None:
                    new._parameters[name] = module._parameters[name]
            for name, buf in module._buffers.items():
                new._buffers[name] = buf
            new.training = module.training
            return new
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child)
        return module
