"""Image augmentation: transforms on (N, H, W, C) batches and Augment inside fit."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nntune
from helpers import require
from nntune.data.augment import (
    Augment,
    GaussianNoise,
    HorizontalFlip,
    RandomRotation,
    RandomShift,
    rotate,
)
from nntune.training import fit

GRID = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]

TRANSFORMS = [
    HorizontalFlip(),
    RandomShift(max_shift=2),
    RandomShift(max_shift=2, padding="edge"),
    RandomShift(max_shift=2, padding="reflect", fill=0.0),
    RandomRotation(max_degrees=30.0),
    RandomRotation(max_degrees=30.0, fill=0.5),
    GaussianNoise(std=0.1),
    GaussianNoise(std=0.1, clip=(0.0, 1.0)),
]


def batch(seed=0, shape=(16, 5, 6, 2), dtype=np.float64):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def draw(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------- every transform
@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_keeps_shape_and_dtype(transform, dtype):
    images = batch(dtype=dtype)
    out = transform(images, draw(0))
    assert out.shape == images.shape
    assert out.dtype == dtype


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_transform_returns_a_new_array_and_leaves_its_input_alone(transform):
    images = batch()
    original = images.copy()
    images.flags.writeable = False  # any in-place write raises
    out = transform(images, draw(0))
    np.testing.assert_array_equal(images, original)
    assert not np.shares_memory(out, images)


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_transform_is_seeded_by_the_rng_passed_in(transform):
    images = batch()
    # The legacy global generator is what a careless transform would draw from.
    np.random.seed(123)  # noqa: NPY002
    global_state = np.random.get_state()[1].copy()  # noqa: NPY002
    first = transform(images, draw(7))
    np.testing.assert_array_equal(first, transform(images, draw(7)))
    assert not np.array_equal(first, transform(images, draw(8)))
    # the global generator is neither read nor advanced
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)  # noqa: NPY002


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_transform_rejects_a_missing_rng_and_rows(transform):
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator; got int"):
        transform(batch(), 0)
    with pytest.raises(ValueError, match=r"shape \(N, H, W, C\); got shape \(2, 9\)"):
        transform(np.zeros((2, 9)), draw(0))


# ------------------------------------------------------------------ HorizontalFlip
def test_flip_of_a_3x3_image_by_hand():
    out = HorizontalFlip(1.0)(GRID, draw(0))
    np.testing.assert_array_equal(out[0, :, :, 0], [[3, 2, 1], [6, 5, 4], [9, 8, 7]])


def test_flip_probability_zero_and_one():
    images = batch()
    np.testing.assert_array_equal(HorizontalFlip(0.0)(images, draw(0)), images)
    np.testing.assert_array_equal(
        HorizontalFlip(1.0)(images, draw(0)), images[:, :, ::-1]
    )


def test_flip_flips_exactly_the_images_its_draws_select():
    images = batch(shape=(400, 2, 3, 1))
    out = HorizontalFlip(0.3)(images, draw(5))
    chosen = draw(5).random(400) < 0.3
    np.testing.assert_array_equal(out[chosen], images[chosen, :, ::-1])
    np.testing.assert_array_equal(out[~chosen], images[~chosen])
    assert 0.25 < chosen.mean() < 0.35


def test_flip_keeps_integer_images():
    images = np.arange(12, dtype=np.uint8).reshape(2, 2, 3, 1)
    out = HorizontalFlip(1.0)(images, draw(0))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images[:, :, ::-1])


# --------------------------------------------------------------------- RandomShift
def reference_shift(images, offsets, max_shift, padding, fill):
    """torchvision RandomCrop(size, padding): pad each image, slice the window."""
    height, width = images.shape[1:3]
    expected = []
    for image, (top, left) in zip(images, offsets, strict=True):
        pad = ((max_shift, max_shift), (max_shift, max_shift), (0, 0))
        kwargs = {"constant_values": fill} if padding == "constant" else {}
        padded = np.pad(image, pad, mode=padding, **kwargs)
        expected.append(padded[top : top + height, left : left + width])
    return np.stack(expected)


@pytest.mark.parametrize("padding", ["constant", "edge", "reflect"])
@pytest.mark.parametrize(("max_shift", "seed"), [(1, 0), (2, 1), (3, 2), (0, 3)])
def test_shift_matches_pad_then_slice_for_the_offsets_drawn(padding, max_shift, seed):
    images = batch(seed, shape=(12, 5, 4, 3))
    out = RandomShift(max_shift, padding, fill=-2.5)(images, draw(seed))
    offsets = draw(seed).integers(0, 2 * max_shift + 1, size=(12, 2))
    expected = reference_shift(images, offsets, max_shift, padding, -2.5)
    np.testing.assert_array_equal(out, expected)


def test_shift_of_a_3x3_image_by_hand():
    shift = RandomShift(max_shift=1, fill=-1.0)
    # seed 11 draws (top, left) = (0, 0): the window starts in the padding corner,
    # so the image moves one pixel down and one right.
    assert draw(11).integers(0, 3, size=(1, 2)).tolist() == [[0, 0]]
    out = shift(GRID, draw(11))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[-1, -1, -1], [-1, 1, 2], [-1, 4, 5]])
    # seed 0 draws (2, 1): one pixel up, no horizontal move.
    assert draw(0).integers(0, 3, size=(1, 2)).tolist() == [[2, 1]]
    out = shift(GRID, draw(0))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[4, 5, 6], [7, 8, 9], [-1, -1, -1]])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    max_shift=st.integers(0, 3),
    padding=st.sampled_from(["constant", "edge", "reflect"]),
)
def test_every_shifted_image_is_a_window_of_its_padded_image(seed, max_shift, padding):
    images = batch(seed, shape=(3, 4, 5, 1))
    out = RandomShift(max_shift, padding)(images, draw(seed))
    size = 2 * max_shift + 1
    for image, shifted in zip(images, out, strict=True):
        windows = [
            reference_shift(image[None], [(top, left)], max_shift, padding, 0.0)[0]
            for top in range(size)
            for left in range(size)
        ]
        assert any(np.array_equal(shifted, window) for window in windows)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("padding", "torch_mode"),
    [("constant", "constant"), ("edge", "replicate"), ("reflect", "reflect")],
)
def test_shift_padding_matches_torch_pad(padding, torch_mode):
    torch = require("torch")
    images = batch(4, shape=(6, 5, 7, 2))
    out = RandomShift(2, padding, fill=0.0)(images, draw(4))
    padded = torch.nn.functional.pad(
        torch.tensor(images).permute(0, 3, 1, 2), (2, 2, 2, 2), mode=torch_mode
    )
    padded = padded.permute(0, 2, 3, 1).numpy()
    for k, (top, left) in enumerate(draw(4).integers(0, 5, size=(6, 2))):
        np.testing.assert_array_equal(out[k], padded[k, top : top + 5, left : left + 7])


# ------------------------------------------------------------------ RandomRotation
def test_rotation_by_zero_is_the_identity():
    images = batch()
    np.testing.assert_array_equal(rotate(images, 0.0), images)
    np.testing.assert_array_equal(RandomRotation(0.0)(images, draw(0)), images)


@pytest.mark.parametrize("size", [2, 3, 4, 5])
@pytest.mark.parametrize(("degrees", "quarter_turns"), [(90, 1), (180, 2), (-90, -1)])
def test_right_angle_rotation_is_rot90(size, degrees, quarter_turns):
    images = batch(size, shape=(3, size, size, 2))
    expected = np.rot90(images, quarter_turns, axes=(1, 2))
    np.testing.assert_allclose(rotate(images, degrees), expected, atol=1e-12)


def test_rotation_by_45_degrees_by_hand():
    # Corner (0, 0) samples (1 - sqrt 2, 1): 1 - (sqrt 2 - 1) of a pixel inside and
    # the rest from the 0 fill, i.e. 2 - sqrt 2. Edge pixels sample inside: 1.
    out = rotate(np.ones((1, 3, 3, 1)), 45.0)[0, :, :, 0]
    corner = 2 - math.sqrt(2)
    expected = [[corner, 1, corner], [1, 1, 1], [corner, 1, corner]]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_random_rotation_uses_one_uniform_angle_per_image():
    images = batch(shape=(5, 6, 6, 1))
    out = RandomRotation(max_degrees=25.0, fill=0.25)(images, draw(3))
    angles = draw(3).uniform(-25.0, 25.0, 5)
    assert np.all(np.abs(angles) <= 25.0)
    for k, angle in enumerate(angles):
        expected = rotate(images[k : k + 1], angle, fill=0.25)
        np.testing.assert_array_equal(out[k : k + 1], expected)


@settings(max_examples=30, deadline=None)
@given(
    degrees=st.floats(-180, 180),
    fill=st.floats(-3, 3),
    seed=st.integers(0, 1000),
)
def test_fill_only_shifts_the_result(degrees, fill, seed):
    # Bilinear weights sum to 1, so filling with f is filling with 0 after moving by f.
    images = batch(seed, shape=(2, 4, 5, 1))
    np.testing.assert_allclose(
        rotate(images, degrees, fill=fill),
        rotate(images - fill, degrees) + fill,
        atol=1e-9,
    )


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(3, 5, 7, 2), (3, 6, 6, 1)])
def test_rotation_matches_torch_grid_sample(shape):
    torch = require("torch")
    functional = torch.nn.functional
    n, height, width, channels = shape
    images = batch(9, shape=shape)
    degrees = np.array([13.0, -40.0, 100.0])
    t = np.deg2rad(degrees)
    # align_corners=True maps [-1, 1] onto pixel centres; the aspect ratio enters
    # when a row offset becomes a column offset.
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0] = theta[:, 1, 1] = np.cos(t)
    theta[:, 0, 1] = -np.sin(t) * (height - 1) / (width - 1)
    theta[:, 1, 0] = np.sin(t) * (width - 1) / (height - 1)
    grid = functional.affine_grid(
        torch.tensor(theta), [n, channels, height, width], align_corners=True
    )
    expected = functional.grid_sample(
        torch.tensor(images).permute(0, 3, 1, 2),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    expected = expected.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(rotate(images, degrees), expected, atol=1e-12)


def test_rotation_rejects_integer_images_and_bad_angles():
    with pytest.raises(TypeError, match=r"floating-point images; got dtype uint8"):
        RandomRotation()(np.zeros((1, 2, 2, 1), dtype=np.uint8), draw(0))
    with pytest.raises(ValueError, match=r"one per image \(shape \(2,\)\)"):
        rotate(np.zeros((2, 3, 3, 1)), [10.0, 20.0, 30.0])
    with pytest.raises(ValueError, match="one finite angle"):
        rotate(np.zeros((2, 3, 3, 1)), math.nan)


# ------------------------------------------------------------------- GaussianNoise
@pytest.mark.parametrize("std", [0.05, 0.5])
def test_noise_has_the_requested_std(std):
    images = np.full((50, 8, 8, 3), 0.5)  # 9,600 draws: std within about 1.5%
    noise = GaussianNoise(std)(images, draw(0)) - images
    assert abs(noise.std() / std - 1) < 0.05
    assert abs(noise.mean()) < 0.05 * std


def test_noise_clips_and_zero_std_is_the_identity():
    images = batch(shape=(20, 4, 4, 1))
    out = GaussianNoise(std=0.5, clip=(0.0, 1.0))(images, draw(0))
    assert out.min() == 0.0
    assert out.max() == 1.0
    np.testing.assert_array_equal(GaussianNoise(std=0.0)(images, draw(0)), images)


def test_noise_is_the_rng_standard_normal_draw():
    images = batch(shape=(2, 3, 3, 1))
    out = GaussianNoise(std=0.2)(images, draw(4))
    expected = images + 0.2 * draw(4).standard_normal(images.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-15)


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: HorizontalFlip(1.5), ValueError, r"probability must be .* \[0, 1\]"),
        (lambda: HorizontalFlip("0.5"), TypeError, "probability must be a real"),
        (lambda: RandomShift(-1), ValueError, r"integer number of pixels >= 0; got -1"),
        (lambda: RandomShift(2.5), ValueError, "got 2.5"),
        (lambda: RandomShift(2, "wrap"), ValueError, "padding must be one of"),
        (lambda: RandomShift(2, fill=math.nan), ValueError, "fill must be a finite"),
        (lambda: RandomRotation(200), ValueError, r"max_degrees .* \[0, 180\]"),
        (lambda: RandomRotation(-5), ValueError, "Use e.g. max_degrees=10.0"),
        (lambda: GaussianNoise(-0.1), ValueError, "std must be a finite number"),
        (lambda: GaussianNoise(0.1, clip=(1.0, 0.0)), ValueError, "low < high"),
        (lambda: GaussianNoise(0.1, clip=(0, 1, 2)), ValueError, "pair"),
        (lambda: GaussianNoise(0.1, clip=("a", 1)), TypeError, "clip low"),
    ],
)
def test_bad_hyperparameters_are_refused_with_a_fix(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_hyperparameters_are_normalised_and_frozen():
    noise = GaussianNoise(std=1, clip=[0, 1])
    assert noise.std == 1.0
    assert noise.clip == (0.0, 1.0)
    hash(noise)  # frozen dataclasses with tuple fields are hashable
    with pytest.raises(AttributeError):
        noise.std = 2.0  # type: ignore[misc]


# ------------------------------------------------------------------------- Augment
def test_augment_reshapes_rows_to_images_and_back():
    rows = GRID.reshape(1, 9)
    out = Augment(HorizontalFlip(1.0), image_shape=(3, 3, 1))(rows, draw(0))
    assert out.shape == (1, 9)
    np.testing.assert_array_equal(out, [[3, 2, 1, 6, 5, 4, 9, 8, 7]])
    images = Augment(HorizontalFlip(1.0), image_shape=(3, 3, 1))(GRID, draw(0))
    assert images.shape == GRID.shape


def test_augment_is_the_transforms_in_order_with_one_rng():
    images = batch(shape=(8, 6, 6, 3), dtype=np.float32)
    steps = (HorizontalFlip(), RandomShift(2), RandomRotation(15.0), GaussianNoise())
    augment = Augment(*steps, image_shape=(6, 6, 3))
    out = augment(images.reshape(8, -1), draw(2))
    rng, expected = draw(2), images
    for step in steps:
        expected = step(expected, rng)
    np.testing.assert_array_equal(out, expected.reshape(8, -1))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, augment(images.reshape(8, -1), draw(2)))


def test_augment_leaves_its_input_alone():
    rows = batch(shape=(4, 3, 3, 1)).reshape(4, 9)
    original = rows.copy()
    rows.flags.writeable = False
    augment = Augment(HorizontalFlip(), RandomShift(1), image_shape=(3, 3, 1))
    out = augment(rows, draw(0))
    np.testing.assert_array_equal(rows, original)
    assert not np.shares_memory(out, rows)


def test_augment_repr():
    augment = Augment(HorizontalFlip(), RandomShift(2), image_shape=(4, 4, 1))
    assert repr(augment) == (
        "Augment(HorizontalFlip(probability=0.5), RandomShift(max_shift=2, "
        "padding='constant', fill=0.0), image_shape=(4, 4, 1))"
    )


def test_augment_validation_messages():
    with pytest.raises(ValueError, match=r"at least one transform.*augment=None"):
        Augment(image_shape=(2, 2, 1))
    with pytest.raises(TypeError, match=r"must be callable .* got 3 \(int\)"):
        Augment(3, image_shape=(2, 2, 1))
    with pytest.raises(ValueError, match=r"three positive integers; got \(28, 28\)"):
        Augment(HorizontalFlip(), image_shape=(28, 28))
    with pytest.raises(ValueError, match=r"got \(4, 0, 1\)"):
        Augment(HorizontalFlip(), image_shape=(4, 0, 1))
    augment = Augment(HorizontalFlip(), image_shape=(4, 4, 1))
    with pytest.raises(ValueError, match=r"4\*4\*1 = 16 features.*got shape \(3, 15\)"):
        augment(np.zeros((3, 15)), draw(0))
    with pytest.raises(ValueError, match=r"\(n, 4, 4, 1\); got shape \(3, 4, 4, 3\)"):
        augment(np.zeros((3, 4, 4, 3)), draw(0))
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        augment(np.zeros((3, 16)), None)
    crop = Augment(lambda images, rng: images[:, :2], image_shape=(4, 4, 1))
    with pytest.raises(ValueError, match=r"returned shape .* must keep the shape"):
        crop(np.zeros((3, 16)), draw(0))


# ------------------------------------------------------------------ Augment in fit
class Spy:
    """A transform that records the batches it sees and flips them (to change them)."""

    def __init__(self):
        self.shapes = []
        self.during_evaluation = 0
        self.evaluating = False

    def __call__(self, images, rng):
        self.shapes.append(images.shape)
        self.during_evaluation += self.evaluating
        return images[:, :, ::-1].copy()


M, BATCH_SIZE, EPOCHS = 20, 8, 2
IMAGES = np.random.default_rng(0).random((M, 4, 4, 1))
X = IMAGES.reshape(M, -1)
Y = np.random.default_rng(1).integers(0, 3, M)


def train(augment, seed=3):
    model = nntune.mlp([8], task="multiclass", outputs=3).init(4 * 4 * 1, seed=0)
    return fit(
        model,
        X,
        Y,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        dev=(X[:6], Y[:6]),
        seed=seed,
        progress="silent",
        augment=augment,
    )


def rows_without_time(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history.epochs]


def test_fit_augments_every_training_batch_and_never_evaluation(monkeypatch):
    spy = Spy()
    runners = importlib.import_module("nntune.training.runners")
    real_evaluate = runners.evaluate_arrays

    def watched_evaluate(*args, **kwargs):
        spy.evaluating = True
        try:
            return real_evaluate(*args, **kwargs)
        finally:
            spy.evaluating = False

    monkeypatch.setattr(runners, "evaluate_arrays", watched_evaluate)
    history = train(Augment(spy, image_shape=(4, 4, 1)))
    # 20 examples in batches of 8: 8, 8, 4 per epoch, as images.
    assert spy.shapes == [(8, 4, 4, 1), (8, 4, 4, 1), (4, 4, 4, 1)] * EPOCHS
    assert len(spy.shapes) == len(history.iterations)
    assert spy.during_evaluation == 0
    assert history.epochs_run == EPOCHS


def test_fit_with_augment_is_reproducible_and_differs_from_without():
    augment = Augment(HorizontalFlip(), image_shape=(4, 4, 1))
    first, second = train(augment), train(augment)
    assert rows_without_time(first) == rows_without_time(second)
    assert first.iterations == second.iterations
    assert first.iterations != train(None).iterations
    assert first.iterations != train(augment, seed=4).iterations
