"""Every strategy, in the order tables and help texts list them.

Adding a strategy is one module (a ``Strategy`` subclass and its instance), one line here
and its name in ``values.STRATEGY_NAMES`` (what help texts list without loading numpy).
"""

from __future__ import annotations

from mutagrad.strategies import (
    chainer_check_backward,
    complex_step,
    cs231n,
    directional,
    finite,
    jax_check_grads,
    scipy_check_grad,
    taylor,
    theano_verify_grad,
    torch_gradcheck,
)
from mutagrad.strategies.base import Strategy

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    finite.CENTERED,
    finite.FORWARD,
    finite.MAX_RELERR,
    finite.ALLCLOSE,
    directional.DIRECTIONAL,
    complex_step.COMPLEX_STEP,
    torch_gradcheck.TORCH,
    torch_gradcheck.TORCH_FAST,
    jax_check_grads.JAX,
    scipy_check_grad.SCIPY,
    scipy_check_grad.SCIPY_RANDOM,
    cs231n.CS231N,
    cs231n.CS231N_SPARSE,
    theano_verify_grad.THEANO,
    chainer_check_backward.CHAINER,
    taylor.TAYLOR,
)}
