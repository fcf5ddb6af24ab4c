"""Start-up: what `import nntune` and `nntune train` load, and work done only once.

Each import check runs in a fresh interpreter and lists the modules it loaded; the
heavy libraries (plots, data frames, SciPy, scikit-learn, Optuna, rich) load only
where they are used. Speed itself is measured by benchmarks/startup_io.py, never
asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

HEAVY = ("matplotlib", "pandas", "pyarrow", "scipy", "sklearn", "optuna", "rich")


def loaded_after(code: str, cwd: Path | None = None) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a new process."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    ).stdout
    return {name.split(".")[0] for name in output.split()}


def test_import_nntune_loads_none_of_the_heavy_libraries():
    loaded = loaded_after("import nntune")
    assert "numpy" in loaded
    assert not loaded & {*HEAVY, "click", "ray", "jax", "torch", "h5py"}


def test_the_cli_loads_none_of_them_until_a_command_needs_them():
    assert not loaded_after("import nntune.cli") & set(HEAVY)


def test_moons_and_circles_load_without_scikit_learn():
    loaded = loaded_after(
        "import nntune\n"
        "nntune.load_dataset('moons', n_samples=50)\n"
        "nntune.load_dataset('circles', n_samples=50)"
    )
    assert not loaded & {"sklearn", "scipy"}


def test_train_on_moons_loads_only_what_it_uses(tmp_path):
    """matplotlib draws the report and rich prints the summary; nothing else."""
    loaded = loaded_after(
        "import sys\n"
        "from nntune.cli import main\n"
        "try:\n"
        "    main(['train', '--epochs', '1', '--out', 'run'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code",
        cwd=tmp_path,
    )
    assert (tmp_path / "run" / "report.html").is_file()
    assert {"matplotlib", "rich"} <= loaded
    assert not loaded & {"sklearn", "scipy", "pandas", "pyarrow", "optuna"}


def test_train_draws_the_report_once_and_reads_the_data_once(tmp_path, monkeypatch):
    import nntune.experiment.trial as trial
    import nntune.report.html as html
    from nntune.cli import main

    reports, loads = [], []
    write_run_report, load_file = html.write_run_report, trial.load_file

    def count_report(*args, **kwargs):
        reports.append(args)
        return write_run_report(*args, **kwargs)

    def count_load(*args, **kwargs):
        loads.append(args)
        return load_file(*args, **kwargs)

    monkeypatch.setattr(html, "write_run_report", count_report)
    monkeypatch.setattr(trial, "load_file", count_load)
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(200))
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n" + rows + "\n")
    result = CliRunner().invoke(
        main,
        ["train", "--data", str(data), "--epochs", "3", "--out", str(tmp_path / "r")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").is_file()
    assert len(reports) == 1  # at the end, not after every epoch
    assert len(loads) == 1  # the report reuses the run's data, not a second read


def test_train_without_a_report_skips_matplotlib_and_report_writes_it_later(tmp_path):
    loaded = loaded_after(
        "import json, sys\n"
        "from nntune.cli import main\n"
        "try:\n"
        "    main(['train', '--epochs', '1', '--out', 'run', '--no-report'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code",
        cwd=tmp_path,
    )
    run = tmp_path / "run"
    assert (run / "model.safetensors").is_file()
    assert not (run / "report.html").exists()
    assert "matplotlib" not in loaded
    metrics = json.loads((run / "metrics.json").read_text())
    assert "report" not in metrics
    from nntune.cli import main

    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--out", str(run)])
    assert result.exit_code == 0, result.output  # the same settings: resumed
    assert (run / "report.html").is_file()


def test_no_report_says_how_to_write_it(tmp_path):
    from nntune.cli import main

    out = tmp_path / "quick"
    result = CliRunner().invoke(
        main, ["train", "--epochs", "1", "--out", str(out), "--no-report"]
    )
    assert result.exit_code == 0, result.output
    assert f"nntune report {out} writes it" in result.output
    later = CliRunner().invoke(main, ["report", str(out)])
    assert later.exit_code == 0, later.output
    assert (out / "report.html").is_file()
