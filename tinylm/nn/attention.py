"""Multi-head attention, as torch.nn.MultiheadAttention (PyTorch 2.13).

    query (L, N, E), key (S, N, kdim), value (S, N, vdim)   (N first with batch_first,
                                                             no N for unbatched input)
    q, k, v = query W_q^T + b_q,  key W_k^T + b_k,  value W_v^T + b_v     each (.., E)
    split E into H heads of D = E / H:  q (N, H, L, D), k and v (N, H, S, D)
    weights = dropout(softmax(q k^T / sqrt(D) + mask))                      (N, H, L, S)
    out = concat_heads(weights v) W_o^T + b_o                               (L, N, E)

Parameters carry PyTorch's names and shapes, so state dicts move either way:
in_proj_weight (3E, E) stacks W_q, W_k, W_v (or q_proj_weight (E, E),
k_proj_weight (E, kdim), v_proj_weight (E, vdim) when kdim or vdim differ
from E), in_proj_bias (3E,), out_proj.weight (E, E), out_proj.bias (E,).

Masks follow MultiheadAttention's convention, the opposite of
F.scaled_dot_product_attention's: a bool True means "may NOT attend"; a float
mask is added to the scores. key_padding_mask (N, S) hides keys per batch
entry; attn_mask (L, S) or (N*H, L, S) hides (query, key) pairs. Both become
float masks (True -> -inf) and are summed, as in PyTorch.

PyTorch picks one of three paths, and tinylm copies the choice because two
details differ between them (all else agrees to rounding):
  - need_weights=True computes the weights explicitly: a query row whose keys
    are all masked gives NaN (softmax of all -inf); is_causal is unused.
  - need_weights=False runs F.scaled_dot_product_attention: such rows give 0
    (so the output is out_proj.bias). is_causal=True, which still requires
    attn_mask, replaces attn_mask by the causal mask unless key_padding_mask
    is given.
  - the inference fast path (see _takes_torch_fast_path) gives NaN rows with or
    without weights and ignores is_causal, even without attn_mask.
"""
import math
import warnings

import numpy as np

from .. import autograd
from .._tensor import Tensor
from . import functional as F
from . import init
from .layers import Linear, _new_parameter
from .module import Module


class NonDynamicallyQuantizableLinear(Linear):
    """Linear under the name PyTorch gives MultiheadAttention.out_proj (same maths, same repr)."""


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017), as torch.nn.MultiheadAttention.

    forward(query, key, value) -> (attn_output, attn_weights):
        attn_output (L, N, E), or (N, L, E) with batch_first, or (L, E) unbatched;
        attn_weights (N, L, S) averaged over heads, (N, H, L, S) with
        average_attn_weights=False, None with need_weights=False
        (no N for unbatched input).
    Dropout (probability `dropout`) hits the attention weights in training mode;
    the weights returned are the dropped ones, as in PyTorch.
    add_bias_kv and add_zero_attn are not supported (NotImplementedError)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, "
                             f"got embed_dim={embed_dim} and num_heads={num_heads} instead")
        for option, value in (("add_bias_kv", add_bias_kv), ("add_zero_attn", add_zero_attn)):
            if value:
                raise NotImplementedError(f"MultiheadAttention: {option}=True is not supported by "
                                          f"tinylm; leave it at False")
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(f"MultiheadAttention: embed_dim must be divisible by num_heads, "
                                 f"got embed_dim={embed_dim} and num_heads={num_heads}")
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _new_parameter((3 * E, E), device, dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = _new_parameter((E, E), device, dtype)
            self.k_proj_weight = _new_parameter((E, self.kdim), device, dtype)
            self.v_proj_weight = _new_parameter((E, self.vdim), device, dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _new_parameter((3 * E,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(E, E, bias=bias, device=device, dtype=dtype)
        self.bias_k = self.bias_v = None  # what add_bias_kv would create; kept for PyTorch's attributes
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        # out_proj.weight keeps Linear's default init; the in-projection is xavier, biases zero
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = self._check_inputs(query, key, value)
        key_padding_mask = _as_tensor(key_padding_mask)
        attn_mask = _as_tensor(attn_mask)
        self._check_mask_shapes(query, key, key_padding_mask, attn_mask, batched)
        fast = self._takes_torch_fast_path(query, key, value, key_padding_mask, attn_mask)
        if is_causal and not fast:
            if attn_mask is None:
                raise RuntimeError("MultiheadAttention: Need attn_mask if specifying the is_causal hint. "
                                   "You may use the Transformer module method "
                                   "`generate_square_subsequent_mask` to create this mask.")
            if key_padding_mask is None and not need_weights:
                attn_mask = None  # scaled_dot_product_attention applies the causal mask itself
            else:
                is_causal = False  # the explicit (merged) mask is used instead
        else:
            is_causal = False
        if key_padding_mask is not None and attn_mask is not None \
                and key_padding_mask.dtype != attn_mask.dtype:
            warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. "
                          "Use same type for both instead.", stacklevel=3)

        # everything below works on (L, N, E): PyTorch's layout without batch_first
        if not batched:
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        L, N, E = query.shape
        S, H, D = key.shape[0], self.num_heads, self.head_dim

        w_q, w_k, w_v = self._projection_weights()
        b_q, b_k, b_v = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        q = F.linear(query, w_q, b_q).reshape(L, N, H, D).permute(1, 2, 0, 3)  # (N, H, L, D)
        k = F.linear(key, w_k, b_k).reshape(S, N, H, D).permute(1, 2, 0, 3)    # (N, H, S, D)
        v = F.linear(value, w_v, b_v).reshape(S, N, H, D).permute(1, 2, 0, 3)  # (N, H, S, D)
        mask = self._merged_mask(key_padding_mask, attn_mask, query.dtype, N, L, S)

        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights or fast:
            scores = (q * math.sqrt(1.0 / D)) @ k.mT  # (N, H, L, S)
            if mask is not None:
                scores = scores + mask
            weights = F.dropout(F.softmax(scores, dim=-1), p=dropout_p)
            out = weights @ v  # (N, H, L, D)
        else:
            out = F.scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal)
        out = out.permute(2, 0, 1, 3).reshape(L, N, E)  # heads side by side again
        # F.linear, not self.out_proj(...): PyTorch's out_proj forward hooks don't fire either
        out = F.linear(out, self.out_proj.weight, self.out_proj.bias)  # (L, N, E)

        if not need_weights:
            weights = None
        elif average_attn_weights:
            weights = weights.mean(dim=1)  # (N, L, S)
        if not batched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    # ---- the pieces of forward ----------------------------------------------------
    def _projection_weights(self):
        """W_q (E, E), W_k (E, kdim), W_v (E, vdim): rows of in_proj_weight, or the three weights."""
        if self._qkv_same_embed_dim:
            return self.in_proj_weight.chunk(3)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def _merged_mask(self, key_padding_mask, attn_mask, dtype, N, L, S):
        """key_padding_mask (N, S) and attn_mask (L, S) or (N*H, L, S) as one additive
        float mask broadcastable to the scores (N, H, L, S), or None."""
        mask = None
        if attn_mask is not None:
            mask = _additive(attn_mask, dtype)
            if mask.ndim == 3:
                mask = mask.reshape(N, self.num_heads, L, S)
        if key_padding_mask is not None:
            pad = _additive(key_padding_mask, dtype).reshape(N, 1, 1, S)
            mask = pad if mask is None else mask + pad
        return mask

    def _takes_torch_fast_path(self, query, key, value, key_padding_mask, attn_mask):
        """True where PyTorch 2.13 would run its fused inference kernel
        (torch._native_multi_head_attention): batched self-attention (query is
        key is value) with batch_first, in eval mode, with nothing needing a
        gradient, an even number of heads, packed in_proj weights with bias and
        no float mask. It gives the same numbers as the general path except that
        fully masked query rows give NaN and is_causal is ignored, so tinylm
        reproduces those two details when this holds."""
        params = (self.in_proj_weight, self.in_proj_bias, self.out_proj.weight, self.out_proj.bias)
        needs_grad = autograd.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (query, key, value) + params)
        float_mask = any(m is not None and m.is_floating_point() for m in (key_padding_mask, attn_mask))
        return (query.ndim == 3 and query is key and key is value and self.batch_first
                and not self.training and self.num_heads % 2 == 0 and self._qkv_same_embed_dim
                and self.in_proj_bias is not None and not needs_grad and not float_mask)

    # ---- input checks (PyTorch's exception types, messages naming the sizes) ------
    def _check_inputs(self, query, key, value):
        """Check query, key and value against the layer; True if batched (3-D)."""
        for name, x in (("query", query), ("key", key), ("value", value)):
            if not isinstance(x, Tensor):
                raise TypeError(f"MultiheadAttention: expected {name} to be a tinylm Tensor, "
                                f"got {type(x).__name__}")
        if query.ndim not in (2, 3):
            raise AssertionError(f"MultiheadAttention: query should be unbatched 2D (L, E) or batched 3D "
                                 f"tensor but received a {query.ndim}-D query of shape {query.shape}")
        batched = query.ndim == 3
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise AssertionError(f"MultiheadAttention: for {query.ndim}-D query {query.shape}, expected "
                                 f"key and value to be {query.ndim}-D too, got shapes {key.shape} and "
                                 f"{value.shape}")
        if query.shape[-1] != self.embed_dim:
            raise AssertionError(f"MultiheadAttention: expected query of size {self.embed_dim} in the "
                                 f"last dim (embed_dim), got shape {query.shape}")
        if self._qkv_same_embed_dim and key.shape != value.shape:
            raise AssertionError(f"MultiheadAttention: key shape {key.shape} does not match value "
                                 f"shape {value.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise AssertionError(f"MultiheadAttention: key's sequence and batch dims {key.shape[:-1]} "
                                 f"do not match value's {value.shape[:-1]}")
        # PyTorch fails inside its matmul (RuntimeError) or, with separate weights, an assert
        error = RuntimeError if self._qkv_same_embed_dim else AssertionError
        for name, x, size, arg in (("key", key, self.kdim, "kdim"), ("value", value, self.vdim, "vdim")):
            if x.shape[-1] != size:
                raise error(f"MultiheadAttention: expected {name} of size {size} in the last "
                            f"dim ({arg}), got shape {x.shape}")
        b = 0 if self.batch_first else 1
        if batched and key.shape[b] != query.shape[b]:
            raise RuntimeError(f"MultiheadAttention: query {query.shape} and key {key.shape} have "
                               f"different batch sizes: {query.shape[b]} != {key.shape[b]} (dim {b})")
        weight = self.in_proj_weight if self._qkv_same_embed_dim else self.q_proj_weight
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.dtype != weight.dtype:
                raise RuntimeError(f"MultiheadAttention: {name} dtype {x.dtype} doesn't match the "
                                   f"parameters' dtype {weight.dtype}; convert one (x.to(...) or "
                                   f"module.to(...))")
        return batched

    def _check_mask_shapes(self, query, key, key_padding_mask, attn_mask, batched):
        if batched:
            b = 0 if self.batch_first else 1
            N, L, S = query.shape[b], query.shape[1 - b], key.shape[1 - b]
        else:
            N, (L, S) = 1, (query.shape[0], key.shape[0])
        for name, mask in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
            if mask is not None and mask.dtype != np.bool_ and not mask.is_floating_point():
                raise AssertionError(f"MultiheadAttention: only bool and floating types of {name} are "
                                     f"supported, got {mask.dtype}")
            if mask is not None and mask.is_floating_point() and mask.dtype != query.dtype:
                raise RuntimeError(f"MultiheadAttention: float {name} must have the query's dtype "
                                   f"{query.dtype}, got {mask.dtype}")
        if key_padding_mask is not None:
            expected, dims = ((N, S), "(batch, source length)") if batched else ((S,), "(source length,)")
            if key_padding_mask.shape != expected:
                raise AssertionError(f"MultiheadAttention: expected key_padding_mask of shape {expected} "
                                     f"{dims}, got {key_padding_mask.shape}")
        if attn_mask is not None:
            H = self.num_heads
            if attn_mask.ndim == 2 and attn_mask.shape != (L, S):
                raise RuntimeError(f"MultiheadAttention: the shape of the 2D attn_mask is "
                                   f"{attn_mask.shape}, but should be {(L, S)}")
            if attn_mask.ndim == 3 and attn_mask.shape != (N * H, L, S):
                error = RuntimeError if batched else AssertionError
                raise error(f"MultiheadAttention: the shape of the 3D attn_mask is {attn_mask.shape}, "
                            f"but should be {(N * H, L, S)} (batch * num_heads, target length, "
                            f"source length)")
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(f"MultiheadAttention: expected attn_mask to be None, 2-D (L, S) or "
                                     f"3-D (N*num_heads, L, S), got shape {attn_mask.shape}")


def _as_tensor(mask):
    return mask if mask is None or isinstance(mask, Tensor) else Tensor(np.asarray(mask))


def _additive(mask, dtype):
    """A bool mask (True = hidden) as 0 / -inf in `dtype`; a float mask as it is."""
    if mask.dtype == np.bool_:
        return Tensor(np.where(mask.data, -np.inf, 0.0).astype(dtype))
    return mask
