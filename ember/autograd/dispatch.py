"""Dispatch hooks: code that sees, and may change, every op application.

The profiler and autocast both need to stand between a caller and ``apply``. They share one
mechanism so the hot path pays for one check only: ``apply`` looks at ``state.dispatch``
(thread-local, ``None`` unless a hook is installed) and, when it is set, hands the op over.

A hook is ``hook(op, args, attrs, call)``; ``call(op, args, attrs)`` runs the next hook below
it, or the op itself. Hooks stack: the one pushed last runs first. A hook that itself applies
ops (autocast inserting casts) goes through the whole stack again, so it must let its own
ops pass through.

Example:
    >>> import ember
    >>> from ember.autograd.dispatch import dispatch_hook
    >>> seen = []
    >>> def log(op, args, attrs, call):
    ...     seen.append(op.name)
    ...     return call(op, args, attrs)
    >>> with dispatch_hook(log):
    ...     y = ember.ones(2).exp().sum()
    >>> seen
    ['exp', 'sum']
"""

from __future__ import annotations

from .grad_mode import state


class _Link:
    """One hook and what it calls next: a callable ``(op, args, attrs)``."""

    __slots__ = ("hook", "next")

    def __init__(self, hook, next_call):
        self.hook = hook
        self.next = next_call

    def __call__(self, op, args, attrs):
        return self.hook(op, args, attrs, self.next)


def _run_op(op, args, attrs):
    """The bottom of the stack: ``apply`` itself, with no hook in the way."""
    from .node import apply

    saved = state.dispatch
    state.dispatch = None
    try:
        return apply(op, *args, **attrs)
    finally:
        state.dispatch = saved


def push_hook(hook) -> None:
    """Install ``hook`` on top of this thread's stack (prefer the ``dispatch_hook`` block)."""
    state.dispatch = _Link(hook, state.dispatch or _run_op)


def pop_hook(hook) -> None:
    """Remove ``hook`` from this thread's stack, wherever it is."""
    links = []
    cur = state.dispatch
    while isinstance(cur, _Link):
        links.append(cur)
        cur = cur.next
    keep = [link.hook for link in links if link.hook is not hook]
    if len(keep) == len(links):
        raise ValueError("pop_hook: this hook is not installed in this thread")
    state.dispatch = None
    for h in reversed(keep):
        push_hook(h)


def hooks() -> tuple:
    """The installed hooks of this thread, the one that runs first first."""
    out = []
    cur = state.dispatch
    while isinstance(cur, _Link):
        out.append(cur.hook)
        cur = cur.next
    return tuple(out)


class dispatch_hook:  # noqa: N801 - used as a block, like no_grad
    """Context manager that installs ``hook`` for the block (this thread only)."""

    def __init__(self, hook) -> None:
        self.hook = hook

    def __enter__(self):
        push_hook(self.hook)
        return self.hook

    def __exit__(self, *exc):
        pop_hook(self.hook)
        return False
