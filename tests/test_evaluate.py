"""Tests for proofgpt/evaluate.py: prompts, pass@k, completion bookkeeping (with fakes that
return the ground truth), memorization metrics, the loss gap and eval.json.

    .venv/bin/python -m pytest -q tests/test_evaluate.py
"""

import itertools
import json
import math

import pytest
import torch

from proofgpt import evaluate as ev
from proofgpt.errors import UserError
from proofgpt.certificate import prompt_of
from proofgpt.checkpoint import weights_sha256
from proofgpt.evaluate import complete_theorems, distinct_n, jaccard, loss_gap, memorization, pass_at_k, shingles
from proofgpt.model import GPT, GPTConfig
from tests._certs import small_blocks, standalone_texts


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


CERT = "@T t : a * 1 = a\n@C M : monoid\n@C a : M\n@P mul_one : x * 1 = x\n@G a * 1 = a\nrw [mul_one]\n@G a = a\nrfl\nqed"


def certs(n=6):
    """n generated certificates that verify on their own, with at least one rewrite each."""
    return [t for t in standalone_texts() if "\nrw " in t][:n]


def tiny_model(ctx=128):
    torch.manual_seed(0)
    return GPT(GPTConfig(ctx=ctx, d_model=32, n_layers=1, n_heads=2, d_mlp=64, dropout=0.0)).eval()


def fake_generate(answer):
    """A stand-in for sample.generate: answer(prompt, i-th time this prompt was asked) -> completion."""
    def generate(model, prompts, max_new_tokens=None, seed=0, **kw):
        seen = {}
        out = []
        for p in prompts:
            out.append(answer(p, seen.get(p, 0)))
            seen[p] = seen.get(p, 0) + 1
        return out
    return generate


def test_prompt_of_known_answer():
    assert prompt_of(CERT) == "@T t : a * 1 = a\n@C M : monoid\n@C a : M\n@P mul_one : x * 1 = x\n@G a * 1 = a\n"
    with pytest.raises(ValueError):
        prompt_of("@T t : a = a\nrfl\nqed")


def test_pass_at_k_known_answers_and_brute_force():
    assert pass_at_k(8, 0, 1) == 0.0
    assert pass_at_k(4, 1, 1) == 0.25
    assert pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(8, 8, 4) == 1.0
    # the estimator is the probability that a random k-subset of the n samples holds a pass
    for n, c, k in [(5, 2, 2), (6, 1, 3), (7, 3, 2)]:
        subsets = list(itertools.combinations([1] * c + [0] * (n - c), k))
        assert math.isclose(pass_at_k(n, c, k), sum(any(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_ground_truth_completions_verify_100_percent(monkeypatch):
    cs = certs()
    truth = {prompt_of(c): c[len(prompt_of(c)):] for c in cs}
    monkeypatch.setattr("proofgpt.evaluate.generate", fake_generate(lambda p, i: truth[p]))
    res = complete_theorems(tiny_model(ctx=512), cs, k=2)
    assert res["n_theorems"] == len(cs) and res["n_samples"] == 2 * len(cs) == len(res["samples"])
    assert res["verified_pct"] == res["structural_pct"] == res["exact_pct"] == 100.0
    assert res["novel_verified_pct"] == 0.0
    assert res["pass_at_1"] == res["pass_at_k"] == 100.0
    assert res["mean_steps"] == pytest.approx(sum(c.count("\n@G") for c in cs) / len(cs))


def test_ground_truth_of_real_generated_corpus_verifies():
    """Every generated certificate, fed its own completion, verifies (premises from the prompt)."""
    from proofgpt.check import check_certificate
    blocks = small_blocks()
    for b in blocks:
        p = prompt_of(b.text)
        assert check_certificate(p + b.text[len(p):], trust_premises=True).verified, b.text


def test_bookkeeping_mixed_outcomes(monkeypatch):
    cs = certs(4)

    def novel(c):
        # `symm` on a goal whose sides are equal changes nothing: verified, but not the truth
        lines = c.split("\n")
        last_goal = [ln for ln in lines if ln.startswith("@G")][-1]
        return c[len(prompt_of(c)):].replace("\nrfl\nqed", f"\nsymm\n{last_goal}\nrfl\nqed")

    answers = {prompt_of(c): [c[len(prompt_of(c)):], novel(c), "rw [nonsense]\nqed"] for c in cs}
    monkeypatch.setattr("proofgpt.evaluate.generate", fake_generate(lambda p, i: answers[p][i]))
    res = complete_theorems(tiny_model(ctx=512), cs, k=3)
    assert res["n_samples"] == 12
    assert res["exact_pct"] == pytest.approx(100 / 3)
    assert res["novel_verified_pct"] == pytest.approx(100 / 3)
    assert res["verified_pct"] == pytest.approx(200 / 3)
    assert res["pass_at_k"] == 100.0 and res["pass_at_1"] == pytest.approx(200 / 3)
    bad = [s for s in res["samples"] if not s["verified"]]
    assert len(bad) == 4 and all(s["reason"] and s["line"] for s in bad)
    assert [s["sample"] for s in res["samples"][:3]] == [0, 1, 2]
    assert all(s["theorem"] == c.split(" : ")[0][3:] for s, c in zip(res["samples"][::3], cs))


def test_tiny_random_model_counts_are_consistent():
    cs = certs(3)
    res = complete_theorems(tiny_model(ctx=256), cs, k=2, seed=1,
                            sample_kwargs=dict(max_new_tokens=24, temperature=1.0))
    assert res["n_samples"] == 6 == len(res["samples"])
    assert 0 <= res["verified_pct"] <= res["structural_pct"] <= 100
    assert res["exact_pct"] + res["novel_verified_pct"] >= res["verified_pct"] - 1e-9
    assert all(len(s["completion"]) <= 24 for s in res["samples"])  # chars <= bytes
    assert res["verified_pct"] == 0.0  # 24 random bytes do not prove a theorem


def test_prompt_longer_than_ctx_counts_as_failed():
    res = complete_theorems(tiny_model(ctx=32), [CERT], k=1, sample_kwargs=dict(max_new_tokens=4))
    assert res["n_samples"] == 1 and res["samples"][0]["completion"] == "" and res["verified_pct"] == 0.0


def test_memorization_metrics(monkeypatch):
    train = certs(6)
    # half the samples copy a train certificate, half are new text
    outs = [train[0][2:], train[1][2:], " novel_thing : a = a\n@C M : monoid", " other : b = b"]
    monkeypatch.setattr("proofgpt.evaluate.generate", lambda model, prompts, seed=0, **kw: outs[:len(prompts)])
    res = memorization(tiny_model(), train, n_samples=4)
    assert res["duplicate_rate"] == 0.5
    assert [r["nearest_similarity"] == 1.0 for r in res["samples"]] == [True, True, False, False]
    assert res["samples"][0]["nearest"] == train[0]
    assert res["near_dup_rate"] == 0.5
    assert res["unique_rate"] == 1.0
    assert res["verified_pct"] == 50.0 and res["novel_verified_pct"] == 0.0
    assert 0 < res["distinct_1"] <= 1


def test_similarity_helpers_known_answers():
    assert shingles("abcdef", 5) == {"abcde", "bcdef"}
    assert shingles("abc", 5) == {"abc"}
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b", "a b"], 1) == 0.5
    assert distinct_n([""], 2) == 0.0


def test_loss_gap(tmp_path):
    rows = [{"kind": "train", "step": 1, "loss": 3.0},
            {"kind": "eval", "step": 10, "train_loss": 2.0, "val_loss": 2.2},
            {"kind": "eval", "step": 20, "train_loss": 1.0, "val_loss": 1.7},
            {"kind": "eval", "step": 30, "train_loss": 0.5, "val_loss": 1.9}]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{torn", encoding="utf-8")
    g = loss_gap(path)
    assert g["step"] == 20 and g["gap_nats"] == pytest.approx(0.7) and g["below_0_5_nats"] is False
    assert g["last_step"] == 30 and g["last_gap_nats"] == pytest.approx(1.4)
    assert loss_gap(tmp_path / "missing.jsonl") is None


def test_evaluate_run_writes_eval_json(tmp_path, monkeypatch):
    from proofgpt.config import RunConfig

    cs = certs(4)
    (tmp_path / "train.txt").write_text("\n\n".join(cs[2:]) + "\n", encoding="utf-8")
    (tmp_path / "val.txt").write_text("\n\n".join(cs[:2]) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "step": 5, "train_loss": 1.0, "val_loss": 1.2}) + "\n")
    cfg = RunConfig()
    model = tiny_model(ctx=256)
    meta = {"cfg": cfg, "path": "x.pt", "state": {"step": 5}, "data_sha256": "d" * 64}
    monkeypatch.setattr("proofgpt.evaluate.load_model", lambda path, device="cpu": (model, meta))
    monkeypatch.setattr("proofgpt.evaluate.checkpoint_data", lambda meta, run_dir: {"train": tmp_path / "train.txt", "val": tmp_path / "val.txt"})
    res = ev.evaluate_run(run, n_theorems=2, k=2, n_unconditional=2, sample_kwargs=dict(max_new_tokens=16), progress=False)
    saved = json.loads((run / "eval.json").read_text())
    assert saved["completions"]["n_samples"] == 4 and len(saved["samples"]) == 4
    assert saved["memorization"]["n_samples"] == 2
    assert saved["loss_gap"]["gap_nats"] == pytest.approx(0.2)
    assert saved["verified_pct"] == res["verified_pct"] and saved["k"] == 2 and saved["step"] == 5
    assert saved["weights_sha256"] == weights_sha256(model) and saved["data_sha256"] == "d" * 64
    with pytest.raises(UserError, match="ctx 256"):
        ev.evaluate_run(run, sample_kwargs=dict(max_new_tokens=257), progress=False)


@pytest.mark.parametrize("flags", [["--k", "0"], ["--top-p", "0"], ["--temperature", "-0.5"], ["--n-theorems", "0"],
                                   ["--temperature", "1e-40"], ["--temperature", "nan"], ["--seed", str(2**63)]])
def test_cli_rejects_bad_options(tmp_path, flags):
    with pytest.raises(UserError):
        ev.main(["--run", str(tmp_path)] + flags)


def test_cli_missing_run(tmp_path):
    with pytest.raises(UserError, match="no such run"):
        ev.main(["--run", str(tmp_path / "nope")])
