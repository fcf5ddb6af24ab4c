"""Compare variants of one training run: everything equal but the settings varied.

``--vary init=zeros,random:10,he`` trains three models that differ only in their
initializer; several ``--vary`` make a grid. This is the course's labs as a tool for
any data set: initialization (zeros, random x10, He), optimizers (gd, momentum, adam),
regularization (l2 0 vs 0.7, keep_prob 1 vs 0.86).

Values are separated by commas; hidden layer sizes inside a value by ``/``
(``layers=10/5,20/10``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._files import atomic_write_text
from .runs import TrainConfig, evaluate_sets, load_data, split_data, train_model
from .training import History

# Settings that change the data or its split; varying them reloads the data.
DATA_SETTINGS = {
    "data",
    "n_samples",
    "target",
    "task",
    "dev",
    "test",
    "train_dev",
    "seed",
}


@dataclass
class Variant:
    """One trained variant: its name, the varied values, metrics and history."""

    name: str
    values: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    history: History

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, the varied keys, train/dev/test, epochs, time."""
        document: dict[str, Any] = {"name": self.name, **self.values}
        for name in ("train", "dev", "test"):
            if name in self.metrics:
                document[name] = self.metrics[name]
        document["epochs_run"] = self.metrics["epochs_run"]
        document["seconds"] = self.metrics["seconds"]
        return document


def _convert(key: str, text: str, field: dataclasses.Field[Any]) -> Any:
    kind = str(field.type)
    if key == "layers":
        try:
            return tuple(int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(
                "layers values separate sizes with '/' (layers=10/5,20/10); got "
                f"{text!r}."
            ) from None
    try:
        if kind.startswith("bool"):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r}: expected a {kind.split()[0]}.") from None
    return text


def parse_vary(specs: Sequence[str]) -> list[dict[str, Any]]:
    """Turn ``["init=zeros,he", "l2=0,0.7"]`` into the grid of variants.

    Raises:
        ValueError: for a malformed spec, an unknown setting or a bad value.

    Example:
        >>> parse_vary(["init=zeros,he", "l2=0,0.7"])[1]
        {'init': 'zeros', 'l2': 0.7}
    """
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    axes: list[list[tuple[str, Any]]] = []
    seen = set()
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not text.strip():
            raise ValueError(
                f"--vary takes SETTING=VALUE,VALUE,...; got {spec!r} (e.g. "
                "--vary init=zeros,random:10,he)."
            )
        if key not in fields or key in ("out", "checkpoint_every"):
            import difflib

            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"--vary: unknown setting {key!r}.{hint}")
        if key in seen:
            raise ValueError(f"--vary: {key} is varied twice; give its values once.")
        seen.add(key)
        values = [part.strip() for part in text.split(",") if part.strip()]
        axes.append([(key, _convert(key, value, fields[key])) for value in values])
    if not axes:
        raise ValueError("give at least one --vary SETTING=VALUE,VALUE,...")
    return [dict(combination) for combination in itertools.product(*axes)]


def _name(values: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return "/".join(map(str, value)) if isinstance(value, tuple) else f"{value}"

    return ",".join(f"{key}={show(value)}" for key, value in values.items())


def compare(
    config: TrainConfig,
    grid: Sequence[dict[str, Any]],
    *,
    on_variant: Callable[[int, Variant], None] | None = None,
) -> list[Variant]:
    """Train one model per entry of ``grid`` (settings over ``config``), same seed.

    The data and the split are shared by all variants unless a variant changes a
    data setting (data, n_samples, seed, dev/test sizes).
    """
    shared = None
    variants = []
    for index, values in enumerate(grid):
        started = time.perf_counter()
        variant_config = dataclasses.replace(config, **values)
        if shared is None or DATA_SETTINGS & set(values):
            data = load_data(variant_config)
            split = split_data(variant_config, data)
            if not DATA_SETTINGS & set(values):
                shared = (data, split)
        else:
            data, split = shared
        model, history = train_model(variant_config, data, split.train, split.dev)
        metrics: dict[str, Any] = evaluate_sets(
            model, data, {"train": split.train, "dev": split.dev, "test": split.test}
        )
        metrics["epochs_run"] = history.epochs_run
        metrics["seconds"] = time.perf_counter() - started
        settings = variant_config.settings()
        variant = Variant(_name(values), values, settings, metrics, history)
        variants.append(variant)
        if on_variant is not None:
            on_variant(index, variant)
    return variants


def write_results(variants: Sequence[Variant], folder: Path, title: str) -> Path:
    """Write results.json and the overlaid report.html into ``folder``."""
    from .report.html import write_comparison_report

    folder.mkdir(parents=True, exist_ok=True)
    document = {"variants": [v.to_dict() for v in variants]}
    atomic_write_text(folder / "results.json", json.dumps(document, indent=2) + "\n")
    entries = [
        {
            "name": v.name,
            "settings": v.settings,
            "metrics": v.metrics,
            "history": v.history,
        }
        for v in variants
    ]
    return write_comparison_report(entries, folder / "report.html", title=title)
