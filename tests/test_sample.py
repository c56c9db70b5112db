"""Tests for proofgpt/sample.py: top-k / top-p / temperature on hand-made distributions,
seeded reproducibility, KV-cache generation == naive greedy, stopping, and the CLI's checks.

    .venv/bin/python -m pytest -q tests/test_sample.py
"""

import math

import pytest
import torch

from proofgpt.errors import UserError
from proofgpt.model import GPT, GPTConfig
from proofgpt.pack import decode, encode
from proofgpt.sample import _stopped, generate, main, sample_next


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def logits_of(probs):
    return torch.log(torch.tensor([probs], dtype=torch.float32))  # (1, V)


def support(logits, n=400, **kw):
    """The set of token ids drawn in n seeded draws."""
    g = torch.Generator().manual_seed(0)
    return set(sample_next(logits.repeat(n, 1), generator=g, **kw).tolist())


P = [0.5, 0.3, 0.15, 0.05]


def test_temperature_zero_is_argmax():
    logits = torch.randn(5, 256)
    assert torch.equal(sample_next(logits, temperature=0), logits.argmax(-1))


def test_top_k_keeps_exactly_k():
    assert support(logits_of(P), top_k=1) == {0}
    assert support(logits_of(P), top_k=2) == {0, 1}
    assert support(logits_of(P), top_k=3) == {0, 1, 2}
    # ties: still exactly k tokens
    assert len(support(torch.zeros(1, 10), top_k=3)) == 3


@pytest.mark.parametrize("top_p,kept", [(0.7, {0, 1}), (0.5, {0}), (0.51, {0, 1}), (0.81, {0, 1, 2}),
                                        (1e-6, {0}), (1.0, {0, 1, 2, 3})])
def test_top_p_keeps_the_nucleus(top_p, kept):
    # worked by hand: cumulative mass before each token is 0, 0.5, 0.8, 0.95; a token is kept
    # while the better ones hold less than top_p
    assert support(logits_of(P), n=2000, top_p=top_p) == kept


def test_frequencies_match_renormalised_distribution():
    n = 20000
    g = torch.Generator().manual_seed(1)
    draws = sample_next(logits_of(P).repeat(n, 1), temperature=1.0, top_p=0.9, generator=g)
    counts = torch.bincount(draws, minlength=4).double() / n
    expected = torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95  # nucleus {0, 1, 2}
    assert torch.allclose(counts, expected.double(), atol=0.015), counts


def test_temperature_sharpens_and_flattens():
    n = 20000
    g = torch.Generator().manual_seed(2)
    draws = sample_next(logits_of(P).repeat(n, 1), temperature=2.0, generator=g)
    freq = torch.bincount(draws, minlength=4).double() / n
    expected = torch.tensor(P).double() ** 0.5
    expected /= expected.sum()
    assert torch.allclose(freq, expected, atol=0.015), freq


def test_seeded_and_independent_of_global_rng():
    logits = torch.randn(8, 256)
    a = sample_next(logits, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(123)
    torch.rand(10)
    b = sample_next(logits, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_stop_rule():
    assert _stopped(list(b"\nqed\n"), True)
    assert _stopped(list(b"rfl\n\n"), True)
    assert not _stopped(list(b"\nqed"), True)
    assert not _stopped(list(b"\nqedx\n"), True)
    assert not _stopped(list(b"rfl\n\n"), False)


@pytest.mark.parametrize("s", ["", "@T", "a⁻¹ * a = 1 → ∀", "qed\n"])
def test_encode_decode_round_trip(s):
    assert decode(encode(s)) == s


# --- generation ---------------------------------------------------------------------------

def tiny_model(pos="learned", seed=0, ctx=64):
    torch.manual_seed(seed)
    cfg = GPTConfig(ctx=ctx, d_model=32, n_layers=2, n_heads=4, d_mlp=64, dropout=0.0, pos=pos)
    return GPT(cfg).eval()


@torch.no_grad()
def naive_greedy(model, prompt, n):
    ids = encode(prompt).tolist()
    for _ in range(n):
        logits, _ = model(torch.tensor([ids]))
        ids.append(int(logits[0, -1].argmax()))
    return decode(ids[len(encode(prompt)):])


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_greedy_with_cache_equals_naive_recompute(pos):
    model = tiny_model(pos)
    prompts = ["@T x", "@G a * b", "@T y", "@T x"]  # two lengths, a repeated prompt
    got = generate(model, prompts, 20, temperature=0, stop_at_qed=False)
    want = [naive_greedy(model, p, 20) for p in prompts]
    assert got == want
    assert got[0] == got[3]
    assert generate(model, prompts, 20, temperature=0, stop_at_qed=False, batch_size=1) == want


def test_rows_of_many_lengths_stop_at_their_own_ctx_limit():
    # rows finish at different steps (ctx - prompt length): finished rows ride along in the
    # batch or are dropped, and every row still equals its naive greedy recompute
    model = tiny_model(ctx=24)
    prompts = ["@" * n for n in range(2, 14)]
    got = generate(model, prompts, 100, temperature=0, stop_at_qed=False, batch_size=8)
    assert got == [naive_greedy(model, p, 24 - len(p)) for p in prompts]


class ScriptModel(torch.nn.Module):
    """A fake model that always predicts the next byte of a fixed script (after the prompt)."""

    def __init__(self, script: bytes, ctx=64):
        super().__init__()
        self.script = script
        self.config = GPTConfig(ctx=ctx, d_model=8, n_layers=1, n_heads=1, d_mlp=8)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, idx, targets=None, label_smoothing=0.0, cache=None):
        B, T = idx.shape
        pos0 = cache.pos if cache is not None else 0
        logits = torch.full((B, T, 256), -1e9)
        for t in range(T):
            n_done = pos0 + t + 1 - 2  # prompts in these tests are 2 bytes long
            nxt = self.script[n_done] if 0 <= n_done < len(self.script) else ord("x")
            logits[:, t, nxt] = 0.0
        if cache is not None:
            cache.pos += T
        return logits, None


def test_stops_at_qed_line_and_blank_line():
    model = ScriptModel(b"rfl\nqed\nmore text")
    assert generate(model, ["@G"], 30, temperature=0) == ["rfl\nqed"]
    assert generate(model, ["@G"], 30, temperature=0, stop_at_qed=False) == ["rfl\nqed\nmore text" + "x" * 13]
    model = ScriptModel(b"rfl\n\nmore")
    assert generate(model, ["@G"], 30, temperature=1.0, top_p=0.9) == ["rfl"]
    # max_new_tokens wins
    assert generate(model, ["@G"], 2, temperature=0) == ["rf"]
    assert generate(model, ["@G"], 0, temperature=0) == [""]


def test_generation_never_exceeds_ctx():
    model = tiny_model(ctx=16)
    out = generate(model, ["@T abc"], 100, temperature=1.0, top_p=1.0, stop_at_qed=False)
    assert len(out[0]) <= 16 - len("@T abc")  # characters <= bytes (invalid bytes decode to one U+FFFD each)
    script = ScriptModel(b"abcdefghijklmnopqrstuvwxyz", ctx=16)
    assert generate(script, ["@G"], 100, temperature=0) == ["abcdefghijklmn"]  # 2 + 14 = ctx
    with pytest.raises(ValueError, match="ctx"):
        generate(model, ["x" * 16], 1)


def test_generate_is_seeded_and_batch_rows_differ():
    model = tiny_model()
    a = generate(model, ["@T"] * 4, 12, temperature=1.0, top_p=None, seed=7, stop_at_qed=False)
    b = generate(model, ["@T"] * 4, 12, temperature=1.0, top_p=None, seed=7, stop_at_qed=False)
    c = generate(model, ["@T"] * 4, 12, temperature=1.0, top_p=None, seed=8, stop_at_qed=False)
    assert a == b and a != c
    assert len(set(a)) > 1  # rows draw independently from one generator
    assert model.training is False


# --- CLI ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flags,msg", [
    (["--top-p", "0"], "top-p"), (["--top-p", "1.5"], "top-p"), (["--temperature", "-1"], "temperature"),
    (["--top-k", "0"], "top-k"), (["--max-tokens", "0"], "max-tokens"),
])
def test_cli_rejects_bad_sampling_options(tmp_path, flags, msg):
    with pytest.raises(UserError, match=msg):
        main(["--ckpt", str(tmp_path / "x.pt")] + flags)


def test_cli_missing_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no such"):
        main(["--ckpt", str(tmp_path / "missing.pt")])


def test_cli_samples_from_a_checkpoint(tmp_path, monkeypatch, capsys):
    from proofgpt.config import RunConfig

    model = tiny_model(ctx=64)
    monkeypatch.setattr("proofgpt.sample.load_model", lambda path, device="cpu": (model, {"cfg": RunConfig()}))
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes(b"")
    with pytest.raises(UserError, match="ctx"):
        main(["--ckpt", str(ckpt), "--max-tokens", "100"])
    assert main(["--ckpt", str(ckpt), "--prompt", "@T a", "--max-tokens", "10", "--num-samples", "2",
                 "--temperature", "0"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert out.count("@T a") == 2
    assert math.isclose(len(out.split("\n\n")), 2)
    # each whole-certificate sample gets the checker's verdict on stderr; an untrained model's is a rejection
    verdicts = [line for line in captured.err.splitlines() if line.startswith("# checker: ")]
    assert len(verdicts) == 2 and all("rejected at line" in v for v in verdicts)
