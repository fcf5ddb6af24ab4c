"""Build, train and gradient-check a small network on the moons dataset.

This is what `make demo` runs. It uses nntune's functional core directly: the model
gives the cost and its gradients, and the loop applies plain gradient descent, as in
the course's first labs (the optimizers and the fit loop build on exactly this).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import nntune


def main() -> None:
    data = nntune.load_dataset("moons", seed=3)
    print(f"Data: {data.name}, {len(data.y)} examples, {data.description}")
    model = nntune.mlp([10, 5], batch_norm=True, l2=0.1).init(data.n_features, seed=1)
    print(model.summary(), end="\n\n")

    x, targets = model.prepare(data.X, data.y)
    params, state = model.params, model.state
    learning_rate = 0.5
    for epoch in range(1, 601):
        cost, grads, state = model.value_and_grad(params, state, x, targets)
        params = {
            layer: {
                name: p - learning_rate * grads[layer][name]
                for name, p in arrays.items()
            }
            for layer, arrays in params.items()
        }
        if epoch == 1 or epoch % 100 == 0:
            print(f"epoch {epoch:4d}  training cost {float(cost):.4f}")
    model.params, model.state = params, state
    accuracy = float(np.mean(model.predict(data.X) == data.y))
    print(f"\nTraining accuracy after full-batch gradient descent: {accuracy:.3f}")

    report = nntune.gradient_check(model, data.X, data.y)
    print(f"\nGradient check of the trained network (float64):\n{report}\n")

    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "model", metadata={"dataset": data.name})
        loaded = nntune.load_model(Path(folder) / "model")
        same = np.array_equal(loaded.predict_proba(data.X), model.predict_proba(data.X))
        print(f"Saved and loaded (safetensors + JSON): predictions identical: {same}")


if __name__ == "__main__":
    main()
