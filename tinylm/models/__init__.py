"""Language models: GPT (gpt.py), LSTMLM and GRULM (rnnlm.py), and the sampling
they share (generation.py).

Checkpoints and the CLI describe a model as {"kind": "gpt" | "lstm" | "gru",
"config": dataclasses.asdict(config)}; build_model(kind, config) rebuilds it.
"""
import dataclasses

from .generation import sample_next
from .gpt import GPT, GPTConfig, KVCache
from .rnnlm import GRULM, LSTMLM, RNNLMConfig

MODELS = {"gpt": (GPT, GPTConfig), "lstm": (LSTMLM, RNNLMConfig), "gru": (GRULM, RNNLMConfig)}


def build_model(kind, config):
    """A fresh model of `kind` from a config dict (or the config dataclass itself)."""
    if kind not in MODELS:
        raise ValueError(f"build_model: unknown model kind {kind!r}; choose one of {sorted(MODELS)}")
    cls, config_cls = MODELS[kind]
    if isinstance(config, config_cls):
        return cls(config)
    if not isinstance(config, dict):
        raise TypeError(f"build_model: config must be a dict or {config_cls.__name__}, got {type(config).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(config) - set(fields))
    missing = sorted(n for n, f in fields.items() if n not in config and f.default is dataclasses.MISSING)
    if unknown or missing:
        problems = ([f"unknown field(s) {unknown}"] if unknown else []) + \
                   ([f"missing field(s) {missing}"] if missing else [])
        raise ValueError(f"build_model: config for {kind!r} ({config_cls.__name__}) has " + " and ".join(problems)
                         + f"; its fields are {list(fields)}")
    return cls(config_cls(**config))


__all__ = ["GPT", "GPTConfig", "KVCache", "LSTMLM", "GRULM", "RNNLMConfig", "build_model", "sample_next", "MODELS"]
