"""`tinylm wordvec`: train word vectors and query them.

    tinylm wordvec train --model word2vec --corpus corpus.txt --out vectors.txt
    tinylm wordvec train --model fasttext --sg 1 --out vectors.bin --binary
    tinylm wordvec query --vectors vectors.txt --word python
    tinylm wordvec query --vectors vectors.txt --positive list dict --negative tuple

The corpus is a UTF-8 text file with one sentence per line, tokens split on
whitespace (gensim's LineSentence), or 'builtin': CPython's help topics,
lower-cased and split into words and punctuation by tinylm's WordTokenizer.
Vectors are written in the word2vec text format (or binary with --binary),
which gensim's KeyedVectors.load_word2vec_format reads. Options left out
take the model's defaults (gensim 4's for word2vec and fasttext, glove.c's
for glove, see tinylm.wordvec).
"""
import argparse
import os
import time

MODELS = ("word2vec", "glove", "fasttext")
# option -> the models it applies to (argparse dest names)
ONLY = {"sg": ("word2vec", "fasttext"), "hs": ("word2vec", "fasttext"), "negative": ("word2vec", "fasttext"),
        "sample": ("word2vec", "fasttext"), "min_n": ("fasttext",), "max_n": ("fasttext",),
        "bucket": ("fasttext",), "x_max": ("glove",)}


def add_parsers(sub):
    p = sub.add_parser("wordvec", help="train word vectors (word2vec, glove, fasttext) and query them",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    wsub = p.add_subparsers(dest="wordvec_command", metavar="subcommand", required=True)

    t = wsub.add_parser("train", help="train word vectors on a corpus and write them in word2vec format",
                        description="Train word vectors; model options left out take the model's default, "
                                    "shown in brackets.")
    t.add_argument("--corpus", default="builtin",
                   help="a text file, one sentence per line, or 'builtin' (the default)")
    t.add_argument("--model", choices=MODELS, default="word2vec", help="which model to train (word2vec)")
    t.add_argument("--out", required=True, help="where to write the vectors (word2vec format)")
    t.add_argument("--binary", action="store_true", help="write the binary word2vec format")
    t.add_argument("--save-model", metavar="PATH", help="also save the whole model (to train further)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    o = t.add_argument_group("model options [default per model]")
    for flag, kind, text in (("--vector-size", int, "dimension of the vectors"),
                             ("--window", int, "context words on each side"),
                             ("--min-count", int, "drop words seen fewer times"),
                             ("--epochs", int, "passes over the corpus (glove: over the co-occurrences)"),
                             ("--workers", int, "training threads"),
                             ("--alpha", float, "initial learning rate (glove: AdaGrad's eta)"),
                             ("--seed", int, "random seed"),
                             ("--sg", int, "1: skip-gram, 0: CBOW"),
                             ("--hs", int, "1: hierarchical softmax"),
                             ("--negative", int, "negative samples, 0 for none"),
                             ("--sample", float, "subsampling threshold for frequent words"),
                             ("--min-n", int, "shortest character n-gram"),
                             ("--max-n", int, "longest character n-gram"),
                             ("--bucket", int, "n-gram hash buckets"),
                             ("--x-max", float, "co-occurrence count from which the weight is 1")):
        o.add_argument(flag, type=kind, help=f"{text} [{_defaults(flag[2:].replace('-', '_'))}]")
    t.set_defaults(run=run_train)

    q = wsub.add_parser("query", help="nearest neighbours or analogies from a vectors file",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    q.add_argument("--vectors", required=True, help="a word2vec-format vectors file")
    q.add_argument("--binary", action="store_true", help="the file is in the binary word2vec format")
    q.add_argument("--word", help="print this word's nearest neighbours")
    q.add_argument("--positive", nargs="+", default=[], help="analogy: words added (a - b + c: a and c)")
    q.add_argument("--negative", nargs="+", default=[], help="analogy: words subtracted (b)")
    q.add_argument("--topn", type=int, default=10, help="how many words to print")
    q.set_defaults(run=run_query)


# ---- train -------------------------------------------------------------------


def _configs():
    from ..wordvec.fasttext import FastTextConfig
    from ..wordvec.glove import GloVeConfig
    from ..wordvec.word2vec import Word2VecConfig
    return {"word2vec": Word2VecConfig(), "glove": GloVeConfig(), "fasttext": FastTextConfig()}


def _defaults(name):
    """'word2vec 5, glove 10, fasttext 5': an option's default in each model that takes it."""
    field = {"glove": {"alpha": "learning_rate"}}
    out = []
    for model, config in _configs().items():
        if name in ONLY and model not in ONLY[name]:
            continue
        out.append(f"{model} {getattr(config, field.get(model, {}).get(name, name))}")
    return ", ".join(out)


def load_sentences(corpus):
    """Sentences (lists of tokens) from a file path or 'builtin'."""
    from ..wordvec import read_corpus, sentences_from_text
    if corpus == "builtin":
        from ..data import builtin_corpus
        return sentences_from_text(builtin_corpus())
    if os.path.isdir(corpus):
        raise ValueError(f"--corpus {corpus!r} is a folder; give a text file (one sentence per line) or 'builtin'")
    sentences = read_corpus(corpus)          # FileNotFoundError names the file
    if not any(sentences):
        raise ValueError(f"--corpus {corpus!r} holds no words")
    return sentences


def model_kwargs(args):
    """The model's constructor arguments from the options given (None: not given)."""
    given = {name: getattr(args, name) for name in ("vector_size", "window", "min_count", "epochs", "workers",
                                                    "alpha", "seed", *ONLY) if getattr(args, name) is not None}
    wrong = [name for name in given if name in ONLY and args.model not in ONLY[name]]
    if wrong:
        raise ValueError(f"--model {args.model} does not take " + ", ".join("--" + w.replace("_", "-") for w in wrong))
    if args.model == "glove" and "alpha" in given:
        given["learning_rate"] = given.pop("alpha")   # GloVe's alpha is the weighting exponent
    for name, value in given.items():
        least = 0 if name in ("negative", "seed", "min_n", "max_n", "sg", "hs", "bucket") else 1
        if isinstance(value, int) and value < least:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")
    return given


def build_model(name, kwargs):
    from ..wordvec.fasttext import FastText
    from ..wordvec.glove import GloVe
    from ..wordvec.word2vec import Word2Vec
    return {"word2vec": Word2Vec, "glove": GloVe, "fasttext": FastText}[name](**kwargs)


class ProgressBar:
    """A tqdm bar for a model's progress(done, total, lr) hook: rate, ETA and lr."""

    def __init__(self, unit, enabled=True):
        self.unit, self.enabled, self.bar = unit, enabled, None

    def __call__(self, done, total, lr):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, unit=self.unit, unit_scale=True, dynamic_ncols=True, desc="train")
        self.bar.set_postfix_str(f"lr={lr:.5f}", refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_train(args):
    kwargs = model_kwargs(args)
    model = build_model(args.model, kwargs)          # bad options fail before the corpus is read
    sentences = load_sentences(args.corpus)
    t0 = time.perf_counter()
    model.build_vocab(sentences)
    n_words = model.vocab.retained_words
    print(f"{args.model}: {len(model.vocab)} words in the vocabulary, {n_words} of {model.vocab.total_words} "
          f"tokens kept ({time.perf_counter() - t0:.1f}s)")
    glove = args.model == "glove"
    if glove:
        print(f"glove: {model.rows.size} nonzero co-occurrences")
    bar = ProgressBar("pair" if glove else "word", enabled=not args.no_progress)
    t1 = time.perf_counter()
    try:
        if glove:
            losses = model.train(progress=bar)
        else:
            model.train(sentences, progress=bar)
    finally:
        bar.close()
    seconds = time.perf_counter() - t1
    epochs = kwargs.get("epochs", model.config.epochs)
    rate = f"{n_words * epochs / seconds:,.0f} corpus words/s"
    if glove:
        rate += f", {model.rows.size * epochs / seconds:,.0f} co-occurrence updates/s; cost {losses[-1]:.4f}"
    print(f"trained in {seconds:.1f}s ({rate})")
    model.wv.save_word2vec_format(args.out, binary=args.binary)
    print(f"wrote {len(model.wv)} vectors of size {model.wv.vector_size} to {args.out}"
          f"{' (binary)' if args.binary else ''}")
    if args.save_model:
        model.save(args.save_model)
        print(f"saved the model to {args.save_model}")


# ---- query -------------------------------------------------------------------


def run_query(args):
    from ..wordvec import KeyedVectors
    if not os.path.isfile(args.vectors):
        raise FileNotFoundError(f"--vectors {args.vectors!r} does not exist")
    if args.topn < 1:
        raise ValueError(f"--topn must be at least 1, got {args.topn}")
    if args.word and (args.positive or args.negative):
        raise ValueError("give --word, or --positive/--negative, not both")
    if not (args.word or args.positive or args.negative):
        raise ValueError("give --word W (nearest neighbours) or --positive/--negative words (an analogy)")
    kv = KeyedVectors.load_word2vec_format(args.vectors, binary=args.binary)
    positive = [args.word] if args.word else args.positive
    missing = [w for w in positive + args.negative if w not in kv.key_to_index]
    if missing:
        raise ValueError(f"not in the vocabulary of {args.vectors}: {', '.join(map(repr, missing))}")
    for word, score in kv.most_similar(positive=positive, negative=args.negative, topn=args.topn):
        print(f"{word}\t{score:.4f}")
