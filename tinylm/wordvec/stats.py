"""Pearson and Spearman correlations with their p-values, without scipy.

pearson(x, y) and spearman(x, y) return (coefficient, two-sided p-value)
as scipy.stats.pearsonr / spearmanr do: Spearman is Pearson on ranks
(ties get the average of their ranks), and the p-value of a coefficient
r over n points is that of t = r * sqrt((n - 2) / (1 - r^2)) under a
Student t distribution with n - 2 degrees of freedom:
    p = I_x(df / 2, 1 / 2),  x = df / (df + t^2)   (regularized incomplete beta)
computed by the Lentz continued fraction (Numerical Recipes' betacf),
accurate to ~1e-14. With fewer than 3 points the p-value is NaN.
"""
import math

import numpy as np


def pearson(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"pearson: need two 1-D arrays of the same length >= 2, got {x.shape} and {y.shape}")
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    r = float(dx @ dy) / denom if denom > 0 else float("nan")
    r = max(-1.0, min(1.0, r))
    return r, t_pvalue(r, x.size)


def rankdata(a):
    """Ranks from 1, ties sharing the average of their ranks (scipy's 'average')."""
    a = np.asarray(a, np.float64)
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    starts = np.r_[True, sorted_a[1:] != sorted_a[:-1]]
    group = np.cumsum(starts) - 1                       # group id of each sorted element
    first = np.flatnonzero(starts)                      # position where each group starts
    last = np.r_[first[1:], a.size] - 1
    ranks = np.empty(a.size)
    ranks[order] = (first + last)[group] / 2.0 + 1.0
    return ranks


def spearman(x, y):
    return pearson(rankdata(x), rankdata(y))


def t_pvalue(r, n):
    """Two-sided p-value of a correlation r over n points."""
    df = n - 2
    if df <= 0 or math.isnan(r):
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t2 = r * r * df / (1.0 - r * r)
    return betainc(df / 2.0, 0.5, df / (df + t2))


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):   # the continued fraction converges fast here
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _betacf(a, b, x, eps=1e-15, tiny=1e-300, max_iter=500):
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h
