"""The gradient-health callback: watch activations and gradients while training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .callbacks import Callback
from .health import GradientHealthReport, Thresholds, gradient_health

if TYPE_CHECKING:
    from .trainer import Trainer


class GradientHealth(Callback):
    """Record a :class:`GradientHealthReport` on a fixed batch every ``every`` epochs.

    ``reports`` maps epochs completed to reports: 0 for the initial weights (unless
    training resumes), then ``every``, ``2 * every``, ... The check draws from its own
    seeded generator and changes nothing, so training is bit-identical without it.
    ``str(callback)`` shows how the verdict and each ``||dW||`` evolve.

    Args:
        X: a fixed batch of training inputs, e.g. ``X[:256]``.
        y: its labels.
        every: epochs between checks.
        **options: ``seed`` and thresholds, passed to :func:`gradient_health`.

    Raises:
        ValueError: if ``every`` is not an integer >= 1.
    """

    def __init__(self, X: Any, y: Any, *, every: int = 1, **options: Any) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1 (epochs); got {every!r}.")
        Thresholds.of({k: v for k, v in options.items() if k != "seed"})
        self.X, self.y, self.every, self.options = X, y, every, options
        self.reports: dict[int, GradientHealthReport] = {}

    def _check(self, trainer: Trainer) -> GradientHealthReport:
        return gradient_health(
            trainer.model,
            self.X,
            self.y,
            params=trainer.params,
            state=trainer.state,
            **self.options,
        )

    def on_train_begin(self, trainer: Trainer) -> None:
        self.reports = {}
        if trainer.epoch == 0:
            self.reports[0] = self._check(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if (epoch + 1) % self.every == 0:
            self.reports[epoch + 1] = self._check(trainer)

    def __str__(self) -> str:
        rows = ["epoch  verdict     ||dW|| of each Dense layer, input first"]
        for epoch, report in self.reports.items():
            norms = " ".join(f"{h.gradient_norm:9.3g}" for h in report.layers)
            rows.append(f"{epoch:>5}  {report.verdict:<10}  {norms}")
        return "\n".join(rows)
