"""``nntune export``: a run's model as an ONNX file or a PyTorch program."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import main

_SUFFIXES = {"onnx": ".onnx", "torch": ".pt2"}


@main.command()
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(sorted(_SUFFIXES)),
    default="onnx",
    show_default=True,
    help="onnx: an ONNX file (ONNX Runtime, any language); torch: a torch.export "
    "program, torch.export.load(FILE).module().",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: beside the model, RUN/model.onnx or RUN/model.pt2).",
)
@click.option(
    "--output",
    type=click.Choice(["probabilities", "logits"]),
    default="probabilities",
    show_default=True,
    help="What the model computes: a classifier's class probabilities (a regression "
    "model's values), or the last layer's logits.",
)
@click.option(
    "--opset",
    type=click.IntRange(min=13),
    help="ONNX operator set (default 17).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def export(
    run: Path,
    file_format: str,
    out: Path | None,
    output: str,
    opset: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Export the model of RUN, class labels included, for use outside nntune.

    RUN is the folder of an `nntune train` run, or the .json file of a saved model
    or estimator. A classifier's ONNX file has two outputs: label (the predicted
    class names) and probabilities, one column per class.
    """
    from ..export import to_onnx, to_torch
    from ..export.source import resolve

    if opset is not None and file_format != "onnx":
        raise ValueError(
            f"--opset {opset} is an ONNX setting; drop it, or export --format onnx."
        )
    source = resolve(run, output)  # loads the model once, with its labels
    if out is None:  # beside the model: RUN/model.onnx, or x.json -> x.onnx
        stem = run / "model" if run.is_dir() else run
        out = stem.with_suffix(_SUFFIXES[file_format])
    numbers = "values" if source.model.loss.task == "regression" else output
    if file_format == "onnx":
        options = {} if opset is None else {"opset": opset}
        to_onnx(source.model, out, output=output, **options)
        outputs = [numbers] if source.classes is None else ["label", numbers]
    else:
        to_torch(source.model, out, output=output)
        outputs = [numbers]
    classes = None if source.classes is None else list(source.classes)
    if as_json:
        document = {"file": str(out), "format": file_format, "outputs": outputs}
        click.echo(json.dumps({**document, "classes": classes}))
    elif not quiet:
        described = " and ".join(outputs)
        if file_format == "torch":
            described = f"a torch.export program computing {described}"
        else:
            described = f"outputs {described}"
        if classes is not None:
            described += f"; classes: {', '.join(str(c) for c in classes)}"
        click.echo(f"Wrote {out}: {described}")
