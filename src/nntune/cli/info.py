"""``nntune info``: versions, optional extras, and the BLAS under NumPy."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from typing import Any

import click

from . import main

EXTRAS = {
    "matplotlib": "plots",
    "pandas": "data",
    "torch": "torch",
    "onnx": "export",
    "jax": "jax",
    "optuna": "tune",
    "psycopg2-binary": "postgres",
    "ray": "ray",
}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _jax_device() -> str | None:
    """Where backend="jax" computes (cpu, gpu...), or None without JAX."""
    if _version("jax") is None:
        return None
    from ..backend.accelerated import jax_device

    return jax_device()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--quiet", is_flag=True, help="Print only what holds the BLAS back, if anything."
)
@click.pass_context
def info(ctx: click.Context, as_json: bool, quiet: bool) -> None:
    """Versions, which extras are installed, and whether the BLAS is held back.

    NumPy's matrix products run in a BLAS library; this says which one, with which
    kernels and threads, and what to change when it runs below the CPU's best
    (OPENBLAS_CORETYPE naming an older CPU, more threads than cores); and where
    JAX keeps compiled programs between runs (NNTUNE_JAX_CACHE=off: nowhere).
    """
    from ..backend.blas import blas_report
    from .jax_cache import describe

    found: dict[str, Any] = {
        "nntune": _version("nntune"),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "extras": {
            package: {"extra": extra, "version": _version(package)}
            for package, extra in EXTRAS.items()
        },
        "jax_device": _jax_device(),
        "jax_cache": describe((ctx.obj or {}).get("jax_cache")),
        **blas_report(),
    }
    if as_json:
        click.echo(json.dumps(found))
        return
    if quiet:
        for note in found["notes"]:
            click.echo(f"Note: {note}")
        return
    click.echo(
        f"nntune {found['nntune']} · Python {found['python']} · NumPy {found['numpy']}"
    )
    for package, item in found["extras"].items():
        state = (
            item["version"] or f"not installed (pip install 'nntune[{item['extra']}]')"
        )
        click.echo(f"  {package}: {state}")
    device = found["jax_device"]
    click.echo(
        "backend='jax' runs on: "
        + (device or "(JAX is not installed: pip install 'nntune[jax]')")
    )
    cache = found["jax_cache"]
    if cache and cache["dir"]:
        count = cache["programs"]
        how = (
            "NNTUNE_JAX_CACHE=off to not keep them"
            if cache["set_by"] == "nntune"
            else "your JAX_COMPILATION_CACHE_DIR"
        )
        click.echo(
            f"JAX keeps compiled programs in {cache['dir']} ({count} "
            f"program{'' if count == 1 else 's'}, {cache['bytes'] / 2**20:.1f} MiB; "
            f"{how})"
        )
    elif cache:
        click.echo(f"JAX keeps no compiled programs between runs ({cache['reason']})")
    simd = "AVX-512" if found["avx512"] else ("AVX2" if found["avx2"] else "no AVX2")
    click.echo(f"CPU: {found['cores']} cores, {simd}")
    for pool in found["blas"]:
        click.echo(
            f"BLAS: {pool['internal_api']} {pool['version']}, "
            f"{pool['architecture']} kernels, {pool['num_threads']} threads"
        )
    coretype = found["OPENBLAS_CORETYPE"]
    if coretype:
        click.echo(f"OPENBLAS_CORETYPE={coretype}")
    for note in found["notes"]:
        click.echo(f"Note: {note}")
    if not found["notes"]:
        click.echo("The BLAS runs at the CPU's best kernels and within its cores.")
