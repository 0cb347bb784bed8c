"""A word-embedding layer (cs231n convention). The bug this pair holds: the weight gradient
accumulated with ``dW[x] += dout``, which adds a repeated word's gradient once, instead of
``np.add.at`` (seen in public word-embedding backward code)."""

import numpy as np

from mutagrad.pairs import ArraySpec, layer


def word_embedding_forward(x, W):
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache):
    x, shape = cache
    dW = np.zeros(shape)
    dW[x] += dout
    return dW


# indices below 5 in a (N, 4) batch: at batch 1 they may not repeat, at batch 2 they must
SUBJECT = layer(word_embedding_forward, word_embedding_backward,
                shapes={"x": ArraySpec(("N", 4), below=5), "W": (5, 3)}, name="word_embedding")
