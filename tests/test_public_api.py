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
}


def test_public_api_is_locked():
    assert set(nntune.__all__) == PUBLIC_API
    for name in nntune.__all__:
        assert hasattr(nntune, name), name
