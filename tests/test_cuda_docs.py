"""docs/cuda.md's example runs as pasted on the cuda device (the simulator in
`make test`, or a GPU) and copies nothing until the loss is read."""
import re
from pathlib import Path

import pytest

import tinylm as tl

DOC = Path(__file__).resolve().parent.parent / "docs" / "cuda.md"
pytestmark = pytest.mark.skipif(not tl.cuda.is_available(),
                                reason="needs NUMBA_ENABLE_CUDASIM=1 or a CUDA GPU")


def test_docs_example_runs_without_copies(capsys):
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    exec(compile(block, str(DOC), "exec"), {})
    h2d, d2h, loss = capsys.readouterr().out.split()
    assert (int(h2d), int(d2h)) == (0, 0)
    assert 3.0 < float(loss) < 6.0   # about log(96) = 4.56 for a fresh model
