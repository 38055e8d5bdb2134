"""Word vectors: Word2Vec, GloVe and FastText trained by Numba kernels (gensim 4 names).

    from tinylm.wordvec import Word2Vec, read_corpus
    model = Word2Vec(read_corpus("corpus.txt"), vector_size=100, window=5, min_count=5, sg=1)
    model.wv.most_similar("king", topn=5)
    model.wv.evaluate_word_pairs("wordsim353.tsv")

vocab.py         Vocab (counting, pruning, subsampling and negative-sampling tables), read_corpus
keyedvectors.py  KeyedVectors: queries, evaluation, word2vec text/binary formats
stats.py         Pearson/Spearman with p-values (no scipy)
word2vec.py      Word2Vec (its kernel: kernels/word2vec.py)
glove.py         GloVe: co-occurrence counting and AdaGrad (kernels/glove.py)
fasttext.py      FastText: words plus hashed character n-grams (kernels/fasttext.py)
"""
from .keyedvectors import KeyedVectors
from .vocab import Vocab, read_corpus, sentences_from_text
from .word2vec import Word2Vec, Word2VecConfig
from .glove import GloVe, GloVeConfig
from .fasttext import FastText, FastTextConfig, FastTextKeyedVectors

__all__ = ["KeyedVectors", "Vocab", "Word2Vec", "Word2VecConfig", "read_corpus", "sentences_from_text",
           "GloVe", "GloVeConfig", "FastText", "FastTextConfig", "FastTextKeyedVectors"]
