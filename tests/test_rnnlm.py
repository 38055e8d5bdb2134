"""LSTMLM and GRULM (tinylm/models/rnnlm.py): word_language_model's layout,
weight tying, logits and loss against a NumPy LSTM/GRU language model, state
carried across windows (truncated BPTT), generation with the carried state
against recomputing the whole sequence, and build_model."""
from dataclasses import asdict

import numpy as np
import pytest

import tinylm as tl
from tinylm.models import GRULM, LSTMLM, RNNLMConfig, build_model
from references import cross_entropy, gru_cell, linear, lstm_cell

KINDS = {"lstm": LSTMLM, "gru": GRULM}
SMALL = dict(vocab_size=19, n_embd=8, hidden_size=12, n_layer=2)


def small(kind, seed=0, **kw):
    tl.manual_seed(seed)
    return KINDS[kind](RNNLMConfig(**{**SMALL, **kw})).eval()


def ids(*shape, seed=1):
    return tl.tensor(np.random.default_rng(seed).integers(0, 19, shape))


def numpy_lm(model, x, kind):
    """Embedding, the stacked cells step by step, decoder; in float64 from the model's weights."""
    p = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    h = p["encoder.weight"][x]                                      # (B, T, n_embd)
    B, T = x.shape
    for layer in range(model.config.n_layer):
        w = [p[f"rnn.{n}_l{layer}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        hs, hc = np.zeros((B, model.config.hidden_size)), np.zeros((B, model.config.hidden_size))
        out = []
        for t in range(T):
            if kind == "lstm":
                hs, hc = lstm_cell(h[:, t], hs, hc, *w)
            else:
                hs = gru_cell(h[:, t], hs, *w)
            out.append(hs)
        h = np.stack(out, axis=1)                                   # (B, T, H)
    return linear(h, p["decoder.weight"], p["decoder.bias"])        # (B, T, V)


@pytest.mark.parametrize("kind", KINDS)
def test_layout_is_word_language_models(kind):
    model = small(kind)
    names = ["encoder.weight"] + [f"rnn.{n}_l{k}" for k in range(2)
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + \
        ["decoder.weight", "decoder.bias"]
    assert [n for n, _ in model.named_parameters()] == names
    G = 4 if kind == "lstm" else 3
    assert model.rnn.weight_ih_l0.shape == (G * 12, 8) and model.rnn.weight_ih_l1.shape == (G * 12, 12)
    assert model.rnn.batch_first
    assert np.abs(model.encoder.weight.data).max() <= 0.1 and (model.decoder.bias.data == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_tie_weights(kind):
    model = small(kind, n_embd=12, tie_weights=True)
    assert model.decoder.weight is model.encoder.weight
    assert "decoder.weight" not in dict(model.named_parameters())
    assert "decoder.weight" in model.state_dict()
    assert model.get_num_params() == small(kind, n_embd=12).get_num_params() - 19 * 12
    with pytest.raises(ValueError, match="n_embd == hidden_size.*n_embd=8, hidden_size=12"):
        RNNLMConfig(**SMALL, tie_weights=True)


@pytest.mark.parametrize("kind", KINDS)
def test_logits_and_loss_match_numpy(kind):
    model = small(kind)
    x, y = ids(3, 6), ids(3, 6, seed=2)
    y.data[1, 3] = -1
    logits, loss = model(x, y)
    expected = numpy_lm(model, x.data, kind)
    np.testing.assert_allclose(logits.data, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.item(), cross_entropy(expected.reshape(-1, 19), y.data.reshape(-1),
                                                          ignore_index=-1), rtol=1e-5)
    logits2, none = model(x)
    assert none is None and logits2.shape == (3, 6, 19)  # every position, unlike GPT
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_state_carried_across_windows_equals_the_whole_sequence(kind):
    model = small(kind)
    x = ids(2, 10)
    whole, _ = model(x)
    first, _ = model(tl.tensor(x.data[:, :4]))
    state = model.last_state
    states = state if isinstance(state, tuple) else (state,)
    assert len(states) == (2 if kind == "lstm" else 1)
    assert all(s.shape == (2, 2, 12) and not s.requires_grad for s in states)  # detached
    second, _ = model(tl.tensor(x.data[:, 4:]), state=state)
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), whole.data, rtol=1e-5, atol=1e-6)
    # without the state the second window starts from zeros, and differs
    fresh, _ = model(tl.tensor(x.data[:, 4:]))
    assert not np.allclose(fresh.data, second.data, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_bptt_stops_the_gradient_at_the_window(kind):
    model = small(kind).train()
    x, y = ids(2, 8), ids(2, 8, seed=3)
    model(tl.tensor(x.data[:, :4]), tl.tensor(y.data[:, :4]))
    state = model.last_state
    _, loss = model(tl.tensor(x.data[:, 4:]), tl.tensor(y.data[:, 4:]), state=state)
    loss.backward()
    # the same gradient as starting the second window from the state given as a constant
    grads = {n: p.grad.data.copy() for n, p in model.named_parameters()}
    model.zero_grad()
    const = tuple(tl.tensor(s.data.copy()) for s in state) if isinstance(state, tuple) else tl.tensor(state.data.copy())
    model(tl.tensor(x.data[:, 4:]), tl.tensor(y.data[:, 4:]), state=const)[1].backward()
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.data, grads[n], err_msg=n)
    model.reset_state()
    assert model.last_state is None


@pytest.mark.parametrize("kind", KINDS)
def test_generation_carrying_state_equals_recomputing(kind):
    model = small(kind)
    x = ids(3, 4, seed=5)
    greedy = model.generate(x, 8, temperature=0)
    assert greedy.shape == (3, 12)
    np.testing.assert_array_equal(greedy.data, model.generate(x, 8, temperature=0, use_cache=False).data)
    for t in range(4, 12):  # each greedy token is the argmax of a full forward over the prefix
        logits, _ = model(tl.tensor(greedy.data[:, :t]))
        np.testing.assert_array_equal(greedy.data[:, t], logits.data[:, -1].argmax(-1))
    tl.manual_seed(3)
    a = model.generate(x, 8, temperature=0.8, top_k=5)
    tl.manual_seed(3)
    np.testing.assert_array_equal(a.data, model.generate(x, 8, temperature=0.8, top_k=5, use_cache=False).data)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_is_on_in_training_only(kind):
    model = small(kind, dropout=0.4)
    x = ids(2, 5)
    np.testing.assert_array_equal(model(x)[0].data, model(x)[0].data)
    eval_out = model(x)[0].data
    model.train()
    assert not np.allclose(model(x)[0].data, eval_out)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_named(kind):
    model = small(kind)
    name = KINDS[kind].__name__
    with pytest.raises(TypeError, match=f"{name}: idx must be a tinylm Tensor of integer"):
        model(tl.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(ids(5))
    with pytest.raises(ValueError, match="targets shape"):
        model(ids(2, 3), ids(2, 4))
    with pytest.raises(TypeError, match="targets must be a tinylm Tensor of integer"):
        model(ids(2, 3), tl.zeros(2, 3))
    with pytest.raises(ValueError, match="eos"):
        model.generate(ids(1, 2), 3, eos=19)


@pytest.mark.parametrize("kind", KINDS)
def test_build_model_round_trips(kind):
    model = small(kind)
    again = build_model(kind, asdict(model.config))
    assert type(again) is KINDS[kind] and again.config == model.config
    again.load_state_dict(model.state_dict())
    x = ids(2, 5)
    np.testing.assert_array_equal(again.eval()(x)[0].data, model(x)[0].data)
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['n_head'\]"):
        build_model(kind, {**SMALL, "n_head": 2})
    with pytest.raises(ValueError, match=r"missing field\(s\) \['vocab_size'\]"):
        build_model(kind, {})
