"""Splittable random keys that draw the same bits on every array backend.

A key is an array of two ``uint32`` words (shape ``(..., 2)``: a stack of ``K`` keys
has shape ``(K, 2)``, one per member of a population). Nothing is stateful: a draw is
a pure function of the key and the shape, and new keys are derived from old ones with
:func:`fold_in` (mix in a number: the epoch, the step) or :func:`split`. This is JAX's
design (``jax.random``); unlike JAX's threefry keys, the bits are computed with plain
``uint32`` array operations (xor, shift, multiply) written against the array namespace
of the key, so NumPy and JAX (jit-compiled or vmapped) draw *identical* dropout masks
from the same key. That is what lets a jitted JAX step be checked against the NumPy
step to 1e-10, and a population member against its separate run.

The mixing function is Wellons' ``lowbias32`` integer hash applied in counter mode
(each element's index is hashed with the key), which passes the usual avalanche tests;
it is meant for dropout masks and similar, not for cryptography.

**The course's stream.** ``key(np.random.RandomState(1))`` is a :class:`LegacyKey`
instead: it stands where a key goes (``fold_in`` and ``split`` return it as it is)
and draws each mask, when asked, from the legacy generator on the host, as the
course's labs do: ``rand(units, examples) < keep_prob`` per dropout layer in the
order of the forward pass (the course's activations are ``(units, examples)``,
nntune's their transpose). Those draws change the generator, so a step that uses
one is not pure: it runs eagerly on NumPy (``fit`` refuses it on JAX).
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import Any

import numpy as np

from . import Array, namespace

__all__ = ["LegacyKey", "bernoulli", "fold_in", "is_key", "key", "split", "uniform"]

_GOLDEN = 0x9E3779B9
_MIX1 = 0x7FEB352D
_MIX2 = 0x846CA68B
_SECOND = 0x6A09E667  # decorrelates the two words of a key


_CONSTANTS: dict[int, Any] = {}


def _constant(xp: Any, value: int) -> Array:
    # A NumPy uint32 scalar combines with NumPy and JAX uint32 arrays alike, keeping
    # their type; made once, not on every draw.
    constant = _CONSTANTS.get(value)
    if constant is None:
        constant = _CONSTANTS[value] = np.uint32(value)
    return constant


def _mix(xp: Any, x: Array) -> Array:
    # lowbias32 (C. Wellons): a bijection of uint32 with strong avalanche. Every
    # operand is an array, so NumPy wraps silently as JAX does.
    x = x ^ (x >> _constant(xp, 16))
    x = x * _constant(xp, _MIX1)
    x = x ^ (x >> _constant(xp, 15))
    x = x * _constant(xp, _MIX2)
    return x ^ (x >> _constant(xp, 16))


class LegacyKey:
    """A legacy ``numpy.random.RandomState`` where a key goes: the course's draws.

    Each :meth:`bernoulli` draws from the generator, changing it (see the module
    docs); ``fold_in`` and ``split`` return the key itself.

    Example:
        >>> import numpy as np
        >>> mask = LegacyKey(np.random.RandomState(1)).bernoulli(0.5, (3, 2))
        >>> expected = np.random.RandomState(1).rand(2, 3).T < 0.5  # the course's
        >>> bool((mask == expected).all())
        True
    """

    def __init__(self, generator: np.random.RandomState) -> None:
        self.generator = generator

    def bernoulli(self, probability: Any, shape: tuple[int, ...]) -> Array:
        """``rand(*reversed(shape)).T < probability``: a mask of ``shape`` rows."""
        if len(shape) != 2:
            raise ValueError(
                f"the course's legacy stream draws masks for one model, shape "
                f"(examples, units); got shape {shape} (a population?). Give an "
                "integer seed to train a population."
            )
        drawn = self.generator.rand(shape[1], shape[0]).T  # the course's layout
        return drawn < probability

    def __repr__(self) -> str:
        return f"LegacyKey({self.generator!r})"


def key(seed: Any, xp: Any = np) -> Array:
    """Return the key of an integer ``seed`` (any size; negative seeds too).

    A legacy ``numpy.random.RandomState`` gives a :class:`LegacyKey` (NumPy only).

    Args:
        seed: the run's seed, or the course's ``RandomState``.
        xp: the array namespace to create the key in (NumPy by default; pass
            ``jax.numpy`` for a JAX key).

    Raises:
        TypeError: if ``seed`` is not an integer (or a RandomState, on NumPy).

    Example:
        >>> key(0).dtype, key(0).shape
        (dtype('uint32'), (2,))
        >>> bool((key(7) == key(7)).all()), bool((key(7) == key(8)).all())
        (True, False)
    """
    numpy = getattr(xp, "__name__", "") in ("numpy", "array_api_compat.numpy")
    if isinstance(seed, np.random.RandomState) and numpy:
        return LegacyKey(seed)
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(
            f"a random key is made from an integer seed (or, on NumPy, the course's "
            f"numpy.random.RandomState); got {seed!r}. Pass e.g. seed=0."
        )
    words = np.random.SeedSequence(int(seed) % 2**128).generate_state(2, np.uint32)
    return xp.asarray(words, dtype=xp.uint32)


def is_key(value: Any) -> bool:
    """Whether ``value`` looks like a key: a ``uint32`` array of shape ``(..., 2)``."""
    dtype = getattr(value, "dtype", None)
    shape = tuple(getattr(value, "shape", ()))
    return str(dtype) == "uint32" and len(shape) >= 1 and shape[-1] == 2


def _words(value: Array) -> tuple[Array, Array]:
    # Keep a length-1 last axis: 0-d NumPy results would be scalars, whose integer
    # overflow warns where arrays wrap silently.
    return value[..., 0:1], value[..., 1:2]


def fold_in(value: Array, data: Any) -> Array:
    """Return a new key from ``value`` and a number ``data`` (an epoch, a step).

    ``data`` may be a Python int, a 0-d integer array, or one integer per key of a
    stack (shape ``(K,)`` with keys of shape ``(K, 2)``).

    Example:
        >>> k = key(0)
        >>> bool((fold_in(k, 1) == fold_in(k, 1)).all())
        True
        >>> bool((fold_in(k, 1) == fold_in(k, 2)).any())
        False
    """
    if isinstance(value, LegacyKey):
        return value
    xp = namespace(value)
    first, second = _words(value)
    number = xp.astype(xp.asarray(data), xp.uint32)
    number = number[..., None]
    a = _mix(xp, first + number * _constant(xp, _GOLDEN))
    b = _mix(xp, (second ^ a) + _constant(xp, _SECOND))
    return xp.concat([_mix(xp, a ^ (b >> _constant(xp, 7))), b], axis=-1)


def split(value: Array, count: int = 2) -> list[Array]:
    """Return ``count`` independent keys derived from ``value``.

    Example:
        >>> a, b = split(key(0))
        >>> bool((a == b).all())
        False
    """
    if isinstance(value, LegacyKey):
        return [value] * count
    return [fold_in(value, 2**31 + index) for index in range(count)]


def _bits(value: Array, shape: tuple[int, ...]) -> Array:
    """``uint32`` bits of ``shape``, one draw per element, broadcast over key stacks."""
    xp = namespace(value)
    size = math.prod(shape)
    counter = xp.reshape(xp.arange(size, dtype=xp.uint32), shape)
    first, second = _words(value)
    lead = tuple(value.shape[:-1])
    first = xp.reshape(first, lead + (1,) * len(shape))
    second = xp.reshape(second, lead + (1,) * len(shape))
    x = _mix(xp, counter * _constant(xp, _GOLDEN) + first)
    x = _mix(xp, x ^ second)
    return _mix(xp, x + first)


def uniform(value: Array, shape: tuple[int, ...], dtype: Any) -> Array:
    """Uniform numbers in ``[0, 1)`` of ``shape`` (after the key's stack axes).

    float32 draws use 24 random bits, float64 draws 32 (enough for dropout masks).

    Example:
        >>> import numpy as np
        >>> u = uniform(key(0), (1000,), np.float64)
        >>> bool(0 <= u.min() and u.max() < 1), round(float(u.mean()), 1)
        (True, 0.5)
    """
    xp = namespace(value)
    bits = _bits(value, tuple(shape))
    if xp.finfo(dtype).bits == 32:
        return xp.astype(bits >> _constant(xp, 8), dtype) * (2.0**-24)
    return xp.astype(bits, dtype) * (2.0**-32)


def bernoulli(value: Array, probability: Any, shape: tuple[int, ...]) -> Array:
    """Booleans of ``shape`` that are true with ``probability`` (per key of a stack).

    ``probability`` is a number, or one per key of a stack (shape ``(K,)``).

    Example:
        >>> import numpy as np
        >>> mask = bernoulli(key(1), 0.8, (10000,))
        >>> round(float(mask.mean()), 2)
        0.8
    """
    if isinstance(value, LegacyKey):
        return value.bernoulli(probability, tuple(shape))
    xp = namespace(value)
    u = uniform(value, tuple(shape), xp.float32)
    if getattr(probability, "ndim", 0):
        probability = xp.reshape(
            probability, tuple(probability.shape) + (1,) * len(shape)
        )
    return u < probability
