"""Tests for proofgpt/model.py: shapes, loss at init, ignored targets, KV cache == recompute,
overfitting one batch, parameter counts and optimizer groups.

    .venv/bin/python -m pytest -q tests/test_model.py
"""

import math

import pytest
import torch

from proofgpt.model import GPT, GPTConfig, KVCache


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_config(**kw):
    base = dict(ctx=32, d_model=32, n_layers=2, n_heads=4, d_mlp=64, dropout=0.0)
    base.update(kw)
    return GPTConfig(**base)


def test_seed_config_param_count_in_plan_range():
    model = GPT(GPTConfig())
    n = model.num_params()
    print(f"seed config: {n:,} parameters")
    assert 10_000_000 <= n <= 12_000_000
    # counted by hand: 256*320 tied + 512*320 positions + 8 layers * (4*320^2 + 2*320*1280 + 2*320) + 320
    assert n == 256 * 320 + 512 * 320 + 8 * (4 * 320 * 320 + 2 * 320 * 1280 + 2 * 320) + 320
    assert sum(n for _, n in model.param_table()) == n
    # the tied head is one tensor: counted once
    assert model.lm_head.weight is model.wte.weight


def test_param_table_and_flops():
    model = GPT(tiny_config())
    table = dict(model.param_table())
    assert table["position embedding"] == 32 * 32
    assert table["token embedding (tied head)"] == 256 * 32
    assert table["norms"] == (2 * 2 + 1) * 32
    assert model.flops_per_token() == 6 * (model.num_params() - 32 * 32) + 12 * 2 * 32 * 32
    rope = GPT(tiny_config(pos="rope"))
    assert dict(rope.param_table())["position embedding"] == 0


@pytest.mark.parametrize("norm,act,pos", [("rmsnorm", "gelu", "learned"), ("layernorm", "silu", "rope")])
def test_loss_at_init_is_about_ln_vocab(norm, act, pos):
    torch.manual_seed(0)
    model = GPT(tiny_config(norm=norm, act=act, pos=pos))
    idx = torch.randint(0, 256, (4, 32))
    # targets independent of the inputs: with tied embeddings the input byte itself gets a boost
    logits, loss = model(idx, torch.randint(0, 256, (4, 32)))
    assert logits.shape == (4, 32, 256)
    assert abs(loss.item() - math.log(256)) < 0.1


def test_targets_minus_one_are_ignored():
    torch.manual_seed(0)
    model = GPT(tiny_config())
    idx = torch.randint(0, 256, (2, 16))
    targets = torch.randint(0, 256, (2, 16))
    masked = targets.clone()
    masked[:, 8:] = -1
    logits, loss = model(idx, masked)
    # the same as the mean cross-entropy over the first 8 positions only
    ref = torch.nn.functional.cross_entropy(logits[:, :8].reshape(-1, 256), targets[:, :8].reshape(-1))
    assert torch.allclose(loss, ref, atol=1e-6)
    # changing ignored targets changes nothing
    masked2 = masked.clone()
    _, loss2 = model(idx, masked2)
    assert loss2.item() == loss.item()
    _, smoothed = model(idx, masked, label_smoothing=0.1)
    assert smoothed.item() != loss.item()


def test_no_targets_gives_no_loss():
    model = GPT(tiny_config())
    logits, loss = model(torch.zeros(1, 5, dtype=torch.long))
    assert loss is None and logits.shape == (1, 5, 256)


def test_longer_than_ctx_is_refused():
    model = GPT(tiny_config())
    with pytest.raises(ValueError, match="ctx"):
        model(torch.zeros(1, 33, dtype=torch.long))


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_kv_cache_logits_equal_full_recompute(pos):
    torch.manual_seed(0)
    model = GPT(tiny_config(pos=pos)).eval()
    idx = torch.randint(0, 256, (3, 30))  # batched
    with torch.no_grad():
        full, _ = model(idx)  # (3, 30, V)
        cache = KVCache(model.config, 3)
        # a prefill of 10, one chunk of 5 after it (masked path), then one token at a time
        parts = [model(idx[:, :10], cache=cache)[0], model(idx[:, 10:15], cache=cache)[0]]
        for t in range(15, 30):
            parts.append(model(idx[:, t:t + 1], cache=cache)[0])
        cached = torch.cat(parts, dim=1)
    assert cache.pos == 30
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_left_padded_cache_equals_each_row_alone(pos):
    torch.manual_seed(0)
    model = GPT(tiny_config(pos=pos)).eval()
    lens = [7, 3, 5]
    seqs = [torch.randint(1, 256, (n + 6,)) for n in lens]  # prompt + 6 decoded tokens
    T = max(lens)
    with torch.no_grad():
        cache = KVCache(model.config, 3, max_len=T + 6, pad=[T - n for n in lens])
        idx = torch.stack([torch.cat([torch.zeros(T - n, dtype=torch.long), s[:n]]) for s, n in zip(seqs, lens)])
        steps = [model(idx, cache=cache)[0][:, -1]]  # (3, V) after each prompt
        for t in range(6):
            nxt = torch.stack([s[n + t] for s, n in zip(seqs, lens)])[:, None]  # (3, 1)
            steps.append(model(nxt, cache=cache)[0][:, -1])
        for r, (s, n) in enumerate(zip(seqs, lens)):
            alone, _ = model(s[None])  # (1, n + 6, V)
            for t in range(7):
                assert torch.allclose(steps[t][r], alone[0, n - 1 + t], atol=1e-5), (r, t)


def test_kv_cache_select_copies_rows():
    torch.manual_seed(0)
    model = GPT(tiny_config(pos="rope")).eval()
    idx = torch.randint(0, 256, (2, 12))
    with torch.no_grad():
        full, _ = model(idx[[1, 1, 0]])
        cache = KVCache(model.config, 2)
        model(idx[:, :6], cache=cache)
        cache.select(torch.tensor([1, 1, 0]))
        rest, _ = model(idx[[1, 1, 0], 6:], cache=cache)
    assert torch.allclose(rest, full[:, 6:], atol=1e-5)


def test_kv_cache_overflow_is_an_error():
    model = GPT(tiny_config()).eval()
    cache = KVCache(model.config, 1, max_len=4)
    with torch.no_grad():
        model(torch.zeros(1, 4, dtype=torch.long), cache=cache)
        with pytest.raises(ValueError):
            model(torch.zeros(1, 1, dtype=torch.long), cache=cache)


def test_tiny_batch_overfits():
    torch.manual_seed(0)
    model = GPT(tiny_config(ctx=48, d_model=48, n_heads=4, d_mlp=96))
    text = b"@T t : a * 1 = a\n@G a * 1 = a\nrw [mul_one]\n@G a = a\nrfl\nqed\n\n"
    row = torch.tensor(list(text[:49]), dtype=torch.long)
    x, y = row[:-1][None].repeat(2, 1), row[1:][None].repeat(2, 1)  # (2, 48)
    opt = model.configure_optimizer(weight_decay=0.0, lr=3e-3, betas=(0.9, 0.95))
    for _ in range(100):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = GPT(tiny_config(dropout=0.5, attn_dropout=0.5))
    idx = torch.randint(0, 256, (1, 8))
    model.eval()
    a, _ = model(idx)
    b, _ = model(idx)
    assert torch.equal(a, b)
    model.train()
    c, _ = model(idx)
    assert not torch.allclose(a, c)


def test_optimizer_decays_only_matmul_weights():
    model = GPT(tiny_config(norm="layernorm", bias=True))
    opt = model.configure_optimizer(weight_decay=0.1, lr=1e-3, betas=(0.9, 0.95), device_type="cpu")
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() == 2 for p in decay["params"])
    assert id(model.wte.weight) not in decayed and id(model.wpe.weight) not in decayed
    assert all(id(p) not in decayed for n, p in model.named_parameters() if n.endswith("bias") or "ln" in n)
    # every parameter in exactly one group
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)
    assert sorted(names[id(p)] for p in decay["params"]) == sorted(
        n for n, p in model.named_parameters() if n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")))


def test_optimizer_decays_embeddings_on_request_as_nanogpt_does():
    model = GPT(tiny_config())
    decay, no_decay = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), decay_embeddings=True).param_groups
    decayed = {id(p) for p in decay["params"]}
    assert id(model.wte.weight) in decayed and id(model.wpe.weight) in decayed
    assert all(p.dim() == 1 for p in no_decay["params"])  # only norms (and biases) are left undecayed


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="norm"):
        GPTConfig(norm="batchnorm")
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(d_model=32, n_heads=5)
