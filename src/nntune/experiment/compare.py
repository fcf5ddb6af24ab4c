"""Compare variants of one training run: everything equal but the settings varied.

``--vary init=zeros,random:10,he`` trains three models that differ only in their
initializer; several ``--vary`` make a grid. This is the course's labs as a tool for
any data set: initialization (zeros, random x10, He), optimizers (gd, momentum, adam),
regularization (l2 0 vs 0.7, keep_prob 1 vs 0.86).

Values are separated by commas; hidden layer sizes (or decay boundaries) inside a
value by ``/`` (``layers=10/5,20/10``).

Given a folder, each variant is also written as a run folder of its own, as
``nntune train`` writes one (``FOLDER/init=he/``: config.toml, the model, history
and metrics), so that ``nntune evaluate``, ``predict``, ``diagnose`` and ``export``
work on it; the CLI adds each one's report.html.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import atomic_write_text
from ..model import Sequential
from ..training import History
from .config import TrainConfig
from .populations import train_trials
from .rundir import (
    check_run_folder,
    describe_data,
    write_config,
    write_trained_run,
)
from .settings import BY_NAME, check_setting, setting_name
from .trial import TrialResult, prepare_data


@dataclass
class Variant:
    """One trained variant: its name, the varied values, metrics, history and model.

    ``run_dir`` is its run folder, when :func:`compare` wrote one.
    """

    name: str
    values: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    history: History
    model: Sequential | None = None
    run_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, the varied keys, train/dev, epochs, time, run folder."""
        document: dict[str, Any] = {"name": self.name, **self.values}
        for name in ("train", "dev"):
            if name in self.metrics:
                document[name] = self.metrics[name]
        document["epochs_run"] = self.metrics["epochs_run"]
        document["seconds"] = self.metrics["seconds"]
        if self.run_dir is not None:
            document["run_dir"] = str(self.run_dir)
        return document


def _convert(key: str, text: str) -> Any:
    kind = BY_NAME[key].kind
    if kind in ("layers", "epochs"):
        try:
            numbers = tuple(int(part) for part in text.split("/"))
        except ValueError:
            example = "layers=10/5,20/10" if kind == "layers" else f"{key}=50/80,30"
            raise ValueError(
                f"{key} values separate {'sizes' if kind == 'layers' else 'epochs'} "
                f"with '/' ({example}); got {text!r}."
            ) from None
        return check_setting(key, numbers, "--vary")
    value: Any = text
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            value = text.lower() in ("true", "1")
        elif kind == "int":
            value = int(text)
        elif kind == "float":
            value = float(text)
    except ValueError:
        raise ValueError(
            f"--vary {key}={text!r}: expected {BY_NAME[key].expected}."
        ) from None
    return check_setting(key, value, "--vary")


def parse_vary(specs: Sequence[str]) -> list[dict[str, Any]]:
    """Turn ``["init=zeros,he", "l2=0,0.7"]`` into the grid of variants.

    Raises:
        ValueError: for a malformed spec, an unknown setting or a bad value.

    Example:
        >>> parse_vary(["init=zeros,he", "l2=0,0.7"])[1]
        {'init': 'zeros', 'l2': 0.7}
    """
    fields = BY_NAME
    axes: list[list[tuple[str, Any]]] = []
    seen = set()
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = setting_name(key.strip())
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
        axes.append([(key, _convert(key, value)) for value in values])
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
    folder: str | Path | None = None,
) -> list[Variant]:
    """Train one model per entry of ``grid`` (settings over ``config``), same seed.

    Each variant is a trial (:func:`~nntune.experiment.trial.train_trial`) of its own
    configuration on prepared data, shared by all variants unless a variant changes a
    data setting. Variants are compared on their dev metrics; the test set is not
    evaluated.

    With ``folder``, each variant's ``out`` is ``folder/<its name>`` (see
    :func:`variant_folders`) and its run folder is written there, as
    :func:`~nntune.run_training` writes one but for the test set, the checkpoint
    and the report.

    Raises:
        ValueError: for a setting that applies to no variant, or a variant folder
            that holds files of something else than an nntune run.
    """
    variants = []
    # Every variant's settings are checked before the first one trains. A setting
    # may apply to some variants only (--decay-interval with decay=none,interval),
    # but one that applies to none is an error.
    configs = [dataclasses.replace(config, **values) for values in grid]
    if folder is not None:
        outs = [Path(folder) / name for name in variant_folders(grid)]
        for out in outs:
            check_run_folder(out)
        configs = [
            dataclasses.replace(variant, out=str(out))
            for variant, out in zip(configs, outs, strict=True)
        ]
    unused = [variant.inapplicable() for variant in configs]
    for name, message in unused[0].items():
        if all(name in found for found in unused):
            raise ValueError(message)
    # Variants that differ only in a population member's settings (learning rate,
    # l2, keep_prob, init_seed) train together in one batched pass.
    trials = train_trials(configs)
    for index, (values, variant_config, trial) in enumerate(
        zip(grid, configs, trials, strict=True)
    ):
        metrics: dict[str, Any] = {"train": trial.train}
        if trial.dev:
            metrics["dev"] = trial.dev
        metrics["epochs_run"] = trial.history.epochs_run
        metrics["seconds"] = trial.seconds
        run_dir = None
        if folder is not None:
            run_dir, metrics = _write_run(trial)
        variant = Variant(
            _name(values),
            values,
            variant_config.settings(),
            metrics,
            trial.history,
            trial.model,
            run_dir,
        )
        variants.append(variant)
        if on_variant is not None:
            on_variant(index, variant)
    return variants


def variant_folders(grid: Sequence[dict[str, Any]]) -> list[str]:
    """The folder name of each variant: its name, with ``-`` for ``/``, ``:`` etc.

    Example:
        >>> variant_folders(parse_vary(["init=random:10,he", "layers=10/5"]))
        ['init=random-10,layers=10-5', 'init=he,layers=10-5']
    """
    names: list[str] = []
    for values in grid:
        name = re.sub(r"[^\w.,=+-]", "-", _name(values))
        while name in names:  # values that differ in a replaced character only
            name += "-"
        names.append(name)
    return names


def _write_run(trial: TrialResult) -> tuple[Path, dict[str, Any]]:
    """Write a trained variant's run folder; return it and the run's metrics."""
    config = trial.config
    run_dir = config.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    prepared = prepare_data(config)  # cached: the data the variant trained on
    write_config(run_dir, config.settings())
    started = time.perf_counter() - trial.seconds
    described = describe_data(prepared.dataset)
    result = write_trained_run(trial, prepared, run_dir, described, started)
    return run_dir, result.metrics


def write_results(variants: Sequence[Variant], folder: Path) -> Path:
    """Write results.json into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {"variants": [v.to_dict() for v in variants]}
    path = folder / "results.json"
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    return path
