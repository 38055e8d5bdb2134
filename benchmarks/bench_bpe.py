"""Time byte-level BPE: training a vocabulary and encoding text.

    python benchmarks/bench_bpe.py [--vocab-size 4096] [--megabytes 1] [--repeats 3] [--corpus PATH]

The corpus is the built-in one (CPython's help topics, ~465 KB), or the
text file / folder of .txt files --corpus, repeated and cut to --megabytes
of UTF-8. Prints the time to train (best of
--repeats; the first run also compiles the Numba kernels unless they are in
NUMBA_CACHE_DIR, so it is timed apart), the time to encode the corpus with
a cold cache (every distinct chunk goes through the kernel) and with a warm
one (the chunks are known: only the regex split and the lookups remain),
and the throughput in MB/s of UTF-8 text.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tinylm.data import load_corpus  # noqa: E402
from tinylm.tokenizers import ByteBPETokenizer  # noqa: E402


def corpus_of(megabytes, spec=None):
    base = load_corpus(spec)
    n = int(megabytes * 1_000_000)
    text = base * (n // len(base.encode("utf-8")) + 1)
    return text.encode("utf-8")[:n].decode("utf-8", errors="ignore")  # cut on a character boundary


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus", help="a UTF-8 file or folder of .txt files (default: built-in)")
    args = parser.parse_args(argv)
    text = corpus_of(args.megabytes, args.corpus)
    mb = len(text.encode("utf-8")) / 1e6
    print(f"corpus: {mb:.2f} MB of UTF-8 ({len(text):,} characters), vocab_size {args.vocab_size}")

    first, tok = timed(lambda: ByteBPETokenizer().train(text, args.vocab_size))
    times = [timed(lambda: ByteBPETokenizer().train(text, args.vocab_size))[0]
             for _ in range(args.repeats)]
    print(f"train: {min(times):.2f} s (best of {args.repeats}; first run, with any compiling: "
          f"{first:.2f} s), {len(tok.merges)} merges")

    cold, ids = timed(lambda: tok.encode(text))
    warm = min(timed(lambda: tok.encode(text))[0] for _ in range(args.repeats))
    print(f"encode, cold cache: {cold:.2f} s = {mb / cold:.1f} MB/s; warm cache: {warm:.2f} s = "
          f"{mb / warm:.1f} MB/s; {len(ids):,} tokens ({mb * 1e6 / len(ids):.2f} bytes/token)")
    dec = min(timed(lambda: tok.decode(ids))[0] for _ in range(args.repeats))
    assert tok.decode(ids) == text
    print(f"decode: {dec:.2f} s = {mb / dec:.1f} MB/s (round trip checked)")


if __name__ == "__main__":
    main()
