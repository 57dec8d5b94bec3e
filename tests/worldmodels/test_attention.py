import math

import pytest
import torch

from worldmodels.attention import HAS_NATTEN, space_time_attention


def naive_attention(q, k, v, gq, gk, gv, kernel):
    """One query at a time, neighbourhoods spelled out (NATTEN's shifted borders)."""
    b, t, h, w, n, d = q.shape
    g = gq.shape[2]

    def start(i, size):
        return min(max(i - kernel // 2, 0), size - kernel)

    def attend(query, keys, values):
        logits = torch.stack([query @ key for key in keys]) / math.sqrt(d)
        return (torch.softmax(logits, 0)[:, None] * torch.stack(values)).sum(0)

    grid_out, global_out = torch.zeros_like(q), torch.zeros_like(gq)
    for bi in range(b):
        for head in range(n):
            for ti in range(t):
                past = range(ti + 1)
                globals_k = [gk[bi, s, e, head] for s in past for e in range(g)]
                globals_v = [gv[bi, s, e, head] for s in past for e in range(g)]
                for i in range(h):
                    for j in range(w):
                        rows = range(start(i, h), start(i, h) + kernel)
                        cols = range(start(j, w), start(j, w) + kernel)
                        keys = [k[bi, s, r, c, head] for s in past for r in rows for c in cols] + globals_k
                        vals = [v[bi, s, r, c, head] for s in past for r in rows for c in cols] + globals_v
                        grid_out[bi, ti, i, j, head] = attend(q[bi, ti, i, j, head], keys, vals)
                all_k = [k[bi, s, r, c, head] for s in past for r in range(h) for c in range(w)] + globals_k
                all_v = [v[bi, s, r, c, head] for s in past for r in range(h) for c in range(w)] + globals_v
                for e in range(g):
                    global_out[bi, ti, e, head] = attend(gq[bi, ti, e, head], all_k, all_v)
    return grid_out, global_out


def random_tokens(b=2, t=3, h=5, w=4, g=1, n=2, d=8, seed=0):
    """q, k, v in token layout (B, T, H*W + G, n, d)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(b, t, h * w + g, n, d, generator=gen) for _ in range(3)]


def split(tokens, h=5, w=4):
    """Token layout -> grid (B, T, H, W, n, d) and global (B, T, G, n, d) parts."""
    return tokens[:, :, : h * w].unflatten(2, (h, w)), tokens[:, :, h * w :]


def naive_tokens(q, k, v, kernel, h=5, w=4):
    (gq, qq), (gk, kk), (gv, vv) = split(q, h, w), split(k, h, w), split(v, h, w)
    grid, glob = naive_attention(gq, gk, gv, qq, kk, vv, kernel)
    return torch.cat([grid.flatten(2, 3), glob], 2)


@pytest.mark.parametrize("kernel,g", [(3, 1), (3, 2), (1, 1), (4, 1)])
def test_torch_path_equals_naive(kernel, g):
    tokens = random_tokens(g=g)
    out = space_time_attention(*tokens, grid=(5, 4), kernel=kernel, backend="torch")
    torch.testing.assert_close(out, naive_tokens(*tokens, kernel=kernel), atol=1e-5, rtol=1e-5)


def test_queries_of_the_last_frames_see_what_the_whole_window_sees():
    q, k, v = random_tokens(t=4)
    whole = space_time_attention(q, k, v, grid=(5, 4), kernel=3, band=2)
    last = space_time_attention(q[:, -1:], k, v, grid=(5, 4), kernel=3, band=2)
    torch.testing.assert_close(last, whole[:, -1:], atol=1e-6, rtol=1e-6)


def test_causal_in_time():
    tokens = random_tokens()
    changed = [x.clone() for x in tokens]
    for x in changed:
        x[:, 2:] += 1.0  # change only the last frame
    a = space_time_attention(*tokens, grid=(5, 4), kernel=3, backend="torch")
    b = space_time_attention(*changed, grid=(5, 4), kernel=3, backend="torch")
    torch.testing.assert_close(a[:, :2], b[:, :2])
    assert not torch.allclose(a[:, 2:], b[:, 2:])


def test_kernel_larger_than_grid_is_an_error():
    with pytest.raises(ValueError, match="kernel 7 is larger"):
        space_time_attention(*random_tokens(), grid=(5, 4), kernel=7, backend="torch")


DEVICES = [("cpu", torch.float32, 1e-4)] + ([("cuda", torch.bfloat16, 2e-2)] if torch.cuda.is_available() else [])


@pytest.mark.skipif(not HAS_NATTEN, reason="natten not installed")
@pytest.mark.parametrize("device,dtype,tol", DEVICES)
def test_natten_path_matches_torch_path(device, dtype, tol):
    # on CPU natten runs its flex backend (forward only); on CUDA its fused kernels, in bf16
    tokens = [x.to(device, dtype) for x in random_tokens(h=8, w=8, t=3, d=16)]
    out = space_time_attention(*tokens, grid=(8, 8), kernel=3, backend="natten")
    ref = space_time_attention(*tokens, grid=(8, 8), kernel=3, backend="torch")
    torch.testing.assert_close(out.float(), ref.float(), atol=tol, rtol=tol)
