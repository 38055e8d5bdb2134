"""tl.save / tl.load: round trips, plain safetensors weights, atomic writes,
and clear errors for truncated, corrupt and wrong-model files."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tinylm as tl
from tinylm.nn import Module, Parameter


class Two(Module):
    def __init__(self, n=3):
        super().__init__()
        self.w = Parameter(tl.randn(n, 2))
        self.b = Parameter(tl.zeros(2))


def test_state_dict_file_is_plain_safetensors_with_the_same_names(tmp_path):
    from safetensors.numpy import load_file
    m = Two()
    tl.save(m.state_dict(), tmp_path / "w.safetensors")
    plain = load_file(str(tmp_path / "w.safetensors"))
    assert sorted(plain) == ["b", "w"]
    np.testing.assert_array_equal(plain["w"], m.w.data)
    back = tl.load(tmp_path / "w.safetensors")
    assert list(back) == ["w", "b"]  # the state dict's own order
    m2 = Two()
    m2.load_state_dict(back)
    np.testing.assert_array_equal(m2.w.data, m.w.data)


def test_nested_checkpoint_round_trip(tmp_path):
    m = Two()
    opt = tl.optim.AdamW(m.parameters(), lr=0.01)
    m.w.grad, m.b.grad = tl.ones(3, 2), tl.ones(2)
    opt.step()
    ckpt = {"model": m.state_dict(), "optimizer": opt.state_dict(), "step": 7, "rng": tl.get_rng_state(),
            "config": {"betas": (0.9, 0.95), "name": "x", "n": None, "sizes": [1, 2]},
            "flags": np.array([True, False]), "ids": np.arange(5, dtype=np.uint16)}
    tl.save(ckpt, tmp_path / "c.safetensors")
    back = tl.load(tmp_path / "c.safetensors")
    assert back["step"] == 7 and back["rng"] == ckpt["rng"] and back["config"] == ckpt["config"]
    assert back["ids"].dtype == np.uint16 and back["flags"].dtype == np.bool_
    assert back["optimizer"]["state"][0]["step"].shape == ()
    for k, v in ckpt["optimizer"]["state"][0].items():
        np.testing.assert_array_equal(back["optimizer"]["state"][0][k], v)
    assert back["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]


def test_unsavable_objects_are_named(tmp_path):
    with pytest.raises(TypeError, match="'a/f'"):
        tl.save({"a": {"f": object()}}, tmp_path / "x")
    with pytest.raises(TypeError, match="dtype"):
        tl.save({"a": np.array(["s"])}, tmp_path / "x")


def _corrupt(path, offset_from_end):
    raw = bytearray(path.read_bytes())
    raw[len(raw) - offset_from_end] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_corrupt_truncated_and_missing_files_name_the_problem(tmp_path):
    p = tmp_path / "c.safetensors"
    tl.save({"model": {"w": np.arange(100, dtype=np.float32)}, "step": 1}, p)
    good = p.read_bytes()
    _corrupt(p, 10)
    with pytest.raises(tl.CheckpointError, match=r"c\.safetensors.*'model/w' is corrupt"):
        tl.load(p)
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(tl.CheckpointError, match="truncated"):
        tl.load(p)
    p.write_bytes(good[:-4])
    with pytest.raises(tl.CheckpointError, match="corrupt or truncated"):
        tl.load(p)
    p.write_bytes(b"not a checkpoint at all, just text")
    with pytest.raises(tl.CheckpointError, match="c.safetensors"):
        tl.load(p)
    with pytest.raises(tl.CheckpointError, match="does not exist"):
        tl.load(tmp_path / "nope.safetensors")


def test_wrong_model_checkpoint_changes_nothing(tmp_path):
    tl.save(Two(4).state_dict(), tmp_path / "w")
    m = Two(3)
    before = m.w.data.copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for w.*\(4, 2\).*\(3, 2\)"):
        m.load_state_dict(tl.load(tmp_path / "w"))
    np.testing.assert_array_equal(m.w.data, before)


_WRITER = """
import sys, numpy as np, tinylm as tl
path, i = sys.argv[1], 0
big = np.zeros(4_000_000, np.float32)
while True:
    i += 1
    big[0] = i
    tl.save({"step": i, "w": big}, path)
    print(i, flush=True)
"""


def test_kill_during_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # let a few saves complete, then kill in the middle of later ones
            assert proc.stdout.readline(), "the writer process died"
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    back = tl.load(path)
    assert back["step"] >= 3 and back["w"][0] == back["step"]
    # leftovers are only temporary files, never a half-written checkpoint under the real name
    assert all(f.name == path.name or f.name.startswith(".tmp-") for f in tmp_path.iterdir())
