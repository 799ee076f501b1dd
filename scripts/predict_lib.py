"Scratch: prediction functions (decoder MC, kNN in the joint embedding, blend, conformal calibration); moves to remadom.predict."
import numpy as np, torch
from scipy.optimize import nnls
from sklearn.neighbors import NearestNeighbors

def knn_moments(z_query, z_ref, y_ref, k=20, exclude_self=False):
    "Mean and sd of the k nearest reference rows' targets."
    nn_ = NearestNeighbors(n_neighbors=k + int(exclude_self)).fit(z_ref)
    _, idx = nn_.kneighbors(z_query)
    if exclude_self: idx = idx[:, 1:]
    mean = np.zeros((len(z_query), y_ref.shape[1]), np.float64); sq = np.zeros_like(mean)
    for j in range(idx.shape[1]):
        v = y_ref[idx[:, j]]; mean += v; sq += v * v
    mean /= idx.shape[1]; sq /= idx.shape[1]
    return mean, np.sqrt(np.maximum(sq - mean ** 2, 0))

def fit_blend(y, dec, knn):
    "Per-feature weight w in [0, 1] minimising squared error of w*dec + (1-w)*knn on calibration rows."
    d = dec - knn; r = y - knn
    den = (d * d).sum(0)
    return np.clip(np.where(den > 0, (d * r).sum(0) / np.maximum(den, 1e-12), 0.5), 0, 1)

def fit_variance(y, pred, comps):
    "Per-feature non-negative weights a_j so that sum_c a_jc comp_c^2 fits the squared residual (NNLS), on calibration rows."
    r2 = (y - pred) ** 2
    A = np.stack([c ** 2 for c in comps], -1)    # (n, p, C)
    W = np.zeros((y.shape[1], A.shape[-1]))
    for j in range(y.shape[1]):
        W[j] = nnls(A[:, j], r2[:, j])[0]
    return W

def apply_variance(W, comps, floor=1e-6):
    A = np.stack([c ** 2 for c in comps], -1)
    return np.sqrt(np.maximum((A * W[None]).sum(-1), floor))

def conformal_scale(y, pred, sd, level=0.9):
    "Per-feature factor c with P(|y - pred| <= c sd) = level on calibration rows (split conformal, normalised scores)."
    n = len(y); q = min(1., np.ceil((n + 1) * level) / n)
    return np.quantile(np.abs(y - pred) / sd, q, axis=0)
