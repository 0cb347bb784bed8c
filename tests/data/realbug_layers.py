"""Small layers written the way people write them, for the operator tests (not shipped).

Each is a subject in the cs231n manner: the cost is ``sum(out * R)`` for a fixed random
``R`` (read-only, like every case array), and the gradients are what the backward returns
(or sets on the layer object, in the book's class style, written here as functions of
``self``, which the engine mutates like any function).
"""

from types import SimpleNamespace

import numpy as np

from mutagrad.subject import Case, Subject, cast

V, D = 5, 3


def embedding_forward(W, idx):
    return W[idx], (W.shape, idx)


def embedding_backward(dout, cache):
    shape, idx = cache
    dW = np.zeros(shape)
    np.add.at(dW, idx, dout)
    return dW


def relu_backward(dvalues, inputs):
    dinputs = dvalues.copy()
    dinputs[inputs <= 0] = 0
    return dinputs


def sigmoid_forward(self, inputs):
    self.inputs = inputs
    self.output = 1 / (1 + np.exp(-inputs))


def sigmoid_backward(self, dvalues):
    self.dinputs = dvalues * (1 - self.output) * self.output


def dense_forward(self, inputs):
    self.inputs = inputs
    self.output = np.dot(inputs, self.weights) + self.biases


def dense_backward(self, dvalues):
    self.dweights = np.dot(self.inputs.T, dvalues)
    self.dweights += 2 * self.weight_regularizer_l2 * self.weights
    self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
    self.dinputs = np.dot(dvalues, self.weights.T)


def cell_forward(f, c_prev, o, u):
    c = f * c_prev + u
    tanh_c = np.tanh(c)
    return o * tanh_c, c, (o, tanh_c, f, c_prev)


def cell_backward(dnext_h, dnext_c, cache):
    o, tanh_c, f, c_prev = cache
    dnext_c = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    df = dnext_c * c_prev
    dc_prev = dnext_c * f
    return df, dc_prev


def _case(seed, batch, dtype, shapes, data=None):
    seed = 0 if seed is None else seed
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s(batch or 3)) for k, s in shapes.items()}
    extra = {k: make(rng, batch or 3) for k, make in (data or {}).items()}
    return Case(seed, batch or 3, dtype, cast(params, dtype), extra)


def _embedding_case(seed, batch, dtype):
    # indices repeat (a sentence with a word twice): where ``+=`` and np.add.at differ
    return _case(seed, batch, dtype, {"W": lambda m: (V, D)},
                 {"idx": lambda rng, m: np.array([1, 3, 1, 0, 3][:max(m, 2)]),
                  "R": lambda rng, m: rng.standard_normal((max(m, 2), D))})


def _embedding_cost(params, case):
    out, _ = embedding_forward(params["W"], case.data["idx"])
    return float(np.sum(out * case.data["R"]))


def _embedding_gradients(backward, case):
    _, cache = embedding_forward(case.params["W"], case.data["idx"])
    return {"W": np.asarray(backward(case.data["R"], cache))}


EMBEDDING = Subject("embedding", "word embedding with np.add.at", embedding_backward, ("W",),
                    _embedding_cost, _embedding_gradients, _embedding_case)


def _relu_case(seed, batch, dtype):
    return _case(seed, batch, dtype, {"x": lambda m: (m, 4)},
                 {"R": lambda rng, m: rng.standard_normal((m, 4))})


def _relu_gradients(backward, case):
    return {"x": np.asarray(backward(case.data["R"], case.params["x"]))}


RELU = Subject("relu", "relu with dvalues.copy()", relu_backward, ("x",),
               lambda p, c: float(np.sum(np.maximum(0, p["x"]) * c.data["R"])),
               _relu_gradients, _relu_case)


def _sigmoid_gradients(backward, case):
    layer = SimpleNamespace()
    sigmoid_forward(layer, case.params["x"])
    backward(layer, case.data["R"])
    return {"x": np.asarray(layer.dinputs)}


SIGMOID = Subject("sigmoid", "a sigmoid layer object", sigmoid_backward, ("x",),
                  lambda p, c: float(np.sum(1 / (1 + np.exp(-p["x"])) * c.data["R"])),
                  _sigmoid_gradients, _relu_case)

L2 = 0.3


def _dense_layer(params):
    layer = SimpleNamespace(weights=params["weights"], biases=params["biases"],
                            weight_regularizer_l2=L2)
    dense_forward(layer, params["x"])
    return layer


def _dense_case(seed, batch, dtype):
    return _case(seed, batch, dtype, {"x": lambda m: (m, 4), "weights": lambda m: (4, 3),
                                      "biases": lambda m: (1, 3)},
                 {"R": lambda rng, m: rng.standard_normal((m, 3))})


def _dense_cost(params, case):
    layer = _dense_layer(params)
    return float(np.sum(layer.output * case.data["R"])
                 + L2 * np.sum(params["weights"] ** 2))


def _dense_gradients(backward, case):
    layer = _dense_layer(case.params)
    backward(layer, case.data["R"])
    return {"x": np.asarray(layer.dinputs), "weights": np.asarray(layer.dweights),
            "biases": np.asarray(layer.dbiases)}


DENSE = Subject("dense", "a dense layer object with an L2 penalty", dense_backward,
                ("x", "weights", "biases"), _dense_cost, _dense_gradients, _dense_case)


def _cell_case(seed, batch, dtype):
    return _case(seed, batch, dtype, {"f": lambda m: (m, 3), "c_prev": lambda m: (m, 3)},
                 {"o": lambda rng, m: rng.standard_normal((m, 3)),
                  "u": lambda rng, m: rng.standard_normal((m, 3)),
                  "Rh": lambda rng, m: rng.standard_normal((m, 3)),
                  "Rc": lambda rng, m: rng.standard_normal((m, 3))})


def _cell_cost(params, case):
    h, c, _ = cell_forward(params["f"], params["c_prev"], case.data["o"], case.data["u"])
    return float(np.sum(h * case.data["Rh"]) + np.sum(c * case.data["Rc"]))


def _cell_gradients(backward, case):
    _, _, cache = cell_forward(case.params["f"], case.params["c_prev"], case.data["o"],
                               case.data["u"])
    df, dc_prev = backward(case.data["Rh"], case.data["Rc"], cache)
    return {"f": np.asarray(df), "c_prev": np.asarray(dc_prev)}


CELL = Subject("cell", "an LSTM cell-state step", cell_backward, ("f", "c_prev"),
               _cell_cost, _cell_gradients, _cell_case)
