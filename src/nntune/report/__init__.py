"""Reports of runs and studies: plots as PNG bytes and self-contained HTML pages.

``nntune report RUN_DIR`` writes ``RUN_DIR/report.html`` and ``nntune report STUDY``
a study's ``report.html``; from Python::

    from nntune.report import write_run_report, write_study_report
    write_run_report("runs/moons")
    write_study_report("studies/moons")

The plots need the ``plots`` extra (matplotlib), imported only when a plot is drawn.
"""

from typing import TYPE_CHECKING

from .html import (
    read_history,
    read_run,
    render_comparison_report,
    render_run_report,
    write_comparison_report,
    write_run_report,
)

if TYPE_CHECKING:
    from .study import render_study_report, write_study_report


def __getattr__(name: str) -> object:
    # The study report loads the tuning package: only when a study report is drawn,
    # not when `nntune train` writes a run's report.
    if name in ("render_study_report", "write_study_report"):
        from . import study

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "read_history",
    "read_run",
    "render_comparison_report",
    "render_run_report",
    "render_study_report",
    "write_comparison_report",
    "write_run_report",
    "write_study_report",
]
