"""The `tinylm` command: train / generate / eval on a tiny corpus, --help, and
user errors that print one line and exit 2 without a traceback."""
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinylm as tl
from tinylm.cli import build_parser, main
from tinylm.cli.lm_common import load_lm

TEXT = ("the quick brown fox jumps over the lazy dog. " * 8 + "pack my box with five dozen liquor jugs!\n") * 6
TINY_GPT = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16"]
FAST = ["--steps", "6", "--batch-size", "4", "--eval-every", "3", "--eval-batches", "2", "--warmup", "2",
        "--sample-tokens", "8", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--corpus", str(corpus), "--out", str(out), *TINY_GPT, *FAST]) == 0
    return out


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_writes_checkpoint_tokenizer_metrics_and_summary(trained):
    for name in ("ckpt.safetensors", "tokenizer.json", "metrics.jsonl", "summary.json"):
        assert (trained / name).exists(), name
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["steps"] == 6 and not summary["interrupted"]
    evals = [json.loads(l) for l in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in evals if r["kind"] == "eval"] == [3, 6]
    model, tokenizer, meta = load_lm(trained)
    assert meta["kind"] == "gpt" and meta["config"]["n_embd"] == 16
    assert tokenizer.decode(tokenizer.encode("lazy dog")) == "lazy dog"
    # the summary's validation loss, recomputed here with NumPy from the model's logits
    ids = np.asarray(tokenizer.encode(TEXT), dtype=np.int64)
    val = ids[int(len(ids) * 0.9):]
    T = 16
    n = (len(val) - 1) // T
    x, y = val[:n * T].reshape(n, T), val[1:n * T + 1].reshape(n, T)
    with tl.no_grad():
        logits = model(tl.tensor(x), tl.tensor(y))[0].numpy().astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp, y[..., None], -1).mean()
    assert summary["val_loss"] == pytest.approx(expected, rel=1e-4)


def test_generate_continues_the_prompt_and_is_seeded(trained, capsys):
    args = ["generate", "--ckpt", str(trained), "--prompt", "the ", "--max-new-tokens", "20", "--seed", "3"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and out.startswith("the ") and len(out.rstrip("\n")) >= 20
    assert run_cli(capsys, *args)[1] == out
    code, greedy, _ = run_cli(capsys, "generate", "--ckpt", str(trained), "--prompt", "the ", "--temperature", "0",
                              "--num-samples", "2", "--max-new-tokens", "5")
    samples = [s.split("\n", 1)[1] for s in greedy.split("--- sample")[1:]]  # drop the " i" headers
    assert code == 0 and len(samples) == 2 and samples[0] == samples[1]  # greedy rows agree


def test_eval_reports_loss_and_perplexity(trained, capsys):
    code, out, _ = run_cli(capsys, "eval", "--ckpt", str(trained))
    loss, ppl = map(float, (out.split("val loss ")[1].split()[0], out.split("perplexity ")[1].split()[0]))
    summary = json.loads((trained / "summary.json").read_text())
    assert code == 0 and loss == pytest.approx(summary["val_loss"], abs=1e-4)
    assert ppl == pytest.approx(math.exp(loss), rel=1e-3)


def test_lstm_trains_and_resumes(corpus, tmp_path, capsys):
    rnn = ["--model", "lstm", "--n-layer", "1", "--n-embd", "8", "--hidden-size", "12", "--block-size", "12"]
    assert main(["train", "--corpus", str(corpus), "--out", str(tmp_path), *rnn, *FAST, "--steps", "3"]) == 0
    assert main(["train", "--corpus", str(corpus), "--out", str(tmp_path), *rnn, *FAST, "--resume"]) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 6
    code, _, err = run_cli(capsys, "train", "--corpus", str(corpus), "--out", str(tmp_path), "--resume",
                           *TINY_GPT, *FAST)
    assert code == 2 and "holds a lstm model, but --model is gpt" in err


@pytest.mark.parametrize("case", ["empty", "not_utf8", "missing"])
def test_bad_corpus_is_one_clear_line(case, tmp_path, capsys):
    path = tmp_path / "c.txt"
    if case == "empty":
        path.write_text("  \n", encoding="utf-8")
    elif case == "not_utf8":
        path.write_bytes(b"caf\xe9 au lait" * 10)
    code, out, err = run_cli(capsys, "train", "--corpus", str(path), "--out", str(tmp_path / "o"), *FAST)
    assert code == 2 and err.startswith("tinylm: error:") and "Traceback" not in err
    assert str(path) in err
    assert {"empty": "empty", "not_utf8": "UTF-8", "missing": "not"}[case].lower() in err.lower()


def test_user_errors_with_a_checkpoint(trained, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", "--ckpt", str(trained), "--prompt", "Zürich")
    assert code == 2 and "Z" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "eval", "--ckpt", str(trained), "--block-size", "64")
    assert code == 2 and "--block-size 64 is larger than the model's block size 16" in err
    code, _, err = run_cli(capsys, "generate", "--ckpt", str(tmp_path / "nothing"))
    assert code == 2 and "no checkpoint" in err
    tl.save({"w": np.zeros(3, np.float32)}, tmp_path / "weights.safetensors")
    code, _, err = run_cli(capsys, "eval", "--ckpt", str(tmp_path / "weights.safetensors"))
    assert code == 2 and "not a language-model checkpoint" in err


def test_help_explains_every_option(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) >= {"train", "generate", "eval", "bench"}
    for name, sub in commands.items():
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"tinylm {name} {action.option_strings[0]} has no help text"
                assert action.option_strings[-1] in text


def test_console_script_is_installed():
    script = pathlib.Path(sys.executable).parent / "tinylm"
    assert script.exists(), "pip install -e . should install the tinylm command"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "generate" in out.stdout
