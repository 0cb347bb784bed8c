import numpy as np

EPS = 1e-5


def init_params(rng):
    return {"W": rng.standard_normal((4, 5)), "gamma": np.ones((4, 1)), "beta": np.zeros((4, 1))}


def forward_propagation_n(X, Y, parameters):
    Z = parameters["W"] @ X
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    xhat = (Z - mu) / np.sqrt(var + EPS)
    out = parameters["gamma"] * xhat + parameters["beta"]
    R = np.cos(np.arange(out.size)).reshape(out.shape)
    return float(np.sum(out * R)), (X, xhat, var, parameters["gamma"], R)


def backward_propagation_n(X, Y, cache):
    X, xhat, var, gamma, dout = cache
    m = X.shape[1]
    dgamma = np.sum(dout * xhat, axis=1, keepdims=True)
    dbeta = np.sum(dout, axis=1, keepdims=True)
    dxhat = dout * gamma
    dZ = (m * dxhat - np.sum(dxhat, axis=1, keepdims=True)
          - xhat * np.sum(dxhat * xhat, axis=1, keepdims=True)) / (m * np.sqrt(var + EPS))
    dW = dZ @ X.T
    return {"dW": dW, "dgamma": dgamma, "dbeta": dbeta}
