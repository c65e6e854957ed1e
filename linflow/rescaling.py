"""Rescaling invariants of homogeneous networks: per-layer and per-neuron balances.

For ``σ(z) = max(z, αz)`` (ReLU, leaky ReLU, linear), scaling the incoming weights of a hidden
neuron by ``c > 0`` and its outgoing weights by ``1/c`` leaves the network unchanged. Hence
``⟨G_k[j, :], W_k[j, :]⟩ = ⟨G_{k+1}[:, j], W_{k+1}[:, j]⟩`` for the gradient ``G`` of any loss
of the output (``σ'(z) z = σ(z)``, for every convention of ``σ'(0)``), and summing over j,
``⟨G_k, W_k⟩ = ⟨G_{k+1}, W_{k+1}⟩``. Consequences (derived in this project; Du, Hu & Lee 2018,
"Algorithmic regularization in learning deep homogeneous models: layers are automatically
balanced", NeurIPS, Thm 2.1 and Cor. 2.1 [recalled: theorem numbers not re-read]):

* gradient flow conserves the per-neuron balance ``‖W_{k+1}[:, j]‖² − ‖W_k[j, :]‖²`` and the
  per-layer balance ``‖W_{k+1}‖_F² − ‖W_k‖_F²`` (its sum over the neurons of layer k);
* one GD step ``W ← W − ηG`` changes them by exactly ``η²(‖G_{k+1}[:, j]‖² − ‖G_k[j, :]‖²)`` and
  ``η²(‖G_{k+1}‖_F² − ‖G_k‖_F²)``: the O(η) terms cancel by the identity above.

Sign convention: outgoing minus incoming, so the per-neuron balances of layer k are the diagonal
of the deep-linear balancedness matrix ``W_{k+1}ᵀW_{k+1} − W_kW_kᵀ`` (:func:`linflow.balancedness`)
and the per-layer balance is its trace. The functions take plain weight tuples (single or with a
leading batch axis) and work for any network whose layers are fully connected without biases.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_positive, check_weight_chain

__all__ = ["layer_balance", "neuron_balance", "layer_balance_step_change", "neuron_balance_step_change"]


def _sq_rows(w: np.ndarray) -> np.ndarray:
    """``‖W[j, :]‖²`` for every row j (incoming weights of the units of the layer above)."""
    return np.sum(w * w, axis=-1)


def _sq_cols(w: np.ndarray) -> np.ndarray:
    """``‖W[:, j]‖²`` for every column j (outgoing weights of the units of the layer below)."""
    return np.sum(w * w, axis=-2)


def neuron_balance(weights) -> list:
    """Per-neuron balances ``‖W_{k+1}[:, j]‖² − ‖W_k[j, :]‖²`` of every hidden layer.

    Parameters
    ----------
    weights : tuple of ndarray
        ``weights[k].shape == (d_{k+1}, d_k)``, optionally with a leading batch axis.

    Returns
    -------
    list of ndarray
        ``N − 1`` arrays, entry k of shape ``(d_{k+1},)`` (batched: ``(B, d_{k+1})``): outgoing
        minus incoming squared norm of each unit of hidden layer k + 1. Conserved by gradient
        flow (Du, Hu & Lee 2018, Thm 2.1 [recalled]).

    Examples
    --------
    >>> import numpy as np
    >>> w = (np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[3.0, 1.0]]))
    >>> [b.tolist() for b in neuron_balance(w)]
    [[4.0, 0.0]]
    """
    weights = check_weight_chain(weights, "weights", max_ndim=None)
    return [_sq_cols(weights[k + 1]) - _sq_rows(weights[k]) for k in range(len(weights) - 1)]


def layer_balance(weights) -> np.ndarray:
    """Per-layer balances ``‖W_{k+1}‖_F² − ‖W_k‖_F²``, ``k = 1, …, N − 1``.

    Returns
    -------
    ndarray, shape (N − 1,) (batched: (B, N − 1))
        The sum of :func:`neuron_balance` over each hidden layer; conserved by gradient flow
        (Du, Hu & Lee 2018, Cor. 2.1 [recalled]).

    Examples
    --------
    >>> import numpy as np
    >>> w = (np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[3.0, 1.0]]))
    >>> layer_balance(w).tolist()
    [4.0]
    """
    weights = check_weight_chain(weights, "weights", max_ndim=None)
    sq = [np.sum(w * w, axis=(-2, -1)) for w in weights]
    lead = np.shape(sq[0])
    if len(weights) < 2:
        return np.zeros(lead + (0,))
    return np.stack([sq[k + 1] - sq[k] for k in range(len(weights) - 1)], axis=-1)


def neuron_balance_step_change(gradients, learning_rate) -> list:
    """Exact change of :func:`neuron_balance` under one GD step ``W ← W − ηG``.

    ``η² (‖G_{k+1}[:, j]‖² − ‖G_k[j, :]‖²)`` — the first-order terms ``−2η⟨G, W⟩`` cancel because
    ``⟨G_k[j, :], W_k[j, :]⟩ = ⟨G_{k+1}[:, j], W_{k+1}[:, j]⟩`` (derived in this project, module docstring).

    Parameters
    ----------
    gradients : tuple of ndarray
        ``∇f`` at the current weights, shaped like them (single or batched).
    learning_rate : float or ndarray
        η; an array of shape ``(B,)`` for batched gradients.
    """
    gradients = check_weight_chain(gradients, "gradients", max_ndim=None)
    eta2 = _eta_squared(learning_rate, 1)
    return [eta2 * (_sq_cols(gradients[k + 1]) - _sq_rows(gradients[k])) for k in range(len(gradients) - 1)]


def layer_balance_step_change(gradients, learning_rate) -> np.ndarray:
    """Exact change of :func:`layer_balance` under one GD step: ``η²(‖G_{k+1}‖_F² − ‖G_k‖_F²)``."""
    gradients = check_weight_chain(gradients, "gradients", max_ndim=None)
    return _eta_squared(learning_rate, 1) * layer_balance(gradients)


def _eta_squared(learning_rate, trailing: int):
    eta = np.asarray(check_positive(learning_rate, "learning_rate", allow_array=True), dtype=np.float64)
    return (eta * eta).reshape(eta.shape + (1,) * trailing) if eta.ndim else float(eta * eta)
