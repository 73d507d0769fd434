"""Scoring a frozen encoder: kNN and linear probes, and the collapse monitor.

All functions are pure: features in, numbers out.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_predict(train_features: torch.Tensor, train_labels: torch.Tensor, features: torch.Tensor,
                num_classes: int, k: int = 200, temperature: float = 0.1, chunk: int = 1024) -> torch.Tensor:
    """Weighted kNN (Wu et al., 2018): cosine similarity to the training features, the k nearest
    vote for their class with weight exp(sim / temperature).

    train_features (N, F), train_labels (N,), features (M, F) -> predicted classes (M,).
    """
    bank = F.normalize(train_features.float(), dim=1)
    labels = train_labels.to(bank.device).long()
    k = min(k, bank.shape[0])
    out = []
    for start in range(0, features.shape[0], chunk):
        q = F.normalize(features[start:start + chunk].float().to(bank.device), dim=1)
        sim, nearest = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, device=bank.device)
        votes.scatter_add_(1, labels[nearest], (sim / temperature).exp())
        out.append(votes.argmax(dim=1))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def linear_probe(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                 test_labels: np.ndarray, c: float = 1.0, max_iter: int = 1000) -> dict:
    """Multinomial logistic regression (scikit-learn, L-BFGS) on standardised frozen features.

    Returns train and test accuracy.  The scaler is fitted on the training features only.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    scaler = StandardScaler().fit(train_features)
    clf = LogisticRegression(C=c, max_iter=max_iter)
    clf.fit(scaler.transform(train_features), train_labels)
    return {"train_acc": float(clf.score(scaler.transform(train_features), train_labels)),
            "test_acc": float(clf.score(scaler.transform(test_features), test_labels))}


@torch.no_grad()
def collapse_metrics(embeddings: torch.Tensor) -> dict:
    """How collapsed a set of embeddings (N, D) is.

    * ``embedding_std``: the per-dimension std of the L2-normalised embeddings, averaged over
      dimensions (Chen & He, 2021): 0 when every sample maps to one point, about 1/sqrt(D) when
      they spread over the sphere; ``embedding_std_ratio`` is it times sqrt(D).
    * ``effective_rank``: exp of the entropy of the normalised singular values of the embedding
      matrix (Roy & Vetterli, 2007; RankMe): 1 for a constant encoder, up to min(N, D).
    """
    z = F.normalize(embeddings.float(), dim=1)
    d = z.shape[1]
    std = z.std(dim=0).mean().item() if z.shape[0] > 1 else 0.0
    s = torch.linalg.svdvals(z)
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    rank = math.exp(float(-(p * p.log()).sum())) if p.numel() else 0.0
    return {"embedding_std": std, "embedding_std_ratio": std * math.sqrt(d), "effective_rank": rank}


#: below these the collapse monitor warns
COLLAPSE_STD_RATIO, COLLAPSE_RANK = 0.1, 2.0


def collapse_warning(metrics: dict) -> str | None:
    """A one-line warning when the embeddings look collapsed, else None."""
    if metrics["embedding_std_ratio"] < COLLAPSE_STD_RATIO or metrics["effective_rank"] < COLLAPSE_RANK:
        return (f"embeddings are collapsing: per-dimension std x sqrt(D) = {metrics['embedding_std_ratio']:.3f} "
                f"(healthy ~1), effective rank {metrics['effective_rank']:.2f}")
    return None
