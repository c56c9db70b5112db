"""Tests for proofgpt/evaluate.py: prompts, intervals, pass@k, completion bookkeeping (with fakes
that return the ground truth), the two prompt modes' grading, the baselines on sets built so
they must fail or must succeed, memorization with names stripped, the loss gap and eval.json.

    .venv/bin/python -m pytest -q tests/test_evaluate.py
"""

import itertools
import json
import math

import pytest
import torch

from proofgpt import evaluate as ev
from proofgpt.errors import UserError
from proofgpt.certificate import lemma_table, prompt_of, read_meta
from proofgpt.evaluate import (bootstrap_ci, complete_theorems, grade, loss_gap, memorization, pass_at_k, run_baselines,
                               wilson)
from proofgpt.baseline import shape_index
from proofgpt.checkpoint import weights_sha256
from proofgpt.model import GPT, GPTConfig
from proofgpt.stats import distinct_n, jaccard, shingles
from tests._certs import LEFT_CANCEL, small_blocks, small_corpus, standalone_texts


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


def _run(tmp_path, monkeypatch, train, val, ctx=256):
    """A run directory whose model is a tiny random GPT and whose data are the given certificates."""
    from proofgpt.config import RunConfig

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("\n\n".join(train) + "\n", encoding="utf-8")
    (data / "val.txt").write_text("\n\n".join(val) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "step": 5, "train_loss": 1.0, "val_loss": 1.2}) + "\n")
    cfg = RunConfig()
    cfg.eval.seeds, cfg.eval.baseline_budget_s, cfg.eval.baseline_budget_goals = [0, 1], 0.05, 500
    model = tiny_model(ctx=ctx)
    meta = {"cfg": cfg, "path": "x.pt", "state": {"step": 5}, "data_sha256": "d" * 64}
    monkeypatch.setattr("proofgpt.evaluate.load_model", lambda path, device="cpu": (model, meta))
    monkeypatch.setattr("proofgpt.evaluate.checkpoint_data",
                        lambda meta, run_dir: {"train": data / "train.txt", "val": data / "val.txt"})
    return run, data


def test_evaluate_run_on_val_says_so_and_writes_eval_json(tmp_path, monkeypatch, capsys):
    cs = certs(6)
    run, _ = _run(tmp_path, monkeypatch, cs[2:], cs[:2])
    res = ev.evaluate_run(run, n_theorems=2, k=2, n_unconditional=2, sample_kwargs=dict(max_new_tokens=16))
    saved = json.loads((run / "eval.json").read_text())
    note = [line for line in capsys.readouterr().out.splitlines() if "no test set" in line]
    assert len(note) == 1 and "val" in note[0] and saved["heldout_note"] and "\n" not in saved["heldout_note"]
    assert saved["heldout"] == "val" and list(saved["sets"]) == ["val"] and saved["seeds"] == [0, 1]
    for mode in ("premises", "theorem"):
        r = saved["sets"]["val"]["modes"][mode]
        assert set(r["methods"]) == {"model", "search", "blind", "blind_equal_time", "retrieval", "constant"}
        se = r["methods"]["search"]  # one search per theorem at sampling's tokens: k x max_new_tokens
        assert se["n"] == 2 and se["ci95"][0] <= se["pct"] <= se["ci95"][1] and se["budget_tokens"] == 2 * 16
        assert sum(row["n"] for row in r["by_length"]["search"].values()) == 2
        curve = r["budget_curve"]  # RunConfig's budgets 1/4, 1/2, 1, 2 x sampling's, k 2 -> k_B 1, 1, 2, 4
        assert set(curve) == {"search", "sampling_pass_at_k", "blind_equal_time"}
        for points in curve.values():
            assert [p["budget_tokens"] for p in points] == [16, 16, 32, 64] and [p["k"] for p in points] == [1, 1, 2, 4]
            assert all(p["ci95"][0] <= p["pct"] <= p["ci95"][1] for p in points)
        for name in ("search", "blind_equal_time"):
            assert [p["pct"] for p in curve[name]] == sorted(p["pct"] for p in curve[name])
        m = r["methods"]["model"]
        assert m["n"] == 2 * 2 * 2 and m["samples_per_theorem"] == 4  # theorems x k x seeds
        assert m["ci95"][0] <= m["pct"] <= m["ci95"][1] and set(m["per_seed_verified_pct"]) == {"0", "1"}
        assert all(r["methods"][b]["n"] == 2 for b in ("blind", "retrieval", "constant"))
        assert set(r["by_length"]) == set(r["methods"]) and set(r["by_family"]["model"]) == {"?"}  # no sidecar
        assert "rfl" in r["structural_means"]
    assert len(saved["samples"]) == 2 * 2 * 2 * 2  # both modes
    assert saved["memorization"]["n_samples"] == 2 and saved["memorization"]["reference"]["n"] == 2
    assert saved["loss_gap"]["gap_nats"] == pytest.approx(0.2)
    assert saved["verified_pct"] == res["verified_pct"] and saved["k"] == 2 and saved["step"] == 5
    assert saved["headline"]["set"] == "val" and saved["headline"]["premises"]["best_baseline"] in ("blind", "blind_equal_time",
                                                                                                   "retrieval", "constant")
    model = ev.load_model(run)[0]  # the tiny GPT _run put in place
    assert saved["weights_sha256"] == weights_sha256(model) and saved["data_sha256"] == "d" * 64
    with pytest.raises(UserError, match="ctx 256"):
        ev.evaluate_run(run, sample_kwargs=dict(max_new_tokens=257), progress=False)


@pytest.mark.parametrize("mode", ["premises", "theorem"])
def test_search_graded_like_the_model_and_its_curve_reads_anytime(mode):
    """A scripted model that knows a three-step proof (tests/test_search.py): the search's
    certificate is graded as the mode grades, solved only from the budget that covers the tokens
    it spent; sampling's pass@k_B and blind search give one point per budget."""
    from tests._certs import THREE_STEPS
    from tests.test_search import PROOF, ScriptModel, script_of

    model = ScriptModel(script_of(PROOF))
    cert = THREE_STEPS + "\n" + "".join(f"{t}\n@G {g}\n" for t, g in PROOF) + "rfl\nqed"
    budgets = [40, 100, 1000]
    [s] = ev.search_theorems(model, [cert], mode, lemma_table([]), budgets, e=2, max_expansions=32,
                             sample_kwargs=dict(temperature=1.0, top_k=None, top_p=1.0))
    assert s["grade"]["verified"] and s["expansions"] == 3 and 40 < s["found_tokens"] <= 1000
    assert s["seconds"] == sorted(s["seconds"])
    curve = ev.budget_curve([cert], mode, [s], [0.5, 1, 2], [1, 2, 4], budgets, (4, [1]))
    assert [p["pct"] for p in curve["search"]] == [0.0, 100.0 * (s["found_tokens"] <= 100), 100.0]
    assert [p["pct"] for p in curve["sampling_pass_at_k"]] == [25.0, 50.0, 100.0]  # 1 of 4 samples verified
    assert [len(points) for points in curve.values()] == [3, 3, 3]
    blind = [p["pct"] for p in curve["blind_equal_time"]]
    assert blind == sorted(blind)


def _split_with_meta():
    """A generated corpus (certificates that verify alone) split into train and a test set, with the
    test set's meta rows as `make data` writes them (steps, family, structure, shortest)."""
    text, meta = small_corpus()
    rows = {b.text: m for b, m in zip(small_blocks(), meta)}
    cs = [c for c in standalone_texts() if c in rows]
    test, train = cs[:10], cs[10:]
    return train, test, [{k: rows[c][k] for k in ("steps", "family", "structure")} | {"shortest": 1 if i % 2 else None}
                         for i, c in enumerate(test)]


def test_evaluate_run_uses_the_test_sets_beside_train(tmp_path, monkeypatch):
    train, test, meta = _split_with_meta()
    run, data = _run(tmp_path, monkeypatch, train, train[:3])
    for name in ("test", "test-long"):
        (data / f"{name}.txt").write_text("\n\n".join(test) + "\n", encoding="utf-8")
        (data / f"{name}.meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta), encoding="utf-8")
    res = ev.evaluate_run(run, n_theorems=4, k=1, n_unconditional=0, seeds=[0], sample_kwargs=dict(max_new_tokens=8),
                          progress=False)
    assert res["heldout_note"] is None and list(res["sets"]) == ["test", "test-long"] and res["heldout"] == "test"
    st = res["sets"]["test"]
    assert st["n_theorems"] == 4 and st["n_available"] == 10
    r = st["modes"]["premises"]
    families = {m["family"] for m in read_meta(data / "test.txt")}
    assert set(r["by_family"]["blind"]) <= families and "?" not in r["by_family"]["blind"]
    assert set(r["by_shortest"]["blind"]) <= {"1", "not found"}
    assert sum(row["n"] for row in r["by_length"]["constant"].values()) == 4


def test_theorems_file_of_the_user(tmp_path, monkeypatch, capsys):
    """`--theorems FILE`: a user's certificate file (no sidecar) is the one set evaluated."""
    train, test, _ = _split_with_meta()
    run, _ = _run(tmp_path, monkeypatch, train, train[:3])
    mine = tmp_path / "my theorems.txt"
    mine.write_text("\n\n".join(test[:3] + [LEFT_CANCEL]) + "\n", encoding="utf-8")
    assert ev.main(["--run", str(run), "--theorems", str(mine), "--k", "1", "--seeds", "0", "--n-unconditional", "0",
                    "--max-tokens", "8"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "eval.json").read_text())
    assert list(saved["sets"]) == ["my theorems"] and saved["sets"]["my theorems"]["n_theorems"] == 4
    assert saved["heldout_note"] is None and "my theorems (4 of 4 theorems), premises mode" in out
    assert "blind_equal_time" in out and "retrieval" in out and "constant" in out
    with pytest.raises(UserError, match="no such file"):
        ev.main(["--run", str(run), "--theorems", str(tmp_path / "missing.txt")])
    with pytest.raises(UserError, match="--seeds"):
        ev.main(["--run", str(run), "--seeds", "a,b"])


# --------------------------------------------------------------------------------------------
# intervals


@pytest.mark.parametrize("c, n, lo, hi", [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
                                          (1, 10, 0.0179, 0.4042)])
def test_wilson_known_values(c, n, lo, hi):
    """Wilson score intervals at 95 % (z = 1.96), as tabulated by Newcombe 1998, Stat. Med. 17:857, method 3."""
    got = wilson(c, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_no_data_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)


def test_bootstrap_ci():
    assert bootstrap_ci([0.5] * 20) == (0.5, 0.5)
    # 400 coin flips, half heads: the normal approximation's interval 0.5 ± 1.96 * sqrt(0.25 / 400) = 0.451..0.549
    lo, hi = bootstrap_ci([0, 1] * 200)
    assert lo == pytest.approx(0.451, abs=0.01) and hi == pytest.approx(0.549, abs=0.01)
    wide, narrow = bootstrap_ci([0, 1] * 5), bootstrap_ci([0, 1] * 200)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert bootstrap_ci([0, 1] * 10, seed=3) == bootstrap_ci([0, 1] * 10, seed=3)


# --------------------------------------------------------------------------------------------
# grading: the theorem mode's strict premises, valid steps


THEOREM = "@T t : a * 1 = a\n@C M : monoid\n@C a : M\n"


@pytest.mark.parametrize("premise, ok", [
    ("@P mul_one : x * 1 = x", True),  # an axiom of the structure
    ("@P mul_one : y * 1 = y", True),  # the same axiom, renamed
    ("@P my_magic : x * 1 = x", False),  # invented
    ("@P one_mul : x * 1 = x", False),  # an axiom's name with another axiom's statement
    ("@P lemma : x * 1 = x", True),  # a train theorem with that statement (the lemma table)
])
def test_theorem_mode_premises_must_be_axioms_or_lemmas(premise, ok):
    name = premise.split()[1]
    text = THEOREM + f"{premise}\n@G a * 1 = a\nrw [{name}]\n@G a = a\nrfl\nqed"
    lemmas = lemma_table(["@T lemma : b * 1 = b\n@C M : monoid\n@C b : M\n@P mul_one : x * 1 = x\n@G b * 1 = b\n"
                          "rw [mul_one]\n@G b = b\nrfl\nqed"])
    g = grade(text, "theorem", lemmas)
    assert g["verified"] is ok and g["valid_steps"] == (2 if ok else 0)
    assert grade(text, "premises")["verified"]  # the premises mode takes the prompt's premises as given


def test_theorem_mode_accepts_a_catalog_fact():
    text = ("@T t : a * b * (c * d) = a * (b * c) * d\n@C M : monoid\n@C a b c d : M\n"
            "@P mul_assoc4 : x * y * (z * w) = x * (y * z) * w\n@G a * b * (c * d) = a * (b * c) * d\n"
            "rw [mul_assoc4]\n@G a * (b * c) * d = a * (b * c) * d\nrfl\nqed")
    assert grade(text, "theorem", {})["verified"]


def test_valid_steps_count_up_to_the_first_error():
    bad_second = (THEOREM + "@P mul_one : x * 1 = x\n@P one_mul : 1 * x = x\n@G a * 1 = a\nrw [mul_one]\n@G a = a\n"
                  "rw [← one_mul]\n@G 1 * a = 1\nrfl\nqed")
    assert grade(bad_second, "premises")["valid_steps"] == 1
    garbled = bad_second.replace("@G 1 * a = 1\nrfl\nqed", "@G 1 * a = a\nrw [one_mul\n@G a = a\nrfl\nqed")
    assert grade(garbled, "premises")["valid_steps"] == 2  # a syntax error after two good steps
    assert grade(CERT, "premises")["valid_steps"] == 2  # verified: every step, rfl included
    assert grade(THEOREM + "@G a * 1 = a\nrfl\nqed", "theorem")["valid_steps"] == 0


def test_theorem_mode_prompts_are_the_header_and_completions_graded_strictly(monkeypatch):
    """The model sees @T and @C lines only; writing the ground truth's premises and proof verifies."""
    cs = certs(4)
    monkeypatch.setattr("proofgpt.evaluate.generate",
                        fake_generate(lambda p, i: next(c[len(p):] for c in cs if c.startswith(p))))
    res = complete_theorems(tiny_model(ctx=512), cs, k=1, mode="theorem", lemmas={})
    assert all("@P" not in s["prompt"] and "@G" not in s["prompt"] for s in res["samples"])
    assert res["verified_pct"] == 100.0
    monkeypatch.setattr("proofgpt.evaluate.generate",
                        fake_generate(lambda p, i: "@P my_magic : x = y\n" + next(c[len(p):] for c in cs if c.startswith(p))))
    assert complete_theorems(tiny_model(ctx=512), cs, k=1, mode="theorem", lemmas={})["verified_pct"] == 0.0


# --------------------------------------------------------------------------------------------
# baselines that must fail and must succeed


def _verified(certs_, method, mode, train=()):
    graded = run_baselines(certs_, mode, shape_index(train), lemma_table(train), 0.05, 500, 0.05)
    return [g["verified"] for g in graded[method]]


EQUAL_SIDES = [  # theorems whose two sides are already equal
    "@T t : a * b = a * b\n@C M : monoid\n@C a b : M\n@P mul_one : x * 1 = x\n@G a * b = a * b\nrfl\nqed",
    "@T t : a ⊔ aᶜ = a ⊔ aᶜ\n@C B : boolean_algebra\n@C a : B\n@G a ⊔ aᶜ = a ⊔ aᶜ\nrfl\nqed",
    "@T t : a * b = c → c = c\n@C G : group\n@C a b c : G\n@P h1 : a * b = c\n@G c = c\nrfl\nqed",
]


@pytest.mark.parametrize("mode", ["premises", "theorem"])
def test_constant_baseline_proves_equal_sides_only(mode):
    assert all(_verified(EQUAL_SIDES, "constant", mode))
    assert not any(_verified(certs(8), "constant", mode))  # every generated theorem needs a rewrite


def test_blind_search_must_fail_without_premises_and_succeed_on_one_step():
    one_step = [c for c in standalone_texts() if c.count("\n@G") == 2][:5]
    assert len(one_step) == 5 and all(_verified(one_step, "blind", "premises"))
    no_premises = ["\n".join(ln for ln in c.split("\n") if not ln.startswith("@P")) for c in certs(6)]
    assert not any(_verified(no_premises, "blind", "premises"))
    assert not any(_verified(no_premises, "blind_equal_time", "premises"))


def _renamed(cert):
    """The certificate with its constants a b c d renamed p q r s (a new theorem, the same skeleton)."""
    import re
    return re.sub(r"(?<![A-Za-z_])([abcd])(?![a-z0-9_])", lambda m: "pqrs"["abcd".index(m.group(1))], cert)


@pytest.mark.parametrize("mode", ["premises", "theorem"])
def test_retrieval_replays_a_train_identical_skeleton(mode):
    train = list(standalone_texts())[:60]
    assert all(_verified([_renamed(c) for c in train], "retrieval", mode, train))


def test_retrieval_fails_when_train_holds_other_structures_only():
    lattices = [c for c in standalone_texts() if "lattice" in c.split("\n")[1]]
    rings = [c for c in standalone_texts() if c.split("\n")[1].endswith("ring")][:8]
    assert lattices and len(rings) == 8
    assert not any(_verified(rings, "retrieval", "premises", lattices))


# --------------------------------------------------------------------------------------------
# memorization with names stripped


def test_memorization_flags_a_train_certificate_under_a_new_name(monkeypatch):
    train = certs(6)
    renamed = train[2].replace(train[2].split(" : ")[0], "@T walk_123", 1)
    assert renamed != train[2]
    monkeypatch.setattr("proofgpt.evaluate.generate", lambda model, prompts, seed=0, **kw: [renamed[2:]] * len(prompts))
    res = memorization(tiny_model(), train, reference_texts=certs(8)[6:], n_samples=2)
    assert res["duplicate_rate"] == 1.0 and res["samples"][0]["in_train"] and res["samples"][0]["nearest_similarity"] == 1.0
    assert res["reference"]["n"] == 2 and res["reference"]["duplicate_rate"] == 0.0  # held-out certificates are new
    assert res["sample_kwargs"]["max_new_tokens"] == tiny_model().config.ctx - 2  # run to qed, not a byte budget


@pytest.mark.parametrize("flags", [["--k", "0"], ["--top-p", "0"], ["--temperature", "-0.5"], ["--n-theorems", "0"]])
def test_cli_rejects_bad_options(tmp_path, flags):
    with pytest.raises(UserError):
        ev.main(["--run", str(tmp_path)] + flags)


def test_cli_missing_run(tmp_path):
    with pytest.raises(UserError, match="no such run"):
        ev.main(["--run", str(tmp_path / "nope")])
