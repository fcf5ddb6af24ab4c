import json

import numpy as np
import pytest

import nntune
from nntune import BatchNorm, Dense, Dropout, ReLU, Sequential, Tanh
from nntune.training import GradientHealth, fit
from nntune.training.health import Thresholds, gradient_health, layer_statistics

CIRCLES = nntune.load_dataset("circles")
X, Y = CIRCLES.X, CIRCLES.y


def check(hidden, init, activation, seed=0, **thresholds):
    model = nntune.mlp(hidden, init=init, activation=activation).init(2, seed=seed)
    return gradient_health(model, X, Y, **thresholds)


# ------------------------------------------------------------------ verdicts by init
@pytest.mark.parametrize(
    ("hidden", "init", "activation", "verdicts", "fix"),
    [
        ([10, 5, 5], "zeros", "relu", {"symmetric"}, "use he"),
        ([10, 5, 5], "zeros", "tanh", {"symmetric"}, "use xavier"),
        ([10, 5, 5], "random:10", "relu", {"exploding"}, "use he for ReLU"),
        ([10, 5, 5], "random:10", "tanh", {"exploding", "saturated"}, "xavier"),
        ([20] * 8, "random:0.01", "tanh", {"vanishing"}, "use xavier"),
        ([20] * 8, "random:0.01", "relu", {"vanishing"}, "use he"),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_bad_initializations_are_flagged_with_the_init_and_a_fix(
    hidden, init, activation, verdicts, fix, seed
):
    report = check(hidden, init, activation, seed=seed)
    assert report.verdict in verdicts
    assert not report.healthy
    assert report.problems
    assert all(init in problem for problem in report.problems)
    assert report.suggestions
    assert any(init in s and fix in s for s in report.suggestions), report.suggestions


@pytest.mark.parametrize(
    ("hidden", "init", "activation"),
    [
        ([10, 5, 5], "he", "relu"),
        ([10, 5, 5], "xavier", "tanh"),
        ([20] * 8, "he", "relu"),
        ([20] * 8, "xavier", "tanh"),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_scaled_initializations_are_healthy(hidden, init, activation, seed):
    report = check(hidden, init, activation, seed=seed)
    assert report.verdict == "healthy", str(report)
    assert report.problems == ()
    assert report.suggestions == ()
    assert all(layer.verdict == "healthy" for layer in report.layers)


def test_zeros_gives_zero_hidden_gradients_and_every_hidden_layer_symmetric():
    report = check([10, 5, 5], "zeros", "relu")
    assert [h.verdict for h in report.layers] == [
        "symmetric",
        "symmetric",
        "symmetric",
        "healthy",  # one output unit: nothing to be symmetric with
    ]
    assert all(h.gradient_norm == 0 for h in report.layers[:-1])
    assert report.suggestions == (
        "dense_0, dense_2, dense_4: zeros: every unit of a layer computes the same "
        "thing and gets the same gradient, so symmetry is never broken: use he or "
        "random:0.01",
    )


def test_random_10_relu_activations_blow_up_layer_by_layer():
    report = check([10, 5, 5], "random:10", "relu")
    stds = [h.activation_std for h in report.layers]
    assert stds == sorted(stds)  # each layer multiplies the spread
    assert stds[-1] > 1e3
    assert report.layers[-1].verdict == "exploding"
    assert report.layers[-1].problem.startswith("activation std 5")


def test_deep_tanh_with_small_weights_collapses_its_activations():
    report = check([20] * 8, "random:0.01", "tanh")
    hidden = report.layers[1:-1]
    assert all(h.verdict == "vanishing" for h in hidden)
    assert all(h.activation_std < 1e-3 for h in hidden)
    assert report.layers[-2].activation_std < 1e-10


# ------------------------------------------------------ statistics checked by hand
def test_statistics_match_the_model_gradients_and_a_hand_forward():
    model = nntune.mlp([4, 3], l2=0.3).init(2, seed=3, dtype="float64")
    x, targets = model.prepare(X, Y)
    _, grads, _ = model.value_and_grad(model.params, model.state, x, targets)
    stats = layer_statistics(model, X, Y)
    assert [h.name for h in stats] == ["dense_0", "dense_2", "dense_4"]
    for h in stats:
        weights = model.params[h.name]["W"]
        assert h.gradient_norm == pytest.approx(np.linalg.norm(grads[h.name]["W"]))
        assert h.weight_norm == pytest.approx(np.linalg.norm(weights))
        assert h.gradient_to_weight == pytest.approx(h.gradient_norm / h.weight_norm)
    p = model.params
    a1 = np.maximum(X @ p["dense_0"]["W"] + p["dense_0"]["b"], 0)
    a2 = np.maximum(a1 @ p["dense_2"]["W"] + p["dense_2"]["b"], 0)
    z3 = a2 @ p["dense_4"]["W"] + p["dense_4"]["b"]
    assert stats[0].activation_mean == pytest.approx(a1.mean())
    assert stats[0].activation_std == pytest.approx(a1.std())
    assert stats[2].activation is None
    assert stats[2].activation_std == pytest.approx(z3.std())
    # dJ/dz3 = (sigmoid(z3) - y) / m and dJ/da2 = dJ/dz3 W3^T (no L2 on activations)
    dz3 = (1 / (1 + np.exp(-z3)) - Y[:, None]) / len(Y)
    dx = dz3 @ p["dense_4"]["W"].T
    assert stats[2].input_gradient_norm == pytest.approx(np.linalg.norm(dx))
    assert stats[0].dead_fraction == pytest.approx(np.mean(np.all(a1 <= 0, axis=0)))


def test_dead_relu_fraction_counts_units_off_for_every_example():
    model = Sequential([Dense(4), ReLU(), Dense(1)]).init(2, seed=0, dtype="float64")
    bias = model.params["dense_0"]["b"]
    model.params["dense_0"]["b"] = bias + np.array([-100.0, -100.0, 0.0, 0.0])
    report = gradient_health(model, X, Y)
    assert report.layers[0].dead_fraction == 0.5
    assert report.verdict == "healthy"  # the line is "more than half"
    model.params["dense_0"]["b"] = bias + np.array([-100.0, -100.0, -100.0, 0.0])
    report = gradient_health(model, X, Y)
    assert report.layers[0].dead_fraction == 0.75
    assert report.verdict == "dead ReLUs"
    assert "75% of its units never fire" in report.problems[0]
    assert "he is scaled to the fan-in" in report.suggestions[0]
    assert "leaky_relu" in report.suggestions[0]


def test_activation_is_taken_after_batch_norm_and_before_dropout():
    model = Sequential([Dense(3), BatchNorm(), Tanh(), Dropout(0.5), Dense(1)]).init(
        2, seed=0, dtype="float64"
    )
    first = layer_statistics(model, X, Y, seed=4)[0]
    p = model.params
    z = X @ p["dense_0"]["W"] + p["dense_0"]["b"]
    a = np.tanh((z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5))  # gamma 1, beta 0
    assert first.activation == "tanh"
    assert first.activation_std == pytest.approx(a.std())
    assert first.saturated_fraction == pytest.approx(np.mean(np.abs(a) > 0.99))


def test_identical_nonzero_units_are_symmetric_and_a_nudge_breaks_it():
    model = Sequential([Dense(3), Tanh(), Dense(1)]).init(2, seed=0, dtype="float64")
    column = model.params["dense_0"]["W"][:, :1]
    model.params["dense_0"]["W"] = np.repeat(column, 3, axis=1)
    report = gradient_health(model, X, Y)
    assert report.layers[0].symmetric
    assert report.verdict == "symmetric"
    assert "he: the units are identical" in report.suggestions[0]
    model.params["dense_0"]["b"] = np.array([0.0, 0.0, 1e-3])  # a bias breaks it
    assert gradient_health(model, X, Y).verdict == "healthy"
    model.params["dense_0"]["b"] = np.zeros(3)
    model.params["dense_0"]["W"][0, 2] += 1e-3
    assert gradient_health(model, X, Y).verdict == "healthy"


def test_non_finite_activations_are_exploding_and_json_stays_valid():
    report = check([10, 10], "random:1e20", "relu")  # float32 overflows to inf
    assert report.verdict == "exploding"
    assert any("NaN or inf" in p for p in report.problems)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"inf"' in text or '"nan"' in text


# ------------------------------------------------------------------- thresholds
def test_thresholds_are_parameters():
    assert check([10, 5, 5], "he", "relu").verdict == "healthy"
    strict = check([10, 5, 5], "he", "relu", vanishing_ratio=10.0)
    assert strict.verdict == "vanishing"
    assert "x the last layer's" in strict.problems[0]
    assert check([10, 5, 5], "he", "relu", exploding_std=0.5).verdict == "exploding"
    loose = check([10, 5, 5], "random:10", "relu", exploding_std=1e6, output_std=1e9)
    assert loose.verdict == "healthy"


def test_bad_thresholds_are_refused_with_what_was_passed():
    with pytest.raises(TypeError, match=r"unknown gradient-health threshold\(s\) "):
        check([5], "he", "relu", dead_fractoin=0.3)
    with pytest.raises(ValueError, match="threshold dead_fraction must be a number"):
        Thresholds(dead_fraction=-1)
    no_dense = Sequential([Tanh()], loss="mean_squared_error").init(1)
    with pytest.raises(ValueError, match="gradient_health needs a Dense layer"):
        gradient_health(no_dense, X[:, :1], X[:, 1])


def test_report_renders_as_a_table_and_a_json_dict():
    report = check([10, 5, 5], "zeros", "tanh")
    text = str(report)
    assert text.splitlines()[0].split()[:3] == ["layer", "init", "act"]
    assert "dense_4    zeros       tanh" in text
    assert "verdict: symmetric" in text
    assert "fix: dense_0, dense_2, dense_4: zeros" in text
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["verdict"] == "symmetric"
    assert data["layers"][0]["gradient_to_weight"] == "nan"  # 0 / 0
    assert data["thresholds"]["dead_fraction"] == 0.5


# --------------------------------------------------------------------- callback
def train(callbacks, epochs=5):
    model = nntune.mlp([8, 4], batch_norm=True, keep_prob=0.8, init="random:3")
    model.init(2, seed=2)
    options = {"epochs": epochs, "batch_size": 32, "progress": "silent"}
    history = fit(model, X, Y, callbacks=callbacks, **options)
    return model, history


def test_callback_records_reports_at_the_right_epochs_without_changing_training():
    health = GradientHealth(X[:64], Y[:64], every=2)
    with_health, history = train([health])
    without, reference = train([])
    assert sorted(health.reports) == [0, 2, 4]
    for name, tree in without.params.items():
        for key, value in tree.items():
            np.testing.assert_array_equal(with_health.params[name][key], value)
    for name, tree in without.state.items():
        for key, value in tree.items():
            np.testing.assert_array_equal(with_health.state[name][key], value)
    assert history.iterations == reference.iterations
    before = nntune.mlp([8, 4], batch_norm=True, keep_prob=0.8, init="random:3")
    initial = gradient_health(before.init(2, seed=2), X[:64], Y[:64])
    assert health.reports[0].to_dict() == initial.to_dict()
    assert health.reports[4].to_dict() != initial.to_dict()
    final = gradient_health(with_health, X[:64], Y[:64])  # epoch 5: no report kept
    assert health.reports[4].to_dict() != final.to_dict()
    assert str(health).splitlines()[1].startswith("    0  ")


def test_callback_resets_on_each_run_and_validates_every():
    health = GradientHealth(X[:64], Y[:64], every=1, dead_fraction=0.9)
    train([health], epochs=2)
    train([health], epochs=1)
    assert sorted(health.reports) == [0, 1]
    assert health.reports[1].thresholds.dead_fraction == 0.9
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        GradientHealth(X, Y, every=0)
    with pytest.raises(TypeError, match="unknown gradient-health threshold"):
        GradientHealth(X, Y, exploding=1.0)


def test_the_labs_random_x10_network_is_flagged_at_its_output():
    # The course's initialization lab: [10, 5] on circles, weights x10. The hidden
    # layers look fine; the output logits saturate the sigmoid (first cost ~ 383).
    model = nntune.mlp([10, 5], init="random:10").init(2, seed=1)
    report = gradient_health(model, X, Y)
    assert report.verdict == "saturated"
    assert report.layers[-1].verdict == "saturated"
    assert "random:10" in report.suggestions[0]
    regression = nntune.mlp([10, 5], task="regression", init="random:10").init(
        2, seed=1
    )
    assert (
        gradient_health(regression, X, X[:, 0] * 1000).layers[-1].verdict != "saturated"
    )
