"""Image data augmentation: random flips, shifts, rotations and noise for mini-batches.

Each transform is a small frozen dataclass called as ``transform(images, rng)`` on a
batch of shape ``(N, H, W, C)``; it returns a new array of the same shape and dtype,
never changes its input, and draws its randomness only from ``rng``. :class:`Augment`
chains transforms and reshapes rows ``(n, H*W*C)`` to images and back, so it is the
``augment=`` argument of :func:`nntune.training.fit`, which applies it to training
mini-batches only (evaluation never sees augmented data).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

Images: TypeAlias = np.ndarray[Any, Any]
"""A batch of images, shape ``(N, H, W, C)``."""

Transform: TypeAlias = Callable[[Images, np.random.Generator], Images]
"""``transform(images, rng) -> images`` of the same shape and dtype."""

PADDINGS = ("constant", "edge", "reflect")


def _real(who: str, name: str, value: Any, low: float, high: float, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{who}: {name} must be a real number; got {value!r}. {fix}")
    if not (math.isfinite(value) and low <= float(value) <= high):
        raise ValueError(
            f"{who}: {name} must be a finite number in [{low}, {high}]; got "
            f"{value!r}. {fix}"
        )
    return float(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_images(images: Any, who: str, *, floating: bool = False) -> Images:
    array = np.asarray(images)
    if array.ndim != 4:
        raise ValueError(
            f"{who} expects a batch of images with shape (N, H, W, C); got shape "
            f"{array.shape}. Add the missing axes (e.g. images[None, ..., None] for "
            "one grey image), or wrap the transform in Augment(..., image_shape=(H, "
            "W, C)) to reshape rows of features."
        )
    if floating and not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{who} needs floating-point images; got dtype {array.dtype}. Convert "
            "first, e.g. images.astype(np.float32) / 255."
        )
    return array


def _check_rng(rng: Any, who: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{who} draws from the rng passed in, which must be a "
            f"numpy.random.Generator; got {type(rng).__name__}. Pass e.g. "
            "np.random.default_rng(0)."
        )
    return rng


@dataclass(frozen=True)
class HorizontalFlip:
    """Flip each image left-right, independently, with probability ``probability``.

    Args:
        probability: chance that an image is flipped, in [0, 1].

    Raises:
        ValueError: if ``probability`` is outside [0, 1].
        TypeError: for a hyperparameter that is not a number.

    Example:
        >>> import numpy as np
        >>> image = np.arange(3.0).reshape(1, 1, 3, 1)
        >>> HorizontalFlip(1.0)(image, np.random.default_rng(0))[0, 0, :, 0]
        array([2., 1., 0.])
    """

    probability: float = 0.5

    def __post_init__(self) -> None:
        fix = "Use e.g. probability=0.5 (1 always flips, 0 never does)."
        value = _real("HorizontalFlip", "probability", self.probability, 0, 1, fix)
        object.__setattr__(self, "probability", value)

    def __call__(self, images: Images, rng: np.random.Generator) -> Images:
        images = _check_images(images, "HorizontalFlip")
        flip = _check_rng(rng, "HorizontalFlip").random(images.shape[0])
        flip = flip < self.probability
        out = images.copy()
        out[flip] = images[flip, :, ::-1]
        return out


@dataclass(frozen=True)
class RandomShift:
    """Shift each image by up to ``max_shift`` pixels: pad, then crop at random.

    Every image is padded by ``max_shift`` on all four sides and an ``H x W`` window
    is cut from it at offsets ``(top, left)`` drawn uniformly from
    ``{0, ..., 2 * max_shift}``, so ``top = max_shift`` and ``left = max_shift`` give
    the image back. This is torchvision's ``RandomCrop((H, W), padding=max_shift,
    padding_mode=...)``; numpy's ``"edge"`` is torchvision's ``"replicate"``.

    Args:
        max_shift: the largest shift in pixels, an integer >= 0.
        padding: ``"constant"`` (pad with ``fill``), ``"edge"`` (repeat the border)
            or ``"reflect"`` (mirror without repeating the border).
        fill: the value of padded pixels with ``padding="constant"``.

    Raises:
        ValueError: for a negative ``max_shift``, an unknown ``padding`` or a
            non-finite ``fill``.

    Example:
        >>> import numpy as np
        >>> images = np.ones((2, 4, 4, 1), dtype=np.float32)
        >>> out = RandomShift(max_shift=1)(images, np.random.default_rng(0))
        >>> out.shape, out.dtype, bool(((out == 0) | (out == 1)).all())
        ((2, 4, 4, 1), dtype('float32'), True)
    """

    max_shift: int = 4
    padding: Literal["constant", "edge", "reflect"] = "constant"
    fill: float = 0.0

    def __post_init__(self) -> None:
        value: Any = self.max_shift
        if not _is_integer(value) or value < 0:
            raise ValueError(
                f"RandomShift: max_shift must be an integer number of pixels >= 0; "
                f"got {value!r}. Use e.g. max_shift=4 (0 leaves images unchanged)."
            )
        if self.padding not in PADDINGS:
            raise ValueError(
                f"RandomShift: padding must be one of {PADDINGS}; got "
                f"{self.padding!r}. ('replicate' in torch is 'edge' here.)"
            )
        fix = "Use e.g. fill=0.0."
        fill = _real("RandomShift", "fill", self.fill, -math.inf, math.inf, fix)
        object.__setattr__(self, "max_shift", int(self.max_shift))
        object.__setattr__(self, "fill", fill)

    def __call__(self, images: Images, rng: np.random.Generator) -> Images:
        images = _check_images(images, "RandomShift")
        n, height, width, _ = images.shape
        s = self.max_shift
        offsets = _check_rng(rng, "RandomShift").integers(0, 2 * s + 1, size=(n, 2))
        pad = ((0, 0), (s, s), (s, s), (0, 0))
        if self.padding == "constant":
            padded = np.pad(images, pad, mode="constant", constant_values=self.fill)
        else:
            padded = np.pad(images, pad, mode=self.padding)
        rows = offsets[:, 0, None] + np.arange(height)  # (n, H)
        cols = offsets[:, 1, None] + np.arange(width)  # (n, W)
        batch = np.arange(n)[:, None, None]
        out: Images = padded[batch, rows[:, :, None], cols[:, None, :]]
        return out


def rotate(images: Images, degrees: Any, fill: float = 0.0) -> Images:
    """Rotate images counter-clockwise by ``degrees`` about their centres (bilinear).

    The output pixel ``(i, j)`` samples the input at

    ``r = c_r + cos(t) (i - c_r) + sin(t) (j - c_c)``,
    ``c = c_c - sin(t) (i - c_r) + cos(t) (j - c_c)``,

    with ``t`` the angle in radians and ``(c_r, c_c) = ((H - 1) / 2, (W - 1) / 2)``,
    interpolating bilinearly between the four nearest pixels; neighbours outside the
    image count as ``fill``. 90 degrees on a square image is ``np.rot90(images, 1,
    axes=(1, 2))`` up to rounding; with ``fill=0`` this is torch's ``grid_sample``
    (bilinear, zeros padding, ``align_corners=True``).

    Args:
        images: floating-point batch of shape ``(N, H, W, C)``.
        degrees: one angle for every image, or one per image (shape ``(N,)``).
        fill: the value of pixels that come from outside the image.

    Returns:
        The rotated images, with the dtype of ``images``.

    Raises:
        ValueError: for a wrong shape, a non-finite angle or fill.
        TypeError: for integer images.

    Example:
        >>> import numpy as np
        >>> image = np.arange(4.0).reshape(1, 2, 2, 1)
        >>> rotate(image, 90.0)[0, :, :, 0].round(6)
        array([[1., 3.],
               [0., 2.]])
    """
    images = _check_images(images, "rotate", floating=True)
    n, height, width, _ = images.shape
    angles = np.asarray(degrees, dtype=np.float64)
    if angles.shape not in ((), (n,)) or not np.isfinite(angles).all():
        raise ValueError(
            f"rotate: degrees must be one finite angle or one per image (shape "
            f"({n},)); got {degrees!r}."
        )
    fill = _real("rotate", "fill", fill, -math.inf, math.inf, "Use e.g. fill=0.0.")
    t = np.deg2rad(np.broadcast_to(angles, (n,)))[:, None, None]
    cos, sin = np.cos(t), np.sin(t)
    centre_r, centre_c = (height - 1) / 2, (width - 1) / 2
    di = np.arange(height)[:, None] - centre_r
    dj = np.arange(width)[None, :] - centre_c
    rows = centre_r + cos * di + sin * dj  # (n, H, W) source coordinates
    cols = centre_c - sin * di + cos * dj
    r0, c0 = np.floor(rows), np.floor(cols)
    wr, wc = rows - r0, cols - c0
    r0, c0 = r0.astype(np.intp), c0.astype(np.intp)
    batch = np.arange(n)[:, None, None]
    out = np.zeros(images.shape, dtype=np.float64)
    for dr, dc, weight in (
        (0, 0, (1 - wr) * (1 - wc)),
        (0, 1, (1 - wr) * wc),
        (1, 0, wr * (1 - wc)),
        (1, 1, wr * wc),
    ):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        values = images[batch, r.clip(0, height - 1), c.clip(0, width - 1)]
        out += weight[..., None] * np.where(inside[..., None], values, fill)
    return out.astype(images.dtype)


@dataclass(frozen=True)
class RandomRotation:
    """Rotate each image by an angle drawn uniformly in ``[-max_degrees, max_degrees]``.

    See :func:`rotate` for the geometry: bilinear interpolation about the image centre,
    pixels from outside the image set to ``fill``.

    Args:
        max_degrees: the largest rotation in degrees, in [0, 180].
        fill: the value of pixels that come from outside the image.

    Raises:
        ValueError: if ``max_degrees`` is outside [0, 180] or ``fill`` is not finite.
        TypeError: for a hyperparameter that is not a number.

    Example:
        >>> import numpy as np
        >>> images = np.ones((3, 5, 5, 1))
        >>> out = RandomRotation(max_degrees=30.0)(images, np.random.default_rng(0))
        >>> out.shape, float(out[:, 2, 2, 0].min())  # the centre stays put
        ((3, 5, 5, 1), 1.0)
    """

    max_degrees: float = 10.0
    fill: float = 0.0

    def __post_init__(self) -> None:
        fix = "Use e.g. max_degrees=10.0 (0 leaves images unchanged)."
        degrees = _real("RandomRotation", "max_degrees", self.max_degrees, 0, 180, fix)
        fill = _real(
            "RandomRotation", "fill", self.fill, -math.inf, math.inf, "Use fill=0.0."
        )
        object.__setattr__(self, "max_degrees", degrees)
        object.__setattr__(self, "fill", fill)

    def __call__(self, images: Images, rng: np.random.Generator) -> Images:
        images = _check_images(images, "RandomRotation", floating=True)
        rng = _check_rng(rng, "RandomRotation")
        degrees = rng.uniform(-self.max_degrees, self.max_degrees, images.shape[0])
        return rotate(images, degrees, self.fill)


@dataclass(frozen=True)
class GaussianNoise:
    """Add ``std * z`` with ``z ~ N(0, 1)`` to every pixel, then clip if asked.

    Args:
        std: the standard deviation of the noise, >= 0.
        clip: ``None``, or ``(low, high)`` with ``low < high`` to keep pixels in
            range (e.g. ``(0.0, 1.0)`` for images scaled to [0, 1]).

    Raises:
        ValueError: for a negative or non-finite ``std`` or a bad ``clip``.
        TypeError: for a hyperparameter that is not a number.

    Example:
        >>> import numpy as np
        >>> noise = GaussianNoise(std=0.1, clip=(0.0, 1.0))
        >>> out = noise(np.full((8, 4, 4, 1), 0.95), np.random.default_rng(0))
        >>> out.shape, float(out.max())
        ((8, 4, 4, 1), 1.0)
    """

    std: float = 0.05
    clip: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        fix = "Use e.g. std=0.05 for images scaled to [0, 1]."
        std = _real("GaussianNoise", "std", self.std, 0, math.inf, fix)
        object.__setattr__(self, "std", std)
        if self.clip is None:
            return
        fix = "Use e.g. clip=(0.0, 1.0), or clip=None to leave values unclipped."
        if not isinstance(self.clip, tuple | list) or len(self.clip) != 2:
            raise ValueError(
                f"GaussianNoise: clip must be None or a pair (low, high); got "
                f"{self.clip!r}. {fix}"
            )
        low, high = (
            _real("GaussianNoise", name, value, -math.inf, math.inf, fix)
            for name, value in zip(("clip low", "clip high"), self.clip, strict=True)
        )
        if not low < high:
            raise ValueError(
                f"GaussianNoise: clip needs low < high; got {self.clip!r}. {fix}"
            )
        object.__setattr__(self, "clip", (low, high))

    def __call__(self, images: Images, rng: np.random.Generator) -> Images:
        images = _check_images(images, "GaussianNoise", floating=True)
        noise = _check_rng(rng, "GaussianNoise").standard_normal(images.shape)
        out = images + self.std * noise
        if self.clip is not None:
            out = np.clip(out, *self.clip)
        return out.astype(images.dtype)


class Augment:
    """Apply ``transforms`` in order to a batch of rows or images; fit's ``augment``.

    A 2-D batch ``(n, H*W*C)`` (what models take) is reshaped to ``(n, H, W, C)``,
    transformed, and returned as rows again; a 4-D batch is transformed as it is.
    Every transform draws from the same ``rng``, so a seed fixes the result.

    Args:
        *transforms: callables ``transform(images, rng) -> images``, such as
            :class:`HorizontalFlip`, :class:`RandomShift`, :class:`RandomRotation` and
            :class:`GaussianNoise`.
        image_shape: ``(H, W, C)`` of one image; rows are C-ordered (row-major, as
            ``images.reshape(n, -1)`` makes them).

    Raises:
        ValueError: for no transforms or a bad ``image_shape``; when called, for a
            batch whose shape does not match ``image_shape``.
        TypeError: for a transform that is not callable.

    Example:
        >>> import numpy as np
        >>> augment = Augment(HorizontalFlip(1.0), image_shape=(1, 3, 1))
        >>> augment
        Augment(HorizontalFlip(probability=1.0), image_shape=(1, 3, 1))
        >>> augment(np.array([[1.0, 2.0, 3.0]]), np.random.default_rng(0))
        array([[3., 2., 1.]])
    """

    def __init__(self, *transforms: Transform, image_shape: tuple[int, int, int]):
        if not transforms:
            raise ValueError(
                "Augment needs at least one transform, e.g. Augment(HorizontalFlip(), "
                "image_shape=(28, 28, 1)); to train without augmentation pass "
                "augment=None to fit."
            )
        for transform in transforms:
            if not callable(transform):
                raise TypeError(
                    f"Augment: every transform must be callable as transform(images, "
                    f"rng); got {transform!r} ({type(transform).__name__})."
                )
        given: Any = image_shape
        shape = tuple(given) if isinstance(given, tuple | list) else ()
        if len(shape) != 3 or not all(_is_integer(s) and s >= 1 for s in shape):
            raise ValueError(
                f"Augment: image_shape must be (height, width, channels), three "
                f"positive integers; got {image_shape!r}. Use e.g. (28, 28, 1) for "
                "grey or (32, 32, 3) for colour images."
            )
        self.transforms: tuple[Transform, ...] = transforms
        height, width, channels = (int(size) for size in shape)
        self.image_shape = (height, width, channels)

    def __repr__(self) -> str:
        parts = [repr(transform) for transform in self.transforms]
        return f"Augment({', '.join(parts)}, image_shape={self.image_shape})"

    def __call__(self, batch: Any, rng: np.random.Generator) -> Images:
        x = np.asarray(batch)
        features = math.prod(self.image_shape)
        if x.ndim == 2 and x.shape[1] == features:
            images = x.reshape(x.shape[0], *self.image_shape)
        elif x.ndim == 4 and x.shape[1:] == self.image_shape:
            images = x
        else:
            height, width, channels = self.image_shape
            raise ValueError(
                f"Augment expects rows of {height}*{width}*{channels} = {features} "
                f"features, shape (n, {features}), or images of shape (n, {height}, "
                f"{width}, {channels}); got shape {x.shape}. Set image_shape to the "
                "shape of one image in your data."
            )
        _check_rng(rng, "Augment")
        for transform in self.transforms:
            out = np.asarray(transform(images, rng))
            if out.shape != images.shape:
                raise ValueError(
                    f"Augment: {transform!r} returned shape {out.shape} for images "
                    f"of shape {images.shape}; a transform must keep the shape."
                )
            images = out
        result: Images = images.reshape(x.shape)
        return result
