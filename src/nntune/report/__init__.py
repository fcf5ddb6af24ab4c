"""Reports of runs and studies: plots as PNG bytes and self-contained HTML pages.

``nntune report RUN_DIR`` writes ``RUN_DIR/report.html`` and ``nntune report STUDY``
a study's ``report.html``; from Python::

    from nntune.report import write_run_report, write_study_report
    write_run_report("runs/moons")
    write_study_report("studies/moons")

The plots need the ``plots`` extra (matplotlib), imported only when a plot is drawn.
"""

from .html import (
    read_history,
    read_run,
    render_comparison_report,
    render_run_report,
    write_comparison_report,
    write_run_report,
)
from .study import render_study_report, write_study_report

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
