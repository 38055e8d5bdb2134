"""Tokenizers: character, byte-level BPE and word.

The BPE merges are checked against a straightforward BPE written here
(recount every pair after every merge, in plain Python), round trips with
hypothesis over arbitrary Unicode, and the files against malformed input.
The kernel-level checks are in test_bpe_kernel.py."""
import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.data import builtin_corpus
from tinylm.tokenizers import (SPLIT_PATTERN, ByteBPETokenizer, CharTokenizer, WordTokenizer,
                               load_tokenizer)

TEXT = builtin_corpus()[:20_000]


@pytest.fixture(scope="module")
def bpe():
    return ByteBPETokenizer().train(TEXT, 256 + 300 + 1, special_tokens=["<|endoftext|>"])


# ---- character level -------------------------------------------------------


def test_char_vocabulary_round_trip_and_file(tmp_path):
    tok = CharTokenizer().train("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"] and tok.vocab_size == 8
    assert tok.encode("hello") == [3, 2, 4, 4, 5]
    assert tok.decode([3, 2, 4, 4, 5]) == "hello"
    tok.save(tmp_path / "c.json")
    back = load_tokenizer(tmp_path / "c.json")
    assert isinstance(back, CharTokenizer) and back.chars == tok.chars


def test_char_unknown_characters_are_named():
    tok = CharTokenizer.from_text("abc")
    message = r"2 character\(s\) not in the vocabulary of 3: 'é' at 1, '\\n' at 4"
    with pytest.raises(ValueError, match=message):
        tok.encode("aébc\n")
    with pytest.raises(ValueError, match="unk="):
        tok.encode("x", errors="replace")  # no unk token to replace with
    tok = CharTokenizer.from_text("abc", unk="?")
    assert tok.chars == ["?", "a", "b", "c"]
    assert tok.encode("aéb", errors="replace") == [1, 0, 2]
    with pytest.raises(ValueError, match="'é' at 1"):
        tok.encode("aéb")  # strict stays the default
    with pytest.raises(ValueError, match="id 9 is out of range"):
        tok.decode([1, 9])


@given(st.text(min_size=1))
def test_char_round_trip(text):
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.chars == sorted(set(text))


# ---- byte-level BPE --------------------------------------------------------


def straightforward_bpe(text, num_merges):
    """minbpe's algorithm without any speed-ups: after every merge recount
    every pair of every chunk; the most frequent pair wins, ties to the
    smallest (a, b)."""
    chunks = Counter(tuple(c.encode("utf-8")) for c in re.findall(SPLIT_PATTERN, text))
    merges = []
    for m in range(num_merges):
        stats = Counter()
        for ids, n in chunks.items():
            for pair in zip(ids, ids[1:]):
                stats[pair] += n
        best = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))
        merges.append(best)
        new = Counter()
        for ids, n in chunks.items():
            out, i = [], 0
            while i < len(ids):
                if ids[i:i + 2] == best:
                    out.append(256 + m)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            new[tuple(out)] += n
        chunks = new
    return merges


def test_bpe_merges_match_straightforward_bpe(bpe):
    assert list(bpe.merges) == straightforward_bpe(TEXT, 300)
    assert list(bpe.merges.values()) == list(range(256, 556))
    assert bpe.vocab_size == 557 and bpe.special_tokens == {"<|endoftext|>": 556}


def test_split_pattern_splits_like_gpt4():
    text = "Hello world's 12345 foo!!\n\n  bar_baz (x) don't\tI'LL 3.14"
    assert re.findall(SPLIT_PATTERN, text) == [
        "Hello", " world", "'s", " ", "123", "45", " foo", "!!\n\n", " ", " bar", "_baz", " (", "x",
        ")", " don", "'t", "\tI", "'LL", " ", "3", ".", "14"]


@settings(max_examples=200)
@given(text=st.text())
def test_bpe_round_trip_any_unicode(bpe, text):
    assert "".join(re.findall(SPLIT_PATTERN, text)) == text  # the split loses nothing
    ids = bpe.encode(text, allowed_special="none")
    assert all(0 <= i < 556 for i in ids)
    assert bpe.decode(ids) == text


def test_bpe_compresses_and_encodes_chunks_independently(bpe):
    text = TEXT[:2000]
    ids = bpe.encode(text)
    assert len(ids) < 0.6 * len(text.encode("utf-8"))
    # encoding is per chunk, so it is the same whether the chunks come together or one by one
    assert ids == [i for c in re.findall(SPLIT_PATTERN, text) for i in bpe.encode(c)]
    # the first merge is the most frequent pair of the text
    assert bpe.vocab[256] == bytes(straightforward_bpe(TEXT, 1)[0])


def test_bpe_special_tokens(bpe):
    eot = bpe.special_tokens["<|endoftext|>"]
    text = "first<|endoftext|>second"
    with pytest.raises(ValueError, match=r"special token\(s\) \['<\|endoftext\|>'\]"):
        bpe.encode(text)
    ids = bpe.encode(text, allowed_special="all")
    assert ids == bpe.encode("first") + [eot] + bpe.encode("second")
    assert bpe.encode(text, allowed_special={"<|endoftext|>"}) == ids
    plain = bpe.encode(text, allowed_special="none")
    assert eot not in plain and bpe.decode(plain) == text
    assert bpe.decode(ids) == text
    with pytest.raises(ValueError, match="not special tokens"):
        bpe.encode(text, allowed_special={"<|pad|>"})
    with pytest.raises(ValueError, match="allowed_special must be one of"):
        bpe.encode(text, allowed_special="some")


def test_bpe_decode_of_invalid_utf8_gives_replacement_character(bpe):
    assert bpe.decode([0xFF]) == "\ufffd"                     # never a UTF-8 byte
    assert bpe.decode([104, 0x80, 105]) == "h\ufffdi"         # a stray continuation byte
    assert bpe.decode([0xE2, 0x82]) == "\ufffd"               # the first two bytes of the euro sign
    assert bpe.decode([0xE2, 0x82, 0xAC]) == "\u20ac"         # all three are the euro sign
    with pytest.raises(ValueError, match="id 9999 is out of range for a vocabulary of 557"):
        bpe.decode([9999])


def test_bpe_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size 200 is below the 256 byte tokens"):
        ByteBPETokenizer().train("abc", 200)
    with pytest.raises(ValueError, match="lone surrogate"):
        ByteBPETokenizer().encode("a\ud800b")
    with pytest.raises(ValueError, match="does not cover the whole text"):
        ByteBPETokenizer(pattern=r"\w+").encode("a b")
    tok = ByteBPETokenizer().train("ab ab ab", 1000)  # too little text for 744 merges: stops early
    assert list(tok.merges) == [(97, 98), (32, 256)] and tok.vocab_size == 258


def test_bpe_file_round_trip(bpe, tmp_path):
    path = tmp_path / "bpe.json"
    bpe.save(path)
    back = load_tokenizer(path)
    assert isinstance(back, ByteBPETokenizer)
    assert back.merges == bpe.merges and back.special_tokens == bpe.special_tokens
    assert back.pattern == bpe.pattern
    assert back.encode(TEXT[:3000]) == bpe.encode(TEXT[:3000])


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("merges"), "lacks the 'merges' field"),
    (lambda d: d.__setitem__("merges", [[97, 98], [97, 999]]), r"merge 1 is \[97, 999\]; expected a pair"),
    (lambda d: d.__setitem__("merges", [[97, 98], [97, 98]]), "holds a pair twice"),
    (lambda d: d.__setitem__("special_tokens", {"<|x|>": 7}), "special tokens must be non-empty strings"),
    (lambda d: d.__setitem__("pattern", "(unclosed"), "split pattern does not compile"),
    (lambda d: d.__setitem__("version", 99), "format version 99"),
    (lambda d: d.__setitem__("type", "char"), "'chars' field"),
])
def test_bpe_malformed_file_names_file_and_problem(bpe, tmp_path, change, message):
    good = tmp_path / "good.json"
    bpe.save(good)
    d = json.loads(good.read_text())
    change(d)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=message) as info:
        load_tokenizer(bad)
    assert "bad.json" in str(info.value)


def test_unreadable_tokenizer_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="x.json.*is not valid JSON"):
        load_tokenizer(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"type": "sentencepiece", "version": 1}')
    with pytest.raises(ValueError, match="type 'sentencepiece'; known types"):
        load_tokenizer(tmp_path / "y.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "z.json").write_text('{"type": "char", "version": 1}')
    with pytest.raises(ValueError, match="holds a 'char' tokenizer, not 'bpe'"):
        ByteBPETokenizer.load(tmp_path / "z.json")


# ---- word level ------------------------------------------------------------

SENTENCE = 'The cat sat on the mat. It was "very" happy -- wasn\'t it?\nYes: sys.path[0]!'


def test_word_preprocessing_options():
    assert WordTokenizer().tokenize(SENTENCE) == [
        "the", "cat", "sat", "on", "the", "mat", ".", "it", "was", '"', "very", '"', "happy", "-", "-",
        "wasn't", "it", "?", "yes", ":", "sys", ".", "path", "[", "0", "]", "!"]
    assert WordTokenizer(punctuation="remove", remove_stop_words=True).tokenize(SENTENCE) == [
        "cat", "sat", "mat", "happy", "wasn't", "yes", "sys", "path", "0"]
    assert WordTokenizer(lower=False, punctuation="keep").tokenize(SENTENCE) == [
        "The", "cat", "sat", "on", "the", "mat.", "It", "was", '"very"', "happy", "--", "wasn't",
        "it?", "Yes:", "sys.path[0]!"]
    # stop words are matched case-insensitively even when the case is kept
    assert WordTokenizer(lower=False, remove_stop_words=True).tokenize("The Cat") == ["Cat"]


def test_word_sentences():
    tok = WordTokenizer(punctuation="remove")
    text = "Hello there. How are\nyou? Fine!\n\nNew paragraph\nwrapped"
    assert tok.sentences(text) == [["hello", "there"], ["how", "are", "you"], ["fine"],
                                   ["new", "paragraph", "wrapped"]]
    assert tok.sentences(text, split_lines=True)[-2:] == [["new", "paragraph"], ["wrapped"]]


def test_word_vocabulary_ids_and_file(tmp_path):
    tok = WordTokenizer().train("b a b c b a .", min_count=2)
    assert tok.itos == ["<unk>", "b", "a"] and tok.counts == [2, 3, 2]  # c and . fall below
    assert tok.encode("A b zebra") == [2, 1, 0]
    assert tok.decode([2, 1, 0]) == "a b <unk>"
    with pytest.raises(ValueError, match="id 3 is out of range"):
        tok.decode([3])
    assert WordTokenizer().train("b a b c b a", max_size=2).itos == ["<unk>", "b"]
    tok.save(tmp_path / "w.json")
    back = load_tokenizer(tmp_path / "w.json")
    assert isinstance(back, WordTokenizer) and back.itos == tok.itos and back.counts == tok.counts
    assert back.tokenize(SENTENCE) == tok.tokenize(SENTENCE)
    with pytest.raises(ValueError, match="punctuation must be one of"):
        WordTokenizer(punctuation="strip")
