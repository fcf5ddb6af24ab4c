import nntune

# Adding a name is a decision: add it here too. Removing one breaks users.
PUBLIC_API = {
    "ACTIVATIONS",
    "DEFAULT_DTYPE",
    "INITIALIZERS",
    "L1",
    "L2",
    "Array",
    "BatchNorm",
    "BinaryCrossEntropy",
    "Dataset",
    "Dense",
    "Dropout",
    "GradientCheckReport",
    "Identity",
    "Initializer",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MeanSquaredError",
    "ModelFileError",
    "ParameterCheck",
    "Params",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "State",
    "Tanh",
    "__version__",
    "gradient_check",
    "layer_from_config",
    "list_datasets",
    "load_dataset",
    "load_model",
    "make_rng",
    "mlp",
    "namespace",
    "numerical_gradient",
    "relative_difference",
    "resolve_dtype",
    "save_model",
    "sigmoid",
    "softmax",
    # training and optimization
    "Standardize",
    "optim",
    "train_dev_test_split",
    "ExponentialWeightedAverage",
    "adam",
    "adamw",
    "gd",
    "momentum",
    "rmsprop",
    "TrainConfig",
    "run_training",
    # the engine: pure train step, training state, trials on prepared data
    "SETTINGS",
    "TrainState",
    "make_train_step",
    "random_key",
    "prepare_data",
    "recipe",
    "train_trial",
    "PreparedData",
    "TrialResult",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "History",
    "ProgressBar",
    "ReduceLROnPlateau",
    "TrainingDivergedError",
    "fit",
    "GradientHealth",
    "GradientHealthReport",
    "gradient_health",
    # data files
    "DataFileError",
    "load_file",
    "save_file",
    # framework export
    "to_onnx",
    "to_torch",
    # scikit-learn estimators (loaded on first use)
    "NNClassifier",
    "NNRegressor",
    # Tuning (lazy: Optuna is imported by a search, not by `import nntune`).
    "tune",
    "open_study",
    "Space",
    "Study",
}


def test_public_api_is_locked():
    assert set(nntune.__all__) == PUBLIC_API
    for name in nntune.__all__:
        assert hasattr(nntune, name), name


def test_import_nntune_loads_only_the_core():
    import subprocess
    import sys

    code = (
        "import sys, nntune; print(' '.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('nntune', 'sklearn', 'matplotlib', 'click', "
        "'jax', 'torch', 'pandas', 'scipy', 'optuna', 'ray'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "nntune.model" in loaded
    for name in loaded:
        assert name.split(".")[0] == "nntune", name
        assert not name.startswith(
            (
                "nntune.experiment",
                "nntune.cli",
                "nntune.report",
                "nntune.estimators",
                "nntune.tuning",
                "optuna",
                "ray",
            )
        ), name
