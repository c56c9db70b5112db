"""Evaluate a trained run on held-out theorems beside baselines -> runs/<name>/eval.json.

Theorems: `eval.n_theorems` certificates drawn at random (seeded) from each held-out set beside
the run's train.txt: test.txt, test-long.txt, test-facts.txt (`make data` writes them), or
from `--theorems FILE`. Without a test set, val is used and the result says so: val also chose
the checkpoint and drives the validity monitor, so its numbers flatter the model.

Two prompt modes, both graded by the checker (check.check_certificate):
- `premises`: the certificate up to and including its first `@G` (theorem, structure,
  constants, premises, goal); the model writes the proof. Graded with trust_premises=True:
  the premises are the ground truth's and a completion cannot add any (an `@P` after `@G` is a
  structural error).
- `theorem`: the `@T` and `@C` lines only; the model writes the `@P` lines, the first goal and
  the proof. Graded strictly: every premise must be an axiom of the structure, a catalog fact,
  a train theorem with that statement (the lemma table of train.txt) or hypothesis hi of `@T`.

Per method and mode: verified % with a 95 % Wilson interval (successes over attempts: samples
for the model, theorems for a baseline), pass@1 and pass@k of the model (Chen et al. 2021's
unbiased estimator over the samples of all `eval.seeds`) with 95 % bootstrap intervals over
theorems, broken down by proof length, shortest blind-search proof and family; "valid steps"
counts the steps that verify before a sample's first error. Structural % is kept but measures
only the form (lines parse, markers in order, ends in rfl, qed): the constant proof `rfl` has it.

Model-guided search (search.prove: best-first over checked steps, `eval.search_e` proposals per
expansion, at most `eval.search_expansions` expansions) at sampling's token budget per theorem,
k x max_new_tokens, so the two compare at equal generated tokens; one search per theorem (the
first seed).

Baselines on the same theorems, graded the same way (baseline.py): blind search at its budget
(`eval.baseline_budget_s`) and at the model's sampling wall time per theorem; retrieval (the
nearest train certificate's skeleton replayed); the constant proof `rfl`, `qed`.

Budget curve (`eval.search_budgets`, multiples of the sampling budget; k_B = that multiple of
k, at least 1, and B = k_B x max_new_tokens tokens): per budget, verified % of the search,
sampling's pass@k_B (the unbiased estimator; extra samples are drawn when the seeds hold fewer
than the largest k_B) and blind search at the search's wall time. Read anytime: one search per
theorem at the largest budget, solved at B when it found its proof having generated <= B
tokens, its time at B the time it had spent when its tokens passed B; one blind search per
theorem at the largest such time, solved at B when it finished within the search's time at B.
So every curve is non-decreasing in B by construction. (A search given only B tokens would also
cut its last expansion's samples to the tokens left; the reading here does not.)

Memorization: unconditional samples ("@T", run to `qed` within the context) against train,
every text with its theorem name blanked first (certificate.strip_name): verbatim-in-train
rate, nearest-train similarity (character 5-gram Jaccard), distinct-n, and the same figures for
real held-out certificates as the reference scale. Trade-off: exact Jaccard against every train
certificate instead of MinHash or an index: exact and simple at tens of samples.

    python -m proofgpt evaluate --run runs/cpu [--theorems FILE] [--seeds 0,1,2] [--k 4]
"""

import argparse
import math
import random
import time
from pathlib import Path

import numpy as np

from proofgpt import paths
from proofgpt.baseline import (axiom_prompt, constant_completion, length_bucket, proof_lines,
                               prove, retrieve, shape_index)
from proofgpt.certificate import (lemma_table, name_of, proof_of, prompt_of, read_meta, read_texts, strip_name,
                                  text_of, theorem_prompt_of)
from proofgpt.check import check_certificate
from proofgpt.checkpoint import load_model, weights_sha256
from proofgpt.config import NO_CERTIFICATES, EvalConfig, SampleConfig, check_seed, check_temperature
from proofgpt.data import checkpoint_data
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, read_json, read_jsonl, run_locked, saved_data_format
from proofgpt.sample import UNCONDITIONAL_PROMPT, generate
from proofgpt.search import prove as search_prove
from proofgpt.stats import distinct_n, nearest, shingles

MODES = ("premises", "theorem")
HELDOUT = ("test", "test-long", "test-facts")  # <name>.txt beside train.txt, from `make data`
METHODS = ("model", "search", "blind", "blind_equal_time", "retrieval", "constant")
BASELINES = METHODS[2:]  # methods that learn nothing
STRUCTURAL_MEANS = "structural: lines parse, markers in order, ends in rfl, qed (the constant proof has it); not a proof"


def _pct(num, den) -> float:
    return 100.0 * num / den if den else 0.0


# --------------------------------------------------------------------------------------------
# uncertainty


def wilson(c: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion c/n (Wilson 1927), as fractions.

    wilson(0, 10) = (0.0, 0.2775); wilson(5, 10) = (0.2366, 0.7634); wilson(10, 10) = (0.7225, 1.0);
    n = 0 -> (0.0, 1.0).
    """
    if n == 0:
        return 0.0, 1.0
    p = c / n
    den = 1 + z * z / n
    center = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, center - half), min(1.0, center + half)


def bootstrap_ci(values, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean of values (resampled with replacement).

    All values equal -> (v, v); no values -> (nan, nan).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    means = v[np.random.default_rng(seed).integers(0, v.size, (n_boot, v.size))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed (Chen et al. 2021).

    pass_at_k(8, 0, 1) = 0.0; pass_at_k(8, 8, 4) = 1.0; pass_at_k(4, 1, 1) = 0.25;
    pass_at_k(4, 1, 4) = 1.0 (with n == k it is "any of k passed").
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


# --------------------------------------------------------------------------------------------
# grading


def prompt_for(cert: str, mode: str) -> str:
    """The prompt of a mode: premises -> up to the first @G; theorem -> the @T and @C lines."""
    return prompt_of(cert) if mode == "premises" else theorem_prompt_of(cert)


def grade(text: str, mode: str, lemmas=None) -> dict:
    """Check a whole certificate as the mode grades it -> {"structural", "verified", "valid_steps",
    "steps", "line", "reason"}; valid_steps: steps that verify before the first error."""
    kw = dict(trust_premises=True) if mode == "premises" else dict(lemmas=lemmas)
    v = check_certificate(text, **kw)
    return {"structural": v.structural, "verified": v.verified, "valid_steps": valid_steps(text, v, **kw),
            "steps": v.steps, "line": v.line, "reason": v.reason}


def valid_steps(text: str, verdict, **check_kw) -> int:
    """Tactic steps that verify before the certificate's first error: all of them (rfl included)
    when it verifies; else those of the longest prefix ending in a goal that, closed with rfl,
    fails only at that rfl. A premise or header error -> 0.

    '... @G a * 1 = a / rw [mul_one] / @G a = a / rw [bogus] / ...' -> 1.
    """
    if verdict.verified:
        return verdict.steps
    lines = text.split("\n")
    end = verdict.line - 1 if verdict.line else len(lines)  # index of the failing line
    while True:
        goals = [i for i in range(min(end, len(lines))) if lines[i].strip().startswith("@G")]
        if not goals:
            return 0
        cut = lines[:goals[-1] + 1]
        v = check_certificate("\n".join(cut + ["rfl", "qed"]), **check_kw)
        if v.verified or v.line - 1 > goals[-1]:  # only the appended rfl failed: the prefix holds
            return sum(1 for s in cut[goals[0]:] if s.strip() and not s.strip().startswith("@"))
        end = v.line - 1


def complete_theorems(model, certs, k=1, sample_kwargs=None, seed=0, mode="premises", lemmas=None):
    """Complete each certificate's theorem k times (prompt of `mode`) and grade the completions.

    certs: certificate texts (or data.Block). sample_kwargs: generate()'s temperature, top_k,
    top_p, max_new_tokens, stop_at_qed. lemmas: the train lemma table (theorem mode). Returns
    percentages over all n_theorems * k samples (structural_pct, verified_pct, exact_pct:
    completion == ground truth, novel_verified_pct: verified but != ground truth), mean_steps of
    the verified samples, mean_valid_steps, pass_at_1 and pass_at_k over theorems (in %),
    n_verified per theorem, sampling_s, and one record per sample in "samples".
    """
    kw = _sample_kwargs(sample_kwargs)
    texts = [text_of(c).strip("\n") for c in certs]
    prompts = [prompt_for(t, mode) for t in texts]
    truths = [t[len(p):] for t, p in zip(texts, prompts)]  # "rw [...]\n@G ...\n...\nqed"
    # one generate call for everything: equal prompts share a prefill, equal lengths a batch;
    # a prompt that fills the context cannot be completed and counts as a failed sample
    fits = [len(p.encode("utf-8")) < model.config.ctx for p in prompts]
    t0 = time.perf_counter()
    gen = generate(model, [p for p, ok in zip(prompts, fits) if ok for _ in range(k)], seed=seed, **kw)
    sampling_s = time.perf_counter() - t0
    gen = iter(gen)
    outs = [next(gen) if ok else "" for ok in fits for _ in range(k)]

    samples, n_verified_per_theorem = [], []
    for i, (prompt, truth) in enumerate(zip(prompts, truths)):
        n_ok = 0
        for j in range(k):
            completion = outs[i * k + j]
            g = grade(prompt + completion, mode, lemmas)
            n_ok += g["verified"]
            samples.append({"theorem": name_of(prompt) or prompt.partition("\n")[0], "sample": j, "seed": seed, "mode": mode,
                            "prompt": prompt, "completion": completion, "truth": truth,
                            "exact": completion.strip("\n") == truth.strip("\n"), **g})
        n_verified_per_theorem.append(n_ok)

    n = len(samples)
    verified = [s for s in samples if s["verified"]]
    n_thm = len(prompts)
    return {
        "n_theorems": n_thm, "k": k, "n_samples": n, "mode": mode, "sample_kwargs": kw, "seed": seed,
        "structural_pct": _pct(sum(s["structural"] for s in samples), n),
        "verified_pct": _pct(len(verified), n),
        "exact_pct": _pct(sum(s["exact"] for s in samples), n),
        "novel_verified_pct": _pct(sum(not s["exact"] for s in verified), n),
        "mean_steps": sum(s["steps"] for s in verified) / len(verified) if verified else None,
        "mean_valid_steps": sum(s["valid_steps"] for s in samples) / n if n else None,
        "truth_mean_steps": (sum(t.count("\n@G") + 1 for t in truths) / n_thm) if n_thm else None,
        "pass_at_1": _pct(sum(pass_at_k(k, c, 1) for c in n_verified_per_theorem), n_thm),
        "pass_at_k": _pct(sum(pass_at_k(k, c, k) for c in n_verified_per_theorem), n_thm),
        "n_verified": n_verified_per_theorem,
        "sampling_s": sampling_s,
        "samples": samples,
    }


def _sample_kwargs(given=None) -> dict:
    """generate()'s keyword arguments: SampleConfig's defaults, updated with what was given."""
    return SampleConfig().generate_kwargs() | (given or {})


# --------------------------------------------------------------------------------------------
# the baselines, graded like the model


def run_baselines(certs, mode, index, lemmas, budget_s, budget_goals, equal_time_s) -> dict:
    """{method: [grade dict per theorem]} for blind search (its budget, and equal_time_s with no
    goal budget), retrieval and the constant proof, each graded as `mode` grades."""
    out = {m: [] for m in BASELINES}
    for cert in certs:
        prompt = prompt_for(cert, mode)
        for method, (b_s, b_goals) in (("blind", (budget_s, budget_goals)),
                                       ("blind_equal_time", (equal_time_s, 10**12))):
            r = blind_search(cert, mode, b_s, b_goals)
            out[method].append(grade(r.certificate, mode, lemmas) if r and r.found else _failed("not found"))
        found = retrieve(cert, index, theorem_mode=mode == "theorem")
        out["retrieval"].append(grade(found, mode, lemmas) if found else _failed("nothing retrieved"))
        out["constant"].append(grade(prompt + constant_completion(prompt), mode, lemmas))
    return out


def blind_search(cert, mode, budget_s, budget_goals=10**12):
    """baseline.prove on the mode's search prompt (the premises, or the structure's axioms) ->
    its SearchResult, or None when the prompt does not read."""
    text = prompt_of(cert) if mode == "premises" else axiom_prompt(cert)
    try:
        return prove(text, budget_s=budget_s, budget_goals=budget_goals) if text else None
    except ValueError:
        return None


def _failed(reason) -> dict:
    return {"structural": False, "verified": False, "valid_steps": 0, "steps": 0, "line": None, "reason": reason}


# --------------------------------------------------------------------------------------------
# model-guided search, read at several token budgets


def search_theorems(model, certs, mode, lemmas, budgets, e, max_expansions, sample_kwargs=None, seed=0) -> list:
    """search.prove on each theorem once, at the largest of `budgets` (tokens) -> per theorem
    {"tokens": generated when it stopped, "found_tokens": that when found else None,
    "seconds": [its wall time at each budget], "grade": the found certificate graded as `mode`
    grades it (else a failure), "certificate", "expansions"}. See the module docstring."""
    kw = _sample_kwargs(sample_kwargs)
    out = []
    for cert in certs:
        trail = []  # (tokens, seconds) after each expansion
        try:
            r = search_prove(model, cert, prompt_mode=mode, e=e, max_expansions=max_expansions, max_tokens=max(budgets),
                             max_seconds=math.inf, temperature=kw["temperature"], top_k=kw["top_k"], top_p=kw["top_p"],
                             seed=seed, on_expand=lambda st: trail.append((st["tokens"], st["elapsed_s"])))
        except ValueError as err:  # a prompt that does not read or does not fit the context
            out.append({"tokens": 0, "found_tokens": None, "seconds": [0.0] * len(budgets), "grade": _failed(str(err)),
                        "certificate": None, "expansions": 0})
            continue
        seconds = [next((t for n, t in trail if n > b), r.elapsed_s) for b in budgets]
        out.append({"tokens": r.tokens, "found_tokens": r.tokens if r.found else None, "seconds": seconds,
                    "grade": grade(r.certificate, mode, lemmas) if r.found else _failed(r.reason),
                    "certificate": r.certificate, "expansions": r.expansions})
    return out


def solved_within(searched: dict, budget: int) -> bool:
    return searched["found_tokens"] is not None and searched["found_tokens"] <= budget


def budget_curve(certs, mode, searched, fractions, k_of, tokens_of, sampled) -> dict:
    """Verified % against the token budget: search (read anytime), sampling's pass@k_B and blind
    search at the search's wall time. sampled: (n samples per theorem, [verified per theorem])."""
    n, c_per = sampled
    blind = [blind_search(cert, mode, max(s["seconds"])) for cert, s in zip(certs, searched)]
    points = {"search": [], "sampling_pass_at_k": [], "blind_equal_time": []}
    for i, f in enumerate(fractions):
        b, k_b = tokens_of[i], k_of[i]
        at = {"fraction": f, "budget_tokens": b, "k": k_b}
        points["search"].append({**at, **_rate(sum(solved_within(s, b) for s in searched), len(certs))})
        pk = [pass_at_k(n, c, k_b) for c in c_per]
        points["sampling_pass_at_k"].append({**at, "n": len(pk), "pct": 100 * float(np.mean(pk)) if pk else 0.0,
                                             "ci95": [100 * x for x in bootstrap_ci(pk)]})
        ok = [r is not None and r.found and r.elapsed_s <= s["seconds"][i] for r, s in zip(blind, searched)]
        points["blind_equal_time"].append({**at, **_rate(sum(ok), len(certs)),
                                           "budget_s": float(np.mean([s["seconds"][i] for s in searched])) if searched else 0.0})
    return points


# --------------------------------------------------------------------------------------------
# one held-out set


def draw(texts, n: int, seed: int) -> list[int]:
    """n indices drawn at random without replacement (all when n >= len), in file order."""
    return sorted(random.Random(seed).sample(range(len(texts)), min(n, len(texts))))


def _rate(c: int, n: int) -> dict:
    lo, hi = wilson(c, n)
    return {"n": n, "verified": c, "pct": _pct(c, n), "ci95": [100 * lo, 100 * hi]}


def _breakdown(keys, successes, attempts) -> dict:
    """{bucket: _rate} summing successes and attempts of the theorems in each bucket."""
    out = {}
    for key, c, n in zip(keys, successes, attempts):
        row = out.setdefault(key, [0, 0])
        row[0] += c
        row[1] += n
    return {k: _rate(*out[k]) for k in sorted(out, key=bucket_order)}


def bucket_order(label):
    """Sort key of a bucket label: numeric buckets by their first number ('2' < '5-6' < '15+'), then the rest."""
    head = str(label).split("-")[0].rstrip("+")
    return (0, int(head), "") if head.isdigit() else (1, 0, str(label))


def evaluate_set(model, certs, meta, train_bodies, lemmas, index, k, seeds, sample_kwargs, budget_s, budget_goals,
                 search=None, progress=False) -> dict:
    """Both modes on certs (with their meta rows, or None): the model over all seeds, the
    model-guided search and the baselines, intervals, breakdowns and the budget curve. search:
    {"e", "expansions", "budgets": multiples of the sampling budget} (EvalConfig's defaults when
    None). See the module docstring."""
    meta = meta or [{} for _ in certs]
    defaults = EvalConfig()
    search = {"e": defaults.search_e, "expansions": defaults.search_expansions, "budgets": defaults.search_budgets,
              **(search or {})}
    max_new = _sample_kwargs(sample_kwargs)["max_new_tokens"]
    fractions = sorted(set(search["budgets"]) | {1.0})
    k_of = [max(1, round(f * k)) for f in fractions]
    tokens_of = [kb * max_new for kb in k_of]
    keys = {
        "by_length": [length_bucket(proof_lines(c)) for c in certs],
        "by_shortest": [("not found" if m.get("shortest") is None else length_bucket(m["shortest"])) if "shortest" in m
                        else "?" for m in meta],
        "by_family": [m.get("family", "?") for m in meta],
    }
    modes = {}
    for mode in MODES:
        runs = [complete_theorems(model, certs, k=k, sample_kwargs=sample_kwargs, seed=s, mode=mode, lemmas=lemmas)
                for s in seeds]
        n_per = k * len(seeds)
        c_per = [sum(r["n_verified"][i] for r in runs) for i in range(len(certs))]
        samples = [x for r in runs for x in r["samples"]]
        equal_time_s = sum(r["sampling_s"] for r in runs) / max(1, len(certs))
        if progress:
            print(f"evaluate: {mode} mode: model done, baselines (blind search {budget_s:g} s and {equal_time_s:.2f} s per theorem)")
        if progress:
            print(f"evaluate: {mode} mode: model-guided search ({max(tokens_of)} tokens per theorem at most)")
        searched = search_theorems(model, certs, mode, lemmas, tokens_of, search["e"], search["expansions"],
                                   sample_kwargs, seeds[0])
        at_k = tokens_of[fractions.index(1.0)]  # sampling's token budget
        found = [g["grade"] if solved_within(g, at_k) else _failed("not found within budget") for g in searched]
        base = run_baselines(certs, mode, index, lemmas, budget_s, budget_goals, equal_time_s)
        per_theorem = {"model": (c_per, [n_per] * len(certs)), "search": ([int(g["verified"]) for g in found], [1] * len(certs))}
        per_theorem.update({m: ([int(g["verified"]) for g in gs], [1] * len(certs)) for m, gs in base.items()})
        graded = {"model": samples, "search": found, **base}
        methods = {}
        for m, (cs, ns) in per_theorem.items():
            row = _rate(sum(cs), sum(ns))
            row["structural_pct"] = _pct(sum(g["structural"] for g in graded[m]), len(graded[m]))
            row["mean_valid_steps"] = (sum(g["valid_steps"] for g in graded[m]) / len(graded[m])) if graded[m] else None
            methods[m] = row
        methods["blind"]["budget_s"], methods["blind"]["budget_goals"] = budget_s, budget_goals
        methods["blind_equal_time"]["budget_s"] = equal_time_s
        methods["search"].update({"budget_tokens": at_k, "e": search["e"], "max_expansions": search["expansions"],
                                  "seed": seeds[0], "mean_expansions": float(np.mean([g["expansions"] for g in searched])) if certs else 0.0})
        if max(k_of) <= n_per:
            sampled = (n_per, c_per)
        else:  # the seeds hold too few samples for the largest k_B: draw them
            extra = complete_theorems(model, certs, k=max(k_of), sample_kwargs=sample_kwargs, seed=seeds[0], mode=mode,
                                      lemmas=lemmas)
            sampled = (max(k_of), extra["n_verified"])
        p1 = [pass_at_k(n_per, c, 1) for c in c_per]
        pk = [pass_at_k(n_per, c, k) for c in c_per]
        verified_bodies = [proof_of(x["prompt"] + x["completion"]) for x in samples if x["verified"]]
        copied = sum(b in train_bodies for b in verified_bodies)
        per_seed = [r["verified_pct"] for r in runs]
        methods["model"].update({
            "pass_at_1": 100 * float(np.mean(p1)) if p1 else 0.0,
            "pass_at_1_ci95": [100 * x for x in bootstrap_ci(p1)],
            "pass_at_k": 100 * float(np.mean(pk)) if pk else 0.0,
            "pass_at_k_ci95": [100 * x for x in bootstrap_ci(pk)],
            "k": k, "samples_per_theorem": n_per,
            "exact_pct": _pct(sum(x["exact"] for x in samples), len(samples)),
            "per_seed_verified_pct": dict(zip(map(str, seeds), per_seed)),
            "seed_spread_pct": (max(per_seed) - min(per_seed)) if per_seed else None,
            "verified_copied_from_train": copied, "verified_not_in_train": len(verified_bodies) - copied,
            "sampling_s": sum(r["sampling_s"] for r in runs),
        })
        modes[mode] = {
            "prompt": "up to and including the first @G" if mode == "premises" else "the @T and @C lines only",
            "grading": ("steps verified: premises are the prompt's" if mode == "premises" else
                        "verified: premises must be axioms, catalog facts, train theorems or hypotheses"),
            "structural_means": STRUCTURAL_MEANS,
            "methods": methods,
            **{name: {m: _breakdown(key, *per_theorem[m]) for m in per_theorem} for name, key in keys.items()},
            "budget_curve": budget_curve(certs, mode, searched, fractions, k_of, tokens_of, sampled),
            "samples": samples,
        }
    return {"n_theorems": len(certs), "modes": modes}


# --------------------------------------------------------------------------------------------
# memorization


def similarity_figures(texts, train_shingles, train_set, near_dup_threshold=0.8) -> dict:
    """Name-stripped texts against train: verbatim-in-train rate, near-duplicate rate (nearest
    5-gram Jaccard >= threshold), mean/max nearest similarity, unique rate, distinct-1..4; and
    per text its nearest similarity and index into train."""
    texts = [strip_name(t) for t in texts]
    near = [nearest(shingles(t), train_shingles) for t in texts]
    sims = [s for s, _ in near]
    n = len(texts)
    return {
        "n": n,
        "duplicate_rate": sum(t in train_set for t in texts) / n if n else 0.0,
        "near_dup_threshold": near_dup_threshold,
        "near_dup_rate": sum(s >= near_dup_threshold for s in sims) / n if n else 0.0,
        "mean_nearest_similarity": sum(sims) / n if n else None,
        "max_nearest_similarity": max(sims) if sims else None,
        "unique_rate": len(set(texts)) / n if n else 0.0,
        **{f"distinct_{m}": distinct_n(texts, m) for m in (1, 2, 3, 4)},
        "nearest": near,
    }


def memorization(model, train_texts, reference_texts=(), n_samples=64, sample_kwargs=None, seed=0,
                 near_dup_threshold=0.8, lemmas=None):
    """Unconditional samples ("@T" + completion, run to qed within the context) vs the train set,
    names stripped, beside the same figures for up to n_samples real held-out certificates
    ("reference"): the scale on which a near-duplicate rate reads.

    Returns similarity_figures' rates for the samples (duplicate_rate, near_dup_rate, ...),
    structural/verified % (checked with the train lemma table, premises included), the
    novel-and-verified rate, "reference" with the held-out figures, and the samples with their
    nearest train certificate.
    """
    kw = _sample_kwargs(sample_kwargs)
    prompt = UNCONDITIONAL_PROMPT["certificates"]  # "@T"
    kw["max_new_tokens"] = model.config.ctx - len(prompt)  # to qed, not to a byte budget
    train = [text_of(t).strip("\n") for t in train_texts]
    train_stripped = [strip_name(t) for t in train]
    train_set, train_sh = set(train_stripped), [shingles(t) for t in train_stripped]
    if lemmas is None:
        lemmas = lemma_table(train)
    outs = generate(model, [prompt] * n_samples, seed=seed, **kw)
    certs = [(prompt + o).strip("\n") for o in outs]
    figs = similarity_figures(certs, train_sh, train_set, near_dup_threshold)
    reference = [text_of(t).strip("\n") for t in reference_texts][:n_samples]
    ref = similarity_figures(reference, train_sh, train_set, near_dup_threshold)
    records = []
    for c, (sim, i) in zip(certs, figs.pop("nearest")):
        v = check_certificate(c, lemmas=lemmas)
        records.append({
            "sample": c, "in_train": strip_name(c) in train_set, "nearest_similarity": sim,
            "nearest": train[i] if i is not None else None,
            "structural": v.structural, "verified": v.verified, "line": v.line, "reason": v.reason,
        })
    ref["nearest_similarities"] = [s for s, _ in ref.pop("nearest")]
    n = len(records)
    return {
        "n_samples": n, "n_train": len(train), "sample_kwargs": kw, "names_stripped": True,
        **figs,
        "structural_pct": _pct(sum(r["structural"] for r in records), n),
        "verified_pct": _pct(sum(r["verified"] for r in records), n),
        "novel_verified_pct": _pct(sum(r["verified"] and not r["in_train"] for r in records), n),
        "reference": ref,
        "samples": records,
    }


def loss_gap(metrics_path) -> dict | None:
    """From metrics.jsonl eval rows: val - train loss (nats) at the best val loss and at the end.

    The training plan's generalisation criterion is a gap < 0.5 nats. None without eval rows.
    """
    rows = [r for r in read_jsonl(metrics_path) if isinstance(r, dict) and r.get("kind") == "eval"
            and r.get("val_loss") is not None and r.get("train_loss") is not None]
    if not rows:
        return None
    best = min(rows, key=lambda r: r["val_loss"])
    last = rows[-1]
    gap = best["val_loss"] - best["train_loss"]
    return {
        "step": best["step"], "train_loss": best["train_loss"], "val_loss": best["val_loss"],
        "gap_nats": gap, "last_step": last["step"], "last_gap_nats": last["val_loss"] - last["train_loss"],
        "below_0_5_nats": gap < 0.5,
    }


# --------------------------------------------------------------------------------------------
# a whole run


def heldout_sets(files: dict, theorems=None) -> tuple[dict, str | None]:
    """({set name: certificate file}, a one-line note or None): --theorems FILE alone when given,
    else test / test-long / test-facts beside train.txt, else val with a note saying so."""
    if theorems:
        return {Path(theorems).stem: Path(theorems)}, None
    here = Path(files["train"]).parent
    found = {name: here / f"{name}.txt" for name in HELDOUT if (here / f"{name}.txt").exists()}
    if found:
        return found, None
    return {"val": Path(files["val"])}, (f"no test set beside {files['train']} (test.txt comes from `make data`): "
                                        f"evaluating on val, which also chose the checkpoint")


def headline(sets: dict) -> dict:
    """The numbers a summary shows, from the first set: the model's verified % and pass@k with
    intervals in both modes, and the best baseline of the premises mode."""
    name, res = next(iter(sets.items()))
    out = {"set": name}
    for mode, r in res["modes"].items():
        m = r["methods"]
        best = max(BASELINES, key=lambda b: m[b]["pct"])
        out[mode] = {"verified_pct": m["model"]["pct"], "verified_ci95": m["model"]["ci95"],
                     "pass_at_k": m["model"]["pass_at_k"], "pass_at_k_ci95": m["model"]["pass_at_k_ci95"],
                     "k": m["model"]["k"], "best_baseline": best, "best_baseline_pct": m[best]["pct"],
                     "best_baseline_ci95": m[best]["ci95"]}
    return out


def evaluate_run(run_dir, n_theorems=None, k=None, n_unconditional=None, seeds=None, device="cpu",
                 sample_kwargs=None, theorems=None, progress=True) -> dict:
    """Evaluate a run's best checkpoint; writes runs/<name>/eval.json atomically and returns it.

    Defaults come from the run's config (eval.n_theorems, eval.pass_k, eval.seeds,
    eval.n_unconditional, eval.baseline_budget_*, sample.*). theorems: a certificate file to
    evaluate on instead of the held-out sets. The train file (for retrieval, memorization and the
    lemma table) is the one the checkpoint was trained on (data.checkpoint_data). eval.json
    records the graded weights' sha256, so a reader can tell it is stale; the run is locked
    meanwhile (io.run_locked).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    with run_locked(run_dir, "evaluated"):
        return _evaluate_run(run_dir, n_theorems, k, n_unconditional, seeds, device, sample_kwargs, theorems, progress)


def _evaluate_run(run_dir, n_theorems, k, n_unconditional, seeds, device, sample_kwargs, theorems, progress) -> dict:
    t0 = time.perf_counter()
    model, meta = load_model(run_dir, device)
    cfg = meta["cfg"]
    asked = (sample_kwargs or {}).get("max_new_tokens")
    if asked is not None and asked > model.config.ctx:  # the config's default is cropped to fit instead
        raise UserError(f"{run_dir}: --max-tokens {asked} > the model's ctx {model.config.ctx}")
    n_theorems = cfg.eval.n_theorems if n_theorems is None else n_theorems
    k = cfg.eval.pass_k if k is None else k
    n_unconditional = cfg.eval.n_unconditional if n_unconditional is None else n_unconditional
    seeds = list(cfg.eval.seeds if seeds is None else seeds)
    skw = cfg.sample.generate_kwargs() | (sample_kwargs or {})

    files = checkpoint_data(meta, run_dir)
    set_files, note = heldout_sets(files, theorems)
    train = read_texts(files["train"])

    if note and progress:
        print(f"evaluate: {note}")
    lemmas, index = lemma_table(train), shape_index(train)
    train_bodies = {proof_of(t) for t in train if "@G" in t}
    sets, reference = {}, []
    for name, path in set_files.items():
        texts, rows = read_texts(path), read_meta(path)
        picked = draw(texts, n_theorems, cfg.sample.seed)
        certs = [texts[i] for i in picked]
        rows = [rows[i] for i in picked] if rows is not None and len(rows) == len(texts) else None
        if progress:
            print(f"evaluate: {name}: {len(certs)} of {len(texts)} theorems x {k} samples x {len(seeds)} seeds, 2 prompt modes")
        sets[name] = {"path": str(path), "n_available": len(texts), "draw_seed": cfg.sample.seed,
                      **evaluate_set(model, certs, rows, train_bodies, lemmas, index, k, seeds, skw,
                                     cfg.eval.baseline_budget_s, cfg.eval.baseline_budget_goals,
                                     dict(e=cfg.eval.search_e, expansions=cfg.eval.search_expansions,
                                          budgets=cfg.eval.search_budgets), progress)}
        reference = reference or [texts[i] for i in draw(texts, n_unconditional, cfg.sample.seed + 1)]
    mem = (memorization(model, train, reference, n_samples=n_unconditional, sample_kwargs=skw, seed=seeds[0],
                        lemmas=lemmas) if n_unconditional else None)
    first = next(iter(sets.values()))["modes"]["premises"]
    samples = [x for s in sets.values() for r in s["modes"].values() for x in r.pop("samples")]
    result = {
        "run_dir": str(run_dir),
        "checkpoint": meta.get("path"),
        "weights_sha256": weights_sha256(model),
        "data_sha256": meta["data_sha256"],
        "step": (meta.get("state") or {}).get("step"),
        "heldout": next(iter(sets)),
        "heldout_note": note,
        "seeds": seeds,
        "k": k,
        "sample_kwargs": skw,
        # the headline of the first set's premises mode, under the names earlier eval.json files used
        "verified_pct": first["methods"]["model"]["pct"],
        "structural_pct": first["methods"]["model"]["structural_pct"],
        "pass_at_k": first["methods"]["model"]["pass_at_k"],
        "headline": headline(sets),
        "sets": sets,
        "memorization": mem,
        "loss_gap": loss_gap(run_dir / "metrics.jsonl"),
        "samples": [{key: x[key] for key in ("theorem", "mode", "seed", "sample", "completion", "verified", "structural",
                                              "valid_steps", "exact", "line", "reason")} for x in samples],
        "elapsed_s": time.perf_counter() - t0,
    }
    atomic_write_json(run_dir / "eval.json", result)
    return result


def _ci(r: dict, key: str = "ci95") -> str:
    lo, hi = r[key]
    return f"[{lo:.1f}, {hi:.1f}]"


def format_result(res: dict) -> str:
    """eval.json as the command prints it: per set and mode, one row per method."""
    lines = [f"note: {res['heldout_note']}"] if res.get("heldout_note") else []
    for name, st in res["sets"].items():
        for mode, r in st["modes"].items():
            m = r["methods"]["model"]
            lines.append(f"{name} ({st['n_theorems']} of {st['n_available']} theorems), {mode} mode "
                         f"(prompt: {r['prompt']}; {r['grading']}):")
            lines.append(f"  {'method':<18} {'verified %':>10} {'95% CI':>14} {'valid steps':>11}  {'structural %':>12}")
            for method, row in r["methods"].items():
                lines.append(f"  {method:<18} {row['pct']:>10.1f} {_ci(row):>14} {row['mean_valid_steps'] or 0:>11.2f}  "
                             f"{row['structural_pct']:>12.1f}")
            lines.append(f"  model pass@1 {m['pass_at_1']:.1f}% {_ci(m, 'pass_at_1_ci95')}, pass@{m['k']} "
                         f"{m['pass_at_k']:.1f}% {_ci(m, 'pass_at_k_ci95')} ({m['samples_per_theorem']} samples per "
                         f"theorem); per seed {m['per_seed_verified_pct']} (spread {m['seed_spread_pct']:.1f}); "
                         f"verified proofs copied from train {m['verified_copied_from_train']}, "
                         f"not in train {m['verified_not_in_train']}")
            curve = r["budget_curve"]
            lines.append("  budget curve, verified % at " + ", ".join(f"{p['budget_tokens']} tokens" for p in curve["search"]) + ": "
                         + "; ".join(f"{name} " + " ".join(f"{p['pct']:.1f}" for p in points) for name, points in curve.items()))
    lines.append(f"({STRUCTURAL_MEANS}; valid steps: steps that verify before the first error, mean per attempt)")
    mem = res["memorization"]
    if mem:
        ref = mem["reference"]
        lines.append(f"memorization ({mem['n_samples']} unconditional samples vs {ref['n']} held-out certificates, "
                     f"names stripped): verbatim in train {100 * mem['duplicate_rate']:.1f}% vs {100 * ref['duplicate_rate']:.1f}%  "
                     f"near-dup {100 * mem['near_dup_rate']:.1f}% vs {100 * ref['near_dup_rate']:.1f}%  "
                     f"mean nearest Jaccard {mem['mean_nearest_similarity'] or 0:.3f} vs {ref['mean_nearest_similarity'] or 0:.3f}  "
                     f"distinct-2 {mem['distinct_2']:.3f} vs {ref['distinct_2']:.3f}  (samples verified {mem['verified_pct']:.1f}%)")
    g = res["loss_gap"]
    if g:
        lines.append(f"loss gap: val - train = {g['gap_nats']:.3f} nats at step {g['step']} "
                     f"({'<' if g['below_0_5_nats'] else '>='} 0.5, the plan's criterion)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="proofgpt evaluate",
                                description="Complete held-out theorems in two prompt modes beside baselines, check them, "
                                            "measure memorization -> <run>/eval.json.")
    p.add_argument("--run", required=True, help="run name (runs/NAME) or directory; its best checkpoint is evaluated")
    p.add_argument("--theorems", default=None, help="a certificate file to evaluate on instead of the run's test sets")
    p.add_argument("--n-theorems", type=int, default=None, help="theorems drawn per set (default: the run's eval.n_theorems)")
    p.add_argument("--k", type=int, default=None, help="samples per theorem and seed for pass@k (default: eval.pass_k)")
    p.add_argument("--seeds", default=None, help="sampling seeds, comma-separated (default: eval.seeds)")
    p.add_argument("--n-unconditional", type=int, default=None, help="unconditional samples for memorization (default: eval.n_unconditional; 0 = skip)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the run's sample.temperature)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus top-p (default: sample.top_p)")
    p.add_argument("--top-k", type=int, default=None, help="top-k (default: sample.top_k)")
    p.add_argument("--max-tokens", type=int, default=None, help="new bytes per completion at most (default: sample.max_new_tokens)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = p.parse_args(argv)

    for name, val, ok in [("--n-theorems", args.n_theorems, lambda v: v >= 1), ("--k", args.k, lambda v: v >= 1),
                          ("--n-unconditional", args.n_unconditional, lambda v: v >= 0),
                          ("--top-p", args.top_p, lambda v: 0 < v <= 1), ("--top-k", args.top_k, lambda v: v >= 1),
                          ("--max-tokens", args.max_tokens, lambda v: v >= 1)]:
        if val is not None and not ok(val):
            raise UserError(f"{name} {val} is out of range")
    if args.temperature is not None:
        check_temperature(args.temperature, "--temperature")
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()] if args.seeds is not None else None
    except ValueError:
        raise UserError(f"--seeds {args.seeds!r}: expected integers separated by commas, e.g. 0,1,2") from None
    if seeds == []:
        raise UserError("--seeds: give at least one seed")
    for s in seeds or []:
        check_seed(s, "--seeds")
    if args.theorems:
        read_texts(args.theorems)  # a missing or non-certificate file is one line, before the model loads
    skw = {key: v for key, v in [("temperature", args.temperature), ("top_p", args.top_p), ("top_k", args.top_k),
                                 ("max_new_tokens", args.max_tokens)] if v is not None}
    run_dir = paths.resolve_run(args.run)
    if saved_data_format(read_json(run_dir / "config.json")) == "text":
        print(f"{run_dir}: skipped: {NO_CERTIFICATES} to grade (its val loss is in metrics.jsonl)")
        return 0
    res = evaluate_run(run_dir, n_theorems=args.n_theorems, k=args.k, n_unconditional=args.n_unconditional,
                       seeds=seeds, device=args.device, sample_kwargs=skw, theorems=args.theorems)
    print(format_result(res))
    print(f"wrote {run_dir / 'eval.json'} ({res['elapsed_s']:.1f} s)")
    return 0
