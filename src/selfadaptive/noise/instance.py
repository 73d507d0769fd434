"""Instance-dependent label noise (Xia et al., NeurIPS 2020, "Part-dependent label noise", their
instance-dependent generator): whether a label flips, and to which class, depends on the input.

For a corruption rate r over N samples with inputs x_i (flattened, standardised per feature) and
labels y_i in [0, K):

1. flip rates q_i ~ N(r, 0.1^2) truncated to [0, 1], one per sample;
2. W_c ~ N(0, 1) of shape (D, K), one per class c;
3. s_i = x_i W_{y_i} (K scores); s_{i, y_i} = -inf;
   P_i = q_i softmax(s_i), then P_{i, y_i} = 1 - q_i;
4. the noisy label is drawn from P_i.

So on average a fraction r of the labels is wrong, each sample with its own chance, and the wrong
class a sample moves to follows its features (a projection of them), unlike ``uniform``/``flip``
noise that ignores the input.  Seeded: the same (x, y, r, seed) give the same labels.
"""
from __future__ import annotations

import numpy as np

#: the spread of the per-sample flip rates around r, as in the published generator
FLIP_RATE_STD = 0.1
#: samples scored per chunk, so that (chunk, D) float32 stays small for images
CHUNK = 4096


def flip_rates(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) draws of N(rate, 0.1^2) truncated to [0, 1]."""
    from scipy.stats import truncnorm
    if rate <= 0.0:
        return np.zeros(n)
    a, b = (0.0 - rate) / FLIP_RATE_STD, (1.0 - rate) / FLIP_RATE_STD
    return truncnorm.rvs(a, b, loc=rate, scale=FLIP_RATE_STD, size=n, random_state=rng)


def standardised(features: np.ndarray) -> np.ndarray:
    """Flatten (N, ...) to (N, D) float32 and z-score each feature over the N samples (constant
    features become 0)."""
    x = np.asarray(features).reshape(len(features), -1).astype(np.float32)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def instance_transition(features: np.ndarray, labels: np.ndarray, num_classes: int, rate: float,
                        seed: int = 0) -> np.ndarray:
    """The (N, K) per-sample label distributions P of the module docstring; rows sum to 1."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    q = flip_rates(len(labels), rate, rng)
    x = standardised(features)
    w = rng.standard_normal((num_classes, x.shape[1], num_classes)).astype(np.float32)
    probs = np.empty((len(labels), num_classes))
    for start in range(0, len(labels), CHUNK):
        rows = slice(start, start + CHUNK)
        y = labels[rows]
        scores = np.empty((len(y), num_classes))
        for c in np.unique(y):          # x_i W_{y_i}, one matrix product per class
            scores[y == c] = x[rows][y == c] @ w[c]
        scores[np.arange(len(y)), y] = -np.inf
        scores -= scores.max(axis=1, keepdims=True)
        soft = np.exp(scores)
        soft /= soft.sum(axis=1, keepdims=True)
        p = q[rows, None] * soft
        p[np.arange(len(y)), y] = 1.0 - q[rows]
        probs[rows] = p
    return probs


def instance_noisy_labels(features: np.ndarray, labels: np.ndarray, num_classes: int, rate: float,
                          seed: int = 0) -> np.ndarray:
    """(N,) noisy labels drawn from ``instance_transition`` (seeded apart from it)."""
    probs = instance_transition(features, labels, num_classes, rate, seed)
    u = np.random.default_rng([seed, 1]).random(len(labels))
    cdf = np.cumsum(probs, axis=1)
    return np.minimum((cdf < u[:, None] * cdf[:, -1:]).sum(axis=1), num_classes - 1).astype(np.int64)
