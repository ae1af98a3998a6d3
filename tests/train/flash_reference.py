"""flash-attn's two kernels written in plain torch, installed where transformers looks for them, so that its whole
``flash_attention_2`` path (``integrations/flash_attention.py`` -> ``modeling_flash_attention_utils.
_flash_attention_forward``: the choice between the dense and the varlen kernel, the boundaries it is given)
runs on a CPU. Only the CUDA kernels are replaced; the signatures are flash-attn 2's.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


def _attend(q, k, v, softmax_scale, causal, window_size):
    """One sequence: q [n, hq, d], k / v [n, hk, d] -> [n, hq, d]."""
    hq, hk = q.shape[1], k.shape[1]
    k, v = k.repeat_interleave(hq // hk, dim=1), v.repeat_interleave(hq // hk, dim=1)
    scale = softmax_scale if softmax_scale is not None else q.shape[-1] ** -0.5
    scores = torch.einsum("qhd,khd->hqk", q.float(), k.float()) * scale
    i = torch.arange(q.shape[0])
    allowed = torch.ones(q.shape[0], k.shape[0], dtype=torch.bool)
    if causal:
        allowed &= i[:, None] >= i[None, :]
    if window_size is not None and window_size[0] >= 0:
        allowed &= i[:, None] - i[None, :] <= window_size[0]
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return torch.einsum("hqk,khd->qhd", probs, v.float()).to(q.dtype)


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None, max_seqlen_k=None,
                           dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                           alibi_slopes=None, deterministic=False, return_attn_probs=False, block_table=None):
    assert torch.equal(cu_seqlens_q, cu_seqlens_k) and int(cu_seqlens_q[-1]) == q.shape[0]
    b = cu_seqlens_q.tolist()
    return torch.cat([_attend(q[s:e], k[s:e], v[s:e], softmax_scale, causal, window_size) for s, e in zip(b, b[1:])])


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """Dense: q [b, L, hq, d]; every row is one sequence."""
    return torch.stack([_attend(q[i], k[i], v[i], softmax_scale, causal, window_size) for i in range(q.shape[0])])


@contextmanager
def reference_flash_attention():
    """Make transformers' flash_attention_2 path call the kernels above (restored on exit)."""
    import transformers.modeling_flash_attention_utils as fa

    names = ("_loaded_implementation", "_flash_fn", "_flash_varlen_fn", "_flash_with_kvcache_fn", "_pad_fn",
             "_unpad_fn", "_process_flash_kwargs_fn", "_process_with_kvcache_kwargs_fn")
    saved = {n: getattr(fa, n) for n in names}
    fa._loaded_implementation = "flash_attention_2"
    fa._flash_fn, fa._flash_varlen_fn, fa._flash_with_kvcache_fn = flash_attn_func, flash_attn_varlen_func, None
    fa._pad_fn, fa._unpad_fn = fa._pad_input, fa._unpad_input
    fa._process_flash_kwargs_fn = fa._lazy_define_process_function(flash_attn_varlen_func)
    fa._process_with_kvcache_kwargs_fn = dict
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(fa, n, v)


def use_flash_attention(model) -> None:
    """Switch a model built with sdpa to flash_attention_2 (transformers refuses to build one without flash-attn)."""
    model.config._attn_implementation = "flash_attention_2"
