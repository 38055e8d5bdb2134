"""tinylm's Word2Vec against gensim's: training speed and vector quality, side by side.

    /tmp/refvenv/bin/python benchmarks/bench_wordvec.py [--corpus wiki|builtin|FILE] [--modes sg-ns cbow-ns]
        [--workers 1 2] [--seeds 1 2 3] [--epochs 5] [--vector-size 100] [--window 5] [--min-count 5]

Needs gensim (the optional `bench` extra). Both libraries get the same
sentences and the same hyper-parameters; for each mode, worker count and
seed, the script times train() of each (build_vocab is timed apart: both
scan the corpus in Python) and evaluates the vectors on WordSim-353
(Spearman) and the Google analogies (3CosAdd accuracy, top 30000 words),
the files that gensim ships in gensim/test/test_data. Each library scores
its own vectors with its own evaluator (they agree; tests/test_keyedvectors.py).
words/s = corpus words x epochs / train() seconds, the same numerator for both.

Corpora, all offline:
  wiki     (default) gensim's test data: the shortened English Wikipedia
           dump (markup removed by gensim's filter_wiki) + the Lee news
           corpus, ~680k words; 259 of the 353 WordSim pairs and ~4400
           analogy questions are in its vocabulary at min_count=5.
  builtin  tinylm.data.builtin_corpus() (CPython's help topics), repeated to
           --words: technical text, only 2 WordSim pairs in vocabulary, so its
           scores mean nothing; a speed test.
  FILE     a UTF-8 text file, tokenised by WordTokenizer.
The machine may be shared: the speed ratio of one run (the two trainings
run back to back) is more telling than the absolute words/s.
"""
import argparse
import bz2
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402

from tinylm.data.corpus import builtin_corpus, load_text  # noqa: E402
from tinylm.wordvec import Word2Vec, sentences_from_text  # noqa: E402

MODES = {"sg-ns": dict(sg=1, hs=0, negative=5), "cbow-ns": dict(sg=0, hs=0, negative=5),
         "sg-hs": dict(sg=1, hs=1, negative=0), "cbow-hs": dict(sg=0, hs=1, negative=0)}
WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def gensim_data(name):
    from gensim.test.utils import datapath
    return datapath(name)


def load_sentences(spec, words):
    if spec == "wiki":
        from gensim.corpora.wikicorpus import filter_wiki
        raw = bz2.open(gensim_data(WIKI), "rt", encoding="utf-8").read()
        text = "\n\n".join(filter_wiki(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", raw, flags=re.S))
        with open(gensim_data("lee_background.cor"), encoding="utf-8") as f:
            text += "\n\n" + f.read()
        return sentences_from_text(text)
    base = sentences_from_text(builtin_corpus() if spec == "builtin" else load_text(spec))
    n = sum(map(len, base))
    return base * max(1, -(-words // n)) if spec == "builtin" else base


def evaluate(wv):
    (_, _), (rho, _), oov = wv.evaluate_word_pairs(gensim_data("wordsim353.tsv"))
    acc, _ = wv.evaluate_word_analogies(gensim_data("questions-words.txt"), restrict_vocab=30000)
    return rho, acc, oov


def run_one(lib, sentences, params, n_words, epochs):
    if lib == "gensim":
        from gensim.models import Word2Vec as GensimWord2Vec
        model = GensimWord2Vec(**params)
        t0 = time.perf_counter()
        model.build_vocab(sentences)
        t1 = time.perf_counter()
        model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    else:
        model = Word2Vec(**params)
        t0 = time.perf_counter()
        model.build_vocab(sentences)
        t1 = time.perf_counter()
        model.train(sentences)
    t2 = time.perf_counter()
    return n_words * epochs / (t2 - t1), t1 - t0, evaluate(model.wv)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="wiki", help="wiki, builtin or a text file")
    p.add_argument("--words", type=int, default=2_000_000, help="builtin: repeat it to this many words")
    p.add_argument("--modes", nargs="+", default=["sg-ns", "cbow-ns"], choices=sorted(MODES))
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--vector-size", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    args = p.parse_args(argv)
    import gensim
    sentences = load_sentences(args.corpus, args.words)
    n_words = sum(map(len, sentences))
    print(f"corpus {args.corpus}: {len(sentences):,} sentences, {n_words:,} words; gensim {gensim.__version__}; "
          f"vector_size={args.vector_size} window={args.window} min_count={args.min_count} "
          f"sample={args.sample} epochs={args.epochs}")
    # compile the kernels outside the timings (cached in NUMBA_CACHE_DIR after the first run)
    Word2Vec(sentences[:200], min_count=1, epochs=1, workers=1, sg=1, hs=1, negative=2)
    print(f"{'mode':8} {'workers':>7} {'seed':>4} | {'words/s tinylm':>14} {'gensim':>10} {'speed x':>7} | "
          f"{'WS353 rho tinylm':>16} {'gensim':>7} | {'analogy tinylm':>14} {'gensim':>7} | vocab s t/g")
    rows = []
    for mode in args.modes:
        for workers in args.workers:
            for seed in args.seeds:
                params = dict(MODES[mode], vector_size=args.vector_size, window=args.window,
                              min_count=args.min_count, sample=args.sample, epochs=args.epochs,
                              workers=workers, seed=seed)
                ours = run_one("tinylm", sentences, params, n_words, args.epochs)
                theirs = run_one("gensim", sentences, params, n_words, args.epochs)
                rows.append((mode, workers, ours, theirs))
                print(f"{mode:8} {workers:>7} {seed:>4} | {ours[0]:>14,.0f} {theirs[0]:>10,.0f} "
                      f"{ours[0] / theirs[0]:>7.2f} | {ours[2][0]:>16.4f} {theirs[2][0]:>7.4f} | "
                      f"{100 * ours[2][1]:>13.2f}% {100 * theirs[2][1]:>6.2f}% | {ours[1]:.2f}/{theirs[1]:.2f}",
                      flush=True)
    print(f"\nmeans over seeds (WordSim pairs out of vocabulary: {rows[0][2][2][2]:.1f}%)")
    for mode in args.modes:
        for workers in args.workers:
            sel = [r for r in rows if r[0] == mode and r[1] == workers]
            speed = np.mean([o[0] / t[0] for _, _, o, t in sel])
            d_rho = np.mean([o[2][0] - t[2][0] for _, _, o, t in sel])
            d_acc = np.mean([o[2][1] - t[2][1] for _, _, o, t in sel]) * 100
            print(f"{mode:8} workers={workers}: speed tinylm/gensim {speed:.2f}x, "
                  f"WS353 rho tinylm-gensim {d_rho:+.4f}, analogy tinylm-gensim {d_acc:+.2f} points")


if __name__ == "__main__":
    main()
