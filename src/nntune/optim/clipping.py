"""Clipping: rescale all gradients together when their global norm is too large."""

from __future__ import annotations

from typing import Any

from .._validation import check_real
from ..backend import Array, Params, namespace
from . import inplace
from .ewa import tree_map
from .transforms import EmptyState, GradientTransformation

__all__ = ["clip_by_global_norm"]


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale all updates together when their global L2 norm exceeds ``max_norm``.

    ``norm = sqrt(sum over every array of sum(g^2))``; if ``norm > max_norm`` every
    array is multiplied by ``max_norm / norm``, else left as is (the optax and Keras
    form; ``torch.nn.utils.clip_grad_norm_`` divides by ``norm + 1e-6`` instead). A
    NaN or infinite norm gives NaN updates. For a stacked population the norm is
    taken over all members together, so a clipped population differs from its
    members' separate runs.

    Args:
        max_norm: The largest global norm let through (> 0).

    Returns:
        The transformation (stateless).

    Raises:
        ValueError: if ``max_norm`` is not a finite number > 0.

    Example:
        >>> import numpy as np
        >>> transform = clip_by_global_norm(1.0)
        >>> grads = {"dense_0": {"W": np.array([3.0]), "b": np.array([4.0])}}
        >>> out, _ = transform.update(grads, transform.init(grads), None)
        >>> out["dense_0"]["W"], out["dense_0"]["b"]  # the norm 5 becomes 1
        (array([0.6]), array([0.8]))
    """
    max_norm = check_real(
        "max_norm",
        max_norm,
        low=0.0,
        low_open=True,
        fix="Use a positive global-norm threshold such as 1.0 or 5.0.",
    )

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def factor(leaves: list[Array]) -> Any:
        xp = namespace(*leaves)
        squared = sum(xp.sum(g * g) for g in leaves)
        norm = xp.sqrt(squared)
        # max_norm / max(norm, max_norm) is exactly 1 when norm <= max_norm, with no
        # Python branch on an array value. Adding norm - norm (0, or NaN for an
        # infinite or NaN norm) makes a non-finite gradient give NaN updates, which
        # the training loop reports, rather than a silent zero step.
        scale = max_norm / xp.maximum(norm, xp.asarray(max_norm, dtype=norm.dtype))
        return scale + (norm - norm)

    def update(
        updates: Params, state: EmptyState, params: Params | None = None
    ) -> tuple[Params, EmptyState]:
        leaves = [g for arrays in updates.values() for g in arrays.values()]
        if not leaves:
            return updates, state
        scale = factor(leaves)
        xp = namespace(scale)
        clipped = tree_map(lambda g: g * xp.astype(scale, g.dtype), updates)
        return clipped, state

    def prepare_scale(updates: Array, state: EmptyState) -> tuple[Any, EmptyState]:
        return namespace(updates).astype(factor([updates]), updates.dtype), state

    inplace.register(update, inplace.scale_twin(prepare_scale, reads_updates=True))
    return GradientTransformation(init, update)
