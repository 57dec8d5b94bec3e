"""Space-time neighborhood attention over latent frames plus per-frame global tokens.

Each frame is P = H*W + G tokens, laid out heads-last as ``(B, T, P, heads, dim)``: its
H x W grid tokens (a latent frame's positions, row-major), then its G global tokens (the
proprio token). Who sees whom (causal in time: nothing sees a later frame):

* a grid token at (t, i, j) sees grid tokens (t', i', j') with t' <= t inside the
  ``kernel`` x ``kernel`` spatial neighbourhood of (i, j), and all global tokens of
  frames <= t;
* a global token of frame t sees every token of frames <= t;
* with a ``band``, only frames t' >= t - band are seen (a sliding window in time: what a
  rolling cache of ``band`` past frames gives at sampling time).

Queries may be fewer frames than keys: the queries are then the *last* frames of the key
window (new frames attending to a cache of past ones' keys and values).

The spatial neighbourhood follows NATTEN: a window of ``kernel`` positions centred on the
query and shifted inwards at the borders (so every query sees exactly ``kernel`` x
``kernel`` positions). Two backends compute the same thing:

* ``torch`` (any device): one ``scaled_dot_product_attention`` over all tokens with a
  boolean mask from :func:`space_time_mask` (an additive one trained 35% slower compiled);
* ``natten`` (CUDA, natten installed; as many query frames as key frames): grid->grid by
  ``na3d`` (fused kernels, on the grid tokens seen as (B, T, H, W, heads, dim)),
  grid->global and global->all by small dense attentions, merged exactly through their
  log-sum-exp.
"""

from __future__ import annotations

import functools
import importlib.util

import torch
import torch.nn.functional as F

HAS_NATTEN = importlib.util.find_spec("natten") is not None


def window_starts(n: int, kernel: int) -> torch.Tensor:
    """First position of each query's window along an axis of ``n`` (NATTEN borders)."""
    return (torch.arange(n) - kernel // 2).clamp(0, n - kernel)


@functools.lru_cache(maxsize=32)
def space_time_mask(t: int, h: int, w: int, g: int, kernel: int, band: int | None = None) -> torch.Tensor:
    """Boolean (N, N) mask, True = may attend, over tokens ordered frame by frame as
    [h*w grid tokens, g global tokens]; N = t * (h*w + g). ``band``: frames further back
    than this are not seen (None: all earlier frames are)."""
    if kernel > h or kernel > w:
        raise ValueError(f"kernel {kernel} is larger than the {h}x{w} token grid")
    per = h * w + g
    frame = torch.arange(t).repeat_interleave(per)  # (N,)
    is_grid = (torch.arange(per) < h * w).repeat(t)  # (N,)
    pos = torch.arange(per).clamp_max(h * w - 1).repeat(t)
    row, col = pos // w, pos % w
    row_start, col_start = window_starts(h, kernel)[row], window_starts(w, kernel)[col]
    in_row = (row[None, :] >= row_start[:, None]) & (row[None, :] < row_start[:, None] + kernel)
    in_col = (col[None, :] >= col_start[:, None]) & (col[None, :] < col_start[:, None] + kernel)
    causal = frame[None, :] <= frame[:, None]
    if band is not None:
        causal &= frame[:, None] - frame[None, :] <= band
    grid_to_grid = is_grid[:, None] & is_grid[None, :] & in_row & in_col
    involves_global = ~is_grid[:, None] | ~is_grid[None, :]
    return causal & (grid_to_grid | involves_global)


def _torch_attention(q, k, v, h, w, kernel, band, present):
    b, t, per, n, d = q.shape
    bias = space_time_mask(k.shape[1], h, w, per - h * w, kernel, band)[-t * per :].to(q.device)  # (T*P, Tk*P)
    if present is not None:  # absent key frames of a row are skipped
        bias = bias & present.repeat_interleave(per, 1)[:, None, None]  # (B, 1, T*P, Tk*P)
    flat = lambda x: x.reshape(b, -1, n, d).transpose(1, 2)  # noqa: E731  (B, n, N, d)
    out = F.scaled_dot_product_attention(flat(q), flat(k), flat(v), attn_mask=bias)  # (B, n, T*P, d)
    return out.transpose(1, 2).reshape(b, t, per, n, d)


def _dense_with_lse(q, k, v, mask):
    """q (B, n, Nq, d), k/v (B, n, Nk, d), mask (Nq, Nk) -> out, log-sum-exp (B, n, Nq)."""
    logits = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    logits = logits.masked_fill(~mask, float("-inf")).float()
    lse = torch.logsumexp(logits, dim=-1)
    return (torch.softmax(logits, -1).to(v.dtype) @ v), lse


def _natten_attention(tokens_q, tokens_k, tokens_v, h, w, kernel, band):
    import natten

    b, t, per, n, d = tokens_q.shape
    g = per - h * w
    # the fused kernels want dense heads-last grid tensors (B, T, H, W, n, d)
    q, k, v = (x[:, :, : h * w].unflatten(2, (h, w)).contiguous() for x in (tokens_q, tokens_k, tokens_v))
    gq, gk, gv = (x[:, :, h * w :] for x in (tokens_q, tokens_k, tokens_v))  # (B, T, G, n, d)
    window = t if band is None else min(t, band + 1)  # frames seen, the query's own included
    grid_out, grid_lse = natten.na3d(
        q, k, v, kernel_size=(window, kernel, kernel), is_causal=(True, False, False), return_lse=True
    )
    frame_of_query = torch.arange(t, device=q.device).repeat_interleave(h * w)
    frame_of_global = torch.arange(t, device=q.device).repeat_interleave(g)
    lag = frame_of_query[:, None] - frame_of_global[None, :]
    to_global = (lag >= 0) & (lag <= (t if band is None else band))  # (T*HW, T*G)
    flat = lambda x: x.reshape(b, -1, n, d).transpose(1, 2)  # noqa: E731  (B, n, N, d)
    extra_out, extra_lse = _dense_with_lse(flat(q), flat(gk), flat(gv), to_global)
    extra_out = extra_out.transpose(1, 2).reshape(b, t, h, w, n, d)
    extra_lse = extra_lse.transpose(1, 2).reshape(b, t, h, w, n)
    # softmax over the union of both key sets, from each part's output and log-sum-exp
    lse = torch.logaddexp(grid_lse.float(), extra_lse)
    grid_out = (
        grid_out.float() * torch.exp(grid_lse.float() - lse)[..., None]
        + extra_out.float() * torch.exp(extra_lse - lse)[..., None]
    ).to(q.dtype)
    mask = space_time_mask(t, h, w, g, kernel, band).to(q.device)
    is_global = ~(torch.arange(per, device=q.device) < h * w).repeat(t)
    global_out = F.scaled_dot_product_attention(flat(gq), flat(tokens_k), flat(tokens_v), attn_mask=mask[is_global])
    return torch.cat([grid_out.flatten(2, 3), global_out.transpose(1, 2).reshape(b, t, g, n, d)], 2)  # (B, T, P, n, d)


def space_time_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    grid: tuple[int, int],
    kernel: int = 3,
    backend: str = "auto",
    band: int | None = None,
    present: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention of query tokens (B, T, P, n, d) over keys and values of Tk >= T frames
    (B, Tk, P, n, d), the queries being the last T of them; each frame's P tokens are its
    ``grid`` = (H, W) grid tokens, row-major, then its global ones. Returns (B, T, P, n, d).
    ``band``: see the module docstring. ``present`` (B, Tk) bool: key frames a row has
    (None: all); the others are skipped. ``backend``: ``auto`` (natten on CUDA when
    installed, T = Tk and all frames present, else torch), ``torch`` or ``natten`` (needs
    those). Raises ValueError for a kernel larger than the grid, an unknown backend, or
    natten with T < Tk or absent frames."""
    h, w = grid
    cached = k.shape[1] != q.shape[1] or present is not None
    if backend == "auto":
        backend = "natten" if HAS_NATTEN and q.is_cuda and not cached else "torch"
    if backend == "natten":
        if not HAS_NATTEN:
            raise RuntimeError("backend='natten' but natten is not installed")
        if cached:
            raise ValueError(
                f"backend='natten' needs as many query frames as key frames, all present; got {q.shape[1]} "
                f"and {k.shape[1]}{'' if present is None else ', some absent'}"
            )
        return _natten_attention(q, k, v, h, w, kernel, band)
    if backend != "torch":
        raise ValueError(f"unknown attention backend {backend!r}; use auto, torch or natten")
    return _torch_attention(q, k, v, h, w, kernel, band, present)
