"""Layers in the parameters/gradients convention (a numpy ML library's): each layer keeps
``self.parameters`` and ``self.gradients`` dicts keyed alike, and ``backward(dLdy)`` returns
the input gradient. ``Linear`` keeps attribute pairs instead (``W``/``dW``, ``b``/``grad_b``).
Used by the tests with no adapter."""

import numpy as np


class FullyConnected:
    def __init__(self, n_in, n_out):
        self.parameters = {"W": np.random.randn(n_in, n_out) * 0.1, "b": np.zeros((1, n_out))}
        self.gradients = {"W": np.zeros((n_in, n_out)), "b": np.zeros((1, n_out))}

    def forward(self, X):
        self.X = X
        return X @ self.parameters["W"] + self.parameters["b"]

    def backward(self, dLdy):
        self.gradients["W"] += self.X.T @ dLdy
        self.gradients["b"] += dLdy.sum(axis=0, keepdims=True)
        return dLdy @ self.parameters["W"].T


class Tanh:
    def __init__(self):
        self.parameters = {}
        self.gradients = {}

    def forward(self, X):
        self.X = X
        return np.tanh(X)

    def backward(self, dLdy):
        return dLdy * (1 - np.tanh(self.X) ** 2)


class Linear:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_in, n_out)
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.grad_b = dout.sum(axis=0)
        return dout @ self.W.T


class Sigmoid:
    """No parameters, and a helper method the backward calls (mutated with --mutate)."""

    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, dout):
        return dout * self.slope()

    def slope(self):
        return self.y * (1 - self.y)


def network():
    return [FullyConnected(3, 5), Tanh(), Linear(5, 2)]
