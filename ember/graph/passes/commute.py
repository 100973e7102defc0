"""Max pooling after ReLU runs before it: ``max_pool2d(relu(c))`` becomes
``relu(max_pool2d(c))``, and in a training graph the gradient's ReLU mask moves to the pooled
side as well.

ReLU is monotonic, so the maximum of a window of ``relu(c)`` is ``relu`` of the maximum of
``c``, bit for bit (``maximum(m, 0)`` either way; nan stays nan). The pooled array is a
quarter of the input for 2x2 pooling, so the ReLU and, in the backward, its mask read and
write a quarter of the bytes:

    r = relu(c); p = max_pool2d(r)            p2 = max_pool2d(c); p = relu(p2)
    dr = max_pool2d_grad(dp, r, p)     ->     dp2 = relu_backward(dp, p2)
    dc = relu_backward(dr, c)                 dc = max_pool2d_grad(dp2, c, p2)

The gradients are equal: where a window's maximum is positive, its first maximum is at the
same place in ``c`` and ``relu(c)`` and the mask is 1 on both sides; where it is not, both
sides send the window 0 (``dp * 0``). The rewrite applies only when ``relu(c)`` and its
gradient have no other readers and are not graph results.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import commute_relu_pool
    >>> g = trace(lambda x: ember.nn.functional.max_pool2d(x.relu(), 2), ember.ones(1, 1, 4, 4))
    >>> commute_relu_pool(g)["moved"], [n.op.name for n in g.nodes]
    (1, ['max_pool2d', 'relu'])
"""

from __future__ import annotations

from ..ir import Graph, Node


def commute_relu_pool(graph: Graph) -> dict:
    """Apply the rewrite in place; returns ``{"moved": ReLUs moved after their pooling}``."""
    from ...ops.elementwise import Relu, ReluBackward

    roots = set(graph.roots())
    uses = graph.consumers()
    producer = {v: n for n in graph.nodes for v in n.outputs}
    replace: dict[int, list[Node]] = {}  # id(node) -> the nodes standing in its place
    moved = 0
    for pool in graph.nodes:
        if pool.op.name != "max_pool2d" or len(pool.args) != 1:
            continue
        r = pool.args[0]
        act = producer.get(r)
        if act is None or act.op.name != "relu" or r in roots or id(act) in replace:
            continue
        c, p = act.args[0], pool.outputs[0]
        readers = [n for n in uses.get(r, []) if n is not pool]
        grad = back = None
        if readers:  # in a training graph: only the pooling's gradient may read r
            if len(readers) != 1 or readers[0].op.name != "max_pool2d_grad":
                continue
            grad = readers[0]
            if grad.args[1:] != (r, p) or grad.attrs != pool.attrs:
                continue
            dr = grad.outputs[0]
            after = uses.get(dr, [])
            if dr in roots or len(after) != 1 or after[0].op.name != "relu_backward" or \
                    after[0].args != (dr, c):
                continue
            back = after[0]
        p2 = graph.new_value("node", p.shape, p.dtype, dynamic=p.dynamic)
        p2.order = p.order
        first = Node(pool.op, (c,), dict(pool.attrs), (p2,), None, pool.scope)
        p2.producer = first
        replace[id(act)] = []
        replace[id(pool)] = [first, Node(Relu, (p2,), {}, (p,), None, act.scope)]
        if grad is not None:
            dp = grad.args[0]
            dp2 = graph.new_value("node", dp.shape, dp.dtype, dynamic=dp.dynamic)
            dp2.order = dp.order
            mask = Node(ReluBackward, (dp, p2), {}, (dp2,), None, back.scope)
            dp2.producer = mask
            replace[id(grad)] = [mask]
            replace[id(back)] = [Node(grad.op, (dp2, c, p2), dict(grad.attrs), back.outputs,
                                      None, grad.scope)]
        moved += 1
    if replace:
        graph.nodes = [m for n in graph.nodes for m in replace.get(id(n), (n,))]
    return {"moved": moved}
