"""k-fold splits and cross-validation (the project's primer names
cross-validation as how to evaluate a model).

kfold(n, k) follows scikit-learn's KFold: the n indices (shuffled with
`seed` if asked) are cut into k consecutive folds, the first n % k of them
one longer; fold i is the validation set of split i, the rest its
training set. Every index is validated exactly once.
"""
import numpy as np


def kfold(n, k=5, shuffle=False, seed=None):
    """List of k (train_idx, val_idx) int64 array pairs over range(n)."""
    for name, v in (("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"kfold: {name} must be an int, got {type(v).__name__}")
    if k < 2:
        raise ValueError(f"kfold: k must be at least 2, got {k}")
    if n < k:
        raise ValueError(f"kfold: cannot split {n} samples into {k} folds (need n >= k)")
    order = np.arange(n)
    if shuffle:
        np.random.default_rng(seed).shuffle(order)
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    splits = []
    for i in range(k):
        val = order[bounds[i]:bounds[i + 1]]
        train = np.concatenate([order[:bounds[i]], order[bounds[i + 1]:]])
        splits.append((train, val))
    return splits


def cross_validate(make_model, fit, evaluate, n, k=5, shuffle=True, seed=0, verbose=True):
    """Train and score a fresh model on each of k folds.

    make_model()              -> a new, untrained model
    fit(model, train_idx)     trains it on those samples
    evaluate(model, val_idx)  -> a float metric on the held-out fold
    Returns {"scores": [k floats], "mean": ..., "std": ...} (std with ddof=1,
    the spread of the estimate across folds)."""
    scores = []
    for i, (train_idx, val_idx) in enumerate(kfold(n, k, shuffle, seed)):
        model = make_model()
        fit(model, train_idx)
        score = float(evaluate(model, val_idx))
        scores.append(score)
        if verbose:
            print(f"fold {i + 1}/{k}: {score:.4f} ({len(train_idx)} train, {len(val_idx)} validation)")
    mean, std = float(np.mean(scores)), float(np.std(scores, ddof=1))
    if verbose:
        print(f"cross-validation over {k} folds: {mean:.4f} +- {std:.4f}")
    return {"scores": scores, "mean": mean, "std": std}
