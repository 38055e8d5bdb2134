"""The BPE kernels (kernels/bpe.py) against their NumPy/Python references.

These kernels do integer work with their own layout (chunks of token ids,
weights, a merge count), so they are not in the float kernel registry that
tests/test_kernels.py walks (it draws float32/float64 inputs and compares
with tolerances); here the outputs must be equal. Hypothesis draws token
arrays over tiny alphabets, so runs (a a a a), ties and pairs spanning
merged tokens come up often."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.bpe import bpe_encode, bpe_encode_reference, bpe_train, bpe_train_reference


@st.composite
def layouts(draw):
    """(tok, offsets, weights): up to 12 chunks of up to 15 ids over an alphabet of 1..4."""
    alphabet = draw(st.integers(1, 4))
    chunks = draw(st.lists(st.lists(st.integers(0, alphabet - 1), max_size=15), min_size=1, max_size=12))
    weights = draw(st.lists(st.integers(1, 5), min_size=len(chunks), max_size=len(chunks)))
    tok = np.array([t for c in chunks for t in c], np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)
    return tok, offsets, np.array(weights, np.int64)


@settings(max_examples=150)
@given(layout=layouts(), num_merges=st.integers(0, 30))
def test_train_kernel_matches_reference(layout, num_merges):
    tok, offsets, weights = layout
    merges, counts = bpe_train(tok, offsets, weights, num_merges, first_id=4)
    ref_merges, ref_counts = bpe_train_reference(tok, offsets, weights, num_merges, first_id=4)
    np.testing.assert_array_equal(merges, ref_merges)
    np.testing.assert_array_equal(counts, ref_counts)


@settings(max_examples=100)
@given(layout=layouts(), train_layout=layouts(), num_merges=st.integers(0, 20))
def test_encode_kernel_matches_reference(layout, train_layout, num_merges):
    merges, _ = bpe_train(*train_layout, num_merges, first_id=4)  # merges learnt on other text
    tok, offsets, _ = layout
    ids, new_offsets = bpe_encode(tok, offsets, merges, first_id=4)
    ref_ids, ref_offsets = bpe_encode_reference(tok, offsets, merges, first_id=4)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(new_offsets, ref_offsets)


def test_hand_worked_example():
    # chunks 1 1 1 1 2 (weight 1) and 2 1 (weight 2), new ids from 5 on:
    #   counts (1,1)=3 (overlapping), (2,1)=2, (1,2)=1 -> (1,1) becomes 5: 5 5 2, left to right
    #   (2,1)=2 beats (5,5)=1 and (5,2)=1                -> (2,1) becomes 6: the chunk 6
    #   (5,5) and (5,2) tie at 1; the smaller pair wins  -> (5,2) becomes 7: 5 7
    #   (5,7)=1                                          -> 8; then no pair is left: stop early
    tok = np.array([1, 1, 1, 1, 2, 2, 1], np.int32)
    offsets = np.array([0, 5, 7])
    weights = np.array([1, 2])
    for train in (bpe_train, bpe_train_reference):
        merges, counts = train(tok, offsets, weights, 10, first_id=5)
        assert merges.tolist() == [[1, 1], [2, 1], [5, 2], [5, 7]]
        assert counts.tolist() == [3, 2, 1, 1]
    for encode in (bpe_encode, bpe_encode_reference):
        ids, offs = encode(np.array([1, 1, 1, 2, 1, 1, 1, 1, 2], np.int32), np.array([0, 4, 9]),
                           merges, first_id=5)
        assert ids.tolist() == [5, 1, 2, 8] and offs.tolist() == [0, 3, 4]


def test_weights_count_like_repeated_chunks():
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 6, rng.integers(1, 20)).tolist() for _ in range(40)]
    reps = rng.integers(1, 4, len(chunks))
    flat = [c for c, r in zip(chunks, reps) for _ in range(r)]

    def layout(cs):
        return (np.array([t for c in cs for t in c], np.int32),
                np.concatenate([[0], np.cumsum([len(c) for c in cs])]))

    weighted = bpe_train(*layout(chunks), reps, 50, first_id=6)
    repeated = bpe_train(*layout(flat), np.ones(len(flat), np.int64), 50, first_id=6)
    np.testing.assert_array_equal(weighted[0], repeated[0])
    np.testing.assert_array_equal(weighted[1], repeated[1])


def test_bad_layout_is_rejected():
    with pytest.raises(ValueError, match="offsets must rise from 0 to len"):
        bpe_train(np.array([1, 2, 3]), np.array([0, 2]), np.array([1]), 5)
    with pytest.raises(ValueError, match="2 chunks but 1 weights"):
        bpe_train(np.array([1, 2, 3]), np.array([0, 2, 3]), np.array([1]), 5)
