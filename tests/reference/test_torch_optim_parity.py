"""Parity of nntune's optimizers and schedules with ``torch.optim``.

Both libraries take the same 150 float64 steps on the same pre-generated random
gradients (three tensors of different shapes and gradient scales, so that ``eps`` and
the per-tensor scaling matter), and the parameters are compared after every step.
Conventions bridged here (docs/conventions.md, "Optimizers"):

- nntune's momentum is the course's EWA ``v = beta*v + (1-beta)*g`` from ``v = 0``:
  ``SGD(momentum=beta, dampening=beta)`` once torch's buffer is primed with zeros,
  because torch starts the buffer at the first gradient (no dampening on step 1);
- nntune's Nesterov momentum (EWA form) is torch's ``nesterov=True`` (which needs
  ``dampening=0``) with the learning rate multiplied by ``1 - beta``;
- RMSprop's ``beta2`` is torch's ``alpha``; Adam and AdamW map one to one;
- ``clip_by_global_norm`` scales by ``max_norm / norm``; torch by
  ``max_norm / (norm + 1e-6)``;
- schedules are per epoch counted from 0, which ``LambdaLR`` stepped once per epoch
  reproduces (per optimizer step for ``warmup_cosine``).

Under CI (``CI`` set to a non-empty value) a missing torch is an error, not a skip.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import require
from nntune.optim import (
    adam,
    adamw,
    apply_updates,
    clip_by_global_norm,
    exponential_decay,
    gd,
    interval_decay,
    inverse_sqrt_decay,
    inverse_time_decay,
    momentum,
    piecewise_constant,
    rmsprop,
    set_epoch,
    warmup_cosine,
)

torch = require("torch")

pytestmark = pytest.mark.torch

RTOL = 1e-6
ATOL = 1e-12
STEPS = 150
STEPS_PER_EPOCH = 30  # 5 epochs, for the schedules
SHAPES = {"dense_0": {"W": (4, 3), "b": (3,)}, "conv_1": {"kernel": (2, 3, 2)}}
# Per-tensor gradient scales: at 1e-3, sqrt(v) is 1e-3 and eps=1e-8 inside instead of
# outside the root would show at 1e-5 relative, well above RTOL.
SCALES = {"dense_0": {"W": 1.0, "b": 1e-3}, "conv_1": {"kernel": 10.0}}


def make_problem(seed=0):
    """Initial float64 parameters and a fixed sequence of STEPS gradient trees."""
    rng = np.random.default_rng(seed)
    params = {
        layer: {name: rng.standard_normal(shape) for name, shape in arrays.items()}
        for layer, arrays in SHAPES.items()
    }
    grads = [
        {
            layer: {
                name: SCALES[layer][name] * rng.standard_normal(shape)
                for name, shape in arrays.items()
            }
            for layer, arrays in SHAPES.items()
        }
        for _ in range(STEPS)
    ]
    return params, grads


def nntune_trajectory(optimizer, params, grads):
    """nntune's parameters after every step (set_epoch at the start of each epoch)."""
    state = optimizer.init(params)
    trajectory = []
    for step, grad in enumerate(grads):
        if step % STEPS_PER_EPOCH == 0:
            state = set_epoch(state, step // STEPS_PER_EPOCH)
        updates, state = optimizer.update(grad, state, params)
        params = apply_updates(params, updates)
        trajectory.append(params)
    return trajectory


def torch_trajectory(
    make_optimizer,
    params,
    grads,
    *,
    prime_momentum=False,
    make_scheduler=None,
    scheduler_every=STEPS_PER_EPOCH,
):
    """torch's parameters after every step, fed the same gradients through ``.grad``."""
    tensors = {
        layer: {
            name: torch.tensor(array, dtype=torch.float64, requires_grad=True)
            for name, array in arrays.items()
        }
        for layer, arrays in params.items()
    }
    leaves = [t for arrays in tensors.values() for t in arrays.values()]
    optimizer = make_optimizer(leaves)
    if prime_momentum:
        # torch starts the momentum buffer at the first gradient (no dampening on
        # step 1); the course's EWA starts from v = 0. A zero buffer makes step 1
        # v = beta*0 + (1-beta)*g, as in nntune.
        for leaf in leaves:
            optimizer.state[leaf]["momentum_buffer"] = torch.zeros_like(leaf)
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    trajectory = []
    for step, grad in enumerate(grads):
        for layer, arrays in tensors.items():
            for name, tensor in arrays.items():
                tensor.grad = torch.tensor(grad[layer][name], dtype=torch.float64)
        optimizer.step()
        if scheduler is not None and (step + 1) % scheduler_every == 0:
            scheduler.step()
        trajectory.append(
            {
                layer: {name: t.detach().numpy().copy() for name, t in arrays.items()}
                for layer, arrays in tensors.items()
            }
        )
    return trajectory


def max_relative_difference(ours, theirs):
    """The largest ``|ours - theirs| / |theirs|`` over every step and parameter."""
    worst = 0.0
    for mine, reference in zip(ours, theirs, strict=True):
        for layer, arrays in reference.items():
            for name, expected in arrays.items():
                actual = mine[layer][name]
                assert actual.dtype == np.float64
                difference = np.abs(actual - expected) / np.maximum(
                    np.abs(expected), ATOL
                )
                worst = max(worst, float(np.max(difference)))
    return worst


def assert_same_trajectory(ours, theirs):
    """Every parameter after every step agrees to RTOL (ATOL guards exact zeros)."""
    assert len(ours) == len(theirs) == STEPS
    for step, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        for layer, arrays in reference.items():
            for name, expected in arrays.items():
                np.testing.assert_allclose(
                    mine[layer][name],
                    expected,
                    rtol=RTOL,
                    atol=ATOL,
                    err_msg=f"step {step + 1}, {layer}/{name}",
                )


# name: (nntune optimizer, torch optimizer factory, prime torch's momentum buffer)
CASES = {
    "sgd": (gd(0.05), lambda p: torch.optim.SGD(p, lr=0.05), False),
    "momentum": (
        momentum(0.05, beta=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.9),
        True,
    ),
    # EWA-form Nesterov = torch's (dampening=0) with lr * (1 - beta).
    "nesterov": (
        momentum(0.05, beta=0.9, nesterov=True),
        lambda p: torch.optim.SGD(
            p, lr=0.05 * (1 - 0.9), momentum=0.9, dampening=0.0, nesterov=True
        ),
        False,
    ),
    "rmsprop": (
        rmsprop(0.01, beta2=0.99, eps=1e-8),
        lambda p: torch.optim.RMSprop(
            p, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False
        ),
        False,
    ),
    "adam": (
        adam(0.01, beta1=0.9, beta2=0.999, eps=1e-8),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8),
        False,
    ),
    "adamw": (
        adamw(0.01, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1),
        lambda p: torch.optim.AdamW(
            p, lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_matches_torch_for_150_steps(name):
    optimizer, make_torch_optimizer, prime = CASES[name]
    params, grads = make_problem()
    ours = nntune_trajectory(optimizer, params, grads)
    theirs = torch_trajectory(make_torch_optimizer, params, grads, prime_momentum=prime)
    assert_same_trajectory(ours, theirs)
    assert max_relative_difference(ours, theirs) < 1e-10


def test_torch_momentum_without_primed_buffer_differs_on_the_first_step():
    # The convention the priming bridges: torch's first step is lr * g, nntune's
    # lr * (1 - beta) * g.
    params, grads = make_problem()
    ours = nntune_trajectory(momentum(0.05, beta=0.9), params, grads[:1])
    theirs = torch_trajectory(
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.9),
        params,
        grads[:1],
    )
    for layer, arrays in params.items():
        for name, start in arrays.items():
            torch_step = theirs[0][layer][name] - start
            nntune_step = ours[0][layer][name] - start
            np.testing.assert_allclose(torch_step, -0.05 * grads[0][layer][name])
            np.testing.assert_allclose(nntune_step, 0.1 * torch_step, rtol=1e-8)


KEYS = [(layer, name) for layer, arrays in SHAPES.items() for name in arrays]


def global_norm(tree):
    return np.sqrt(
        sum(np.sum(g * g) for arrays in tree.values() for g in arrays.values())
    )


def torch_clipped(grad, max_norm):
    """torch's clip_grad_norm_ applied to ``grad``: (clipped tree, reported norm)."""
    tensors = {}
    for layer, name in KEYS:
        tensor = torch.tensor(grad[layer][name], dtype=torch.float64)
        tensor.requires_grad_(True)
        tensor.grad = torch.tensor(grad[layer][name], dtype=torch.float64)
        tensors[layer, name] = tensor
    total = torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm=max_norm)
    clipped = {layer: {} for layer in SHAPES}
    for (layer, name), tensor in tensors.items():
        clipped[layer][name] = tensor.grad.numpy()
    return clipped, float(total)


def test_clip_by_global_norm_matches_torch_clip_grad_norm():
    _, grads = make_problem()
    transform = clip_by_global_norm(1.0)
    state = transform.init(grads[0])
    for grad in grads:
        norm = global_norm(grad)
        assert norm > 10.0  # far above max_norm: torch's +1e-6 is < 1e-7 relative
        clipped, state = transform.update(grad, state, None)
        theirs, torch_norm = torch_clipped(grad, 1.0)
        assert torch_norm == pytest.approx(norm, rel=1e-14)
        assert global_norm(clipped) == pytest.approx(1.0, rel=1e-14)
        for layer, name in KEYS:
            # The exact formula g * max_norm / norm, by hand.
            np.testing.assert_allclose(
                clipped[layer][name], grad[layer][name] / norm, rtol=1e-14
            )
            np.testing.assert_allclose(
                clipped[layer][name], theirs[layer][name], rtol=1e-6, atol=0
            )


def test_clip_below_the_threshold_leaves_gradients_exactly_as_torch_does():
    _, grads = make_problem()
    grad = grads[0]
    max_norm = 2.0 * global_norm(grad)
    transform = clip_by_global_norm(max_norm)
    clipped, _ = transform.update(grad, transform.init(grad), None)
    theirs, _ = torch_clipped(grad, max_norm)
    for layer, name in KEYS:
        np.testing.assert_array_equal(clipped[layer][name], grad[layer][name])
        np.testing.assert_array_equal(theirs[layer][name], grad[layer][name])


def test_clipped_gradient_descent_matches_torch_trajectory():
    params, grads = make_problem()
    ours = nntune_trajectory(gd(0.05, clip_norm=1.0), params, grads)

    def clipped_sgd(leaves):
        sgd = torch.optim.SGD(leaves, lr=0.05)
        step = sgd.step

        def clip_then_step():
            torch.nn.utils.clip_grad_norm_(leaves, max_norm=1.0)
            step()

        sgd.step = clip_then_step
        return sgd

    theirs = torch_trajectory(clipped_sgd, params, grads)
    # torch divides by norm + 1e-6 (norm > 10 here): < 1e-7 relative per step.
    assert_same_trajectory(ours, theirs)


# name: (schedule, peak learning rate, LambdaLR stepped every ... optimizer steps)
SCHEDULE_CASES = {
    "inverse_time": (inverse_time_decay(0.01, decay_rate=1.0), 0.01, STEPS_PER_EPOCH),
    "exponential": (exponential_decay(0.01, k=0.7), 0.01, STEPS_PER_EPOCH),
    "inverse_sqrt": (inverse_sqrt_decay(0.01, k=2.0), 0.01, STEPS_PER_EPOCH),
    "interval": (
        interval_decay(0.01, decay_rate=1.0, interval=2),
        0.01,
        STEPS_PER_EPOCH,
    ),
    "piecewise": (piecewise_constant([1, 3], [0.01, 0.003, 0.001]), 0.01, 30),
    "warmup_cosine": (warmup_cosine(0.01, 20, 100, end=0.001), 0.01, 1),
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_CASES))
def test_schedule_matches_torch_lambda_lr(name):
    schedule, peak, every = SCHEDULE_CASES[name]
    params, grads = make_problem()
    ours = nntune_trajectory(adam(schedule), params, grads)
    if every == 1:  # per step: LambdaLR's counter is the step

        def factor(count):
            return schedule(0, count) / peak
    else:  # per epoch: LambdaLR's counter is the epoch, from 0

        def factor(count):
            return schedule(count) / peak

    theirs = torch_trajectory(
        lambda p: torch.optim.Adam(p, lr=peak),
        params,
        grads,
        make_scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(o, factor),
        scheduler_every=every,
    )
    assert_same_trajectory(ours, theirs)
    assert max_relative_difference(ours, theirs) < 1e-10
