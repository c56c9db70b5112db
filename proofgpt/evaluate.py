"""Evaluate a trained run: complete held-out theorems and grade them with the checker,
pass@k, memorization, and the train/val loss gap -> runs/<name>/eval.json.

Completion: the prompt is a val certificate up to and including its first `@G` line
(theorem, structure, constants, premises, goal); the model writes the tactics and goals up
to `qed`, and `check_certificate(prompt + completion)` grades the whole certificate.
Completions are checked with trust_premises=True: the premises come from the prompt (the
ground truth, verified when the data was prepared), a completion cannot add any (an `@P`
after `@G` is a structural error), so steps-verified is verified here, and no lemma table of
the corpus is needed.

Memorization: unconditional samples (prompt "@T") are checked fully against the train
lemma table, looked up verbatim in train (duplicate rate), and matched to their nearest
train certificate by Jaccard similarity of character 5-gram sets. Trade-off: exact Jaccard
against every train certificate instead of MinHash or an index: exact and simple at tens of
samples; an approximate index would pay off at many more.

pass@k: with n >= k samples per theorem and c of them verified, the unbiased estimator of
Chen et al. 2021 (Codex, eq. 1): 1 - C(n-c, k) / C(n, k); with n == k it is "any verified".

    python -m proofgpt evaluate --run runs/cpu --n-theorems 50 --k 4
"""

import argparse
import math
import time
from pathlib import Path

from proofgpt import paths
from proofgpt.certificate import lemma_table, prompt_of, read_texts, text_of
from proofgpt.check import check_certificate
from proofgpt.checkpoint import load_model, weights_sha256
from proofgpt.config import SampleConfig, check_seed, check_temperature
from proofgpt.data import checkpoint_data
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, read_jsonl, run_locked
from proofgpt.sample import generate


def _pct(num, den) -> float:
    return 100.0 * num / den if den else 0.0


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


def _sample_kwargs(given=None) -> dict:
    """generate()'s keyword arguments: SampleConfig's defaults, updated with what was given."""
    s = SampleConfig()
    kw = dict(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p)
    kw.update(given or {})
    return kw


def complete_theorems(model, certs, k=1, sample_kwargs=None, seed=0, trust_premises=True, lemmas=None):
    """Complete each certificate's theorem k times and grade the completions with the checker.

    certs: certificate texts (or data.Block). sample_kwargs: generate()'s temperature, top_k,
    top_p, max_new_tokens, stop_at_qed. Returns percentages over all n_theorems * k samples
    (structural_pct, verified_pct, exact_pct: completion == ground truth, novel_verified_pct:
    verified but != ground truth), mean_steps of the verified samples, pass_at_1 and
    pass_at_k over theorems (in %), and one record per sample in "samples".
    """
    kw = _sample_kwargs(sample_kwargs)
    texts = [text_of(c).strip("\n") for c in certs]
    prompts = [prompt_of(t) for t in texts]
    truths = [t[len(p):] for t, p in zip(texts, prompts)]  # "rw [...]\n@G ...\n...\nqed"
    # one generate call for everything: equal prompts share a prefill, equal lengths a batch;
    # a prompt that fills the context cannot be completed and counts as a failed sample
    fits = [len(p.encode("utf-8")) < model.config.ctx for p in prompts]
    gen = generate(model, [p for p, ok in zip(prompts, fits) if ok for _ in range(k)], seed=seed, **kw)
    gen = iter(gen)
    outs = [next(gen) if ok else "" for ok in fits for _ in range(k)]

    samples, n_verified_per_theorem = [], []
    for i, (prompt, truth) in enumerate(zip(prompts, truths)):
        n_ok = 0
        for j in range(k):
            completion = outs[i * k + j]
            v = check_certificate(prompt + completion, trust_premises=trust_premises, lemmas=lemmas)
            exact = completion.strip("\n") == truth.strip("\n")
            n_ok += v.verified
            samples.append({
                "theorem": v.name or prompt.partition("\n")[0], "sample": j, "prompt": prompt,
                "completion": completion, "truth": truth, "structural": v.structural,
                "verified": v.verified, "exact": exact, "steps": v.steps, "line": v.line, "reason": v.reason,
            })
        n_verified_per_theorem.append(n_ok)

    n = len(samples)
    verified = [s for s in samples if s["verified"]]
    n_thm = len(prompts)
    return {
        "n_theorems": n_thm,
        "k": k,
        "n_samples": n,
        "sample_kwargs": kw,
        "seed": seed,
        "structural_pct": _pct(sum(s["structural"] for s in samples), n),
        "verified_pct": _pct(len(verified), n),
        "exact_pct": _pct(sum(s["exact"] for s in samples), n),
        "novel_verified_pct": _pct(sum(not s["exact"] for s in verified), n),
        "mean_steps": sum(s["steps"] for s in verified) / len(verified) if verified else None,
        "truth_mean_steps": (sum(t.count("\n@G") + 1 for t in truths) / n_thm) if n_thm else None,
        "pass_at_1": _pct(sum(pass_at_k(k, c, 1) for c in n_verified_per_theorem), n_thm),
        "pass_at_k": _pct(sum(pass_at_k(k, c, k) for c in n_verified_per_theorem), n_thm),
        "samples": samples,
    }


# --------------------------------------------------------------------------------------------
# memorization


def shingles(text: str, n: int = 5) -> set:
    """Character n-grams: shingles("abcdef", 5) -> {"abcde", "bcdef"}; shorter text -> {text}."""
    if len(text) <= n:
        return {text}
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|: jaccard({1, 2}, {2, 3}) = 1/3."""
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if (a or b) else 1.0


def distinct_n(texts, n: int) -> float:
    """Unique word n-grams / all word n-grams over all texts (Li et al. 2016): 1.0 = no repeats.

    distinct_n(["a b a b"], 2) = 2/3 ("a b", "b a", "a b").
    """
    grams = []
    for t in texts:
        words = t.split()
        grams += [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def memorization(model, train_texts, n_samples=64, sample_kwargs=None, seed=0, near_dup_threshold=0.8,
                 lemmas=None):
    """Unconditional samples ("@T" + completion) vs the train set.

    Returns duplicate_rate (samples that are a train certificate verbatim), near_dup_rate
    (nearest train neighbour Jaccard >= threshold), mean/max nearest-neighbour similarity
    (character 5-gram Jaccard), unique_rate (distinct samples / samples), distinct_1..4,
    structural/verified % (checked with the train lemma table, premises included), the
    novel-and-verified rate, and the samples with their nearest neighbour.
    """
    kw = _sample_kwargs(sample_kwargs)
    kw["max_new_tokens"] = min(kw["max_new_tokens"], model.config.ctx - 2)
    train = [text_of(t).strip("\n") for t in train_texts]
    train_set = set(train)
    if lemmas is None:
        lemmas = lemma_table(train)
    outs = generate(model, ["@T"] * n_samples, seed=seed, **kw)
    certs = [("@T" + o).strip("\n") for o in outs]

    train_sh = [shingles(t) for t in train]
    records = []
    for c in certs:
        sh = shingles(c)
        best, best_i = 0.0, None
        for i, tsh in enumerate(train_sh):
            s = jaccard(sh, tsh)
            if s > best:
                best, best_i = s, i
        v = check_certificate(c, lemmas=lemmas)
        records.append({
            "sample": c, "in_train": c in train_set, "nearest_similarity": best,
            "nearest": train[best_i] if best_i is not None else None,
            "structural": v.structural, "verified": v.verified, "line": v.line, "reason": v.reason,
        })
    n = len(records)
    sims = [r["nearest_similarity"] for r in records]
    return {
        "n_samples": n,
        "n_train": len(train),
        "sample_kwargs": kw,
        "duplicate_rate": sum(r["in_train"] for r in records) / n if n else 0.0,
        "near_dup_threshold": near_dup_threshold,
        "near_dup_rate": sum(s >= near_dup_threshold for s in sims) / n if n else 0.0,
        "mean_nearest_similarity": sum(sims) / n if n else None,
        "max_nearest_similarity": max(sims) if sims else None,
        "unique_rate": len(set(certs)) / n if n else 0.0,
        **{f"distinct_{m}": distinct_n(certs, m) for m in (1, 2, 3, 4)},
        "structural_pct": _pct(sum(r["structural"] for r in records), n),
        "verified_pct": _pct(sum(r["verified"] for r in records), n),
        "novel_verified_pct": _pct(sum(r["verified"] and not r["in_train"] for r in records), n),
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


def evaluate_run(run_dir, n_theorems=None, k=None, n_unconditional=None, seed=None, device="cpu",
                 sample_kwargs=None, progress=True) -> dict:
    """Evaluate a run's best checkpoint; writes runs/<name>/eval.json atomically and returns it.

    Defaults come from the run's config (eval.n_theorems, eval.pass_k, eval.n_unconditional,
    sample.*). Completes the first n_theorems val certificates k times each, of the split the
    checkpoint was trained on (data.checkpoint_data). eval.json records the graded weights'
    sha256, so a reader can tell it is stale; the run is locked meanwhile (io.run_locked).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    with run_locked(run_dir, "evaluated"):
        return _evaluate_run(run_dir, n_theorems, k, n_unconditional, seed, device, sample_kwargs, progress)


def _evaluate_run(run_dir, n_theorems, k, n_unconditional, seed, device, sample_kwargs, progress) -> dict:
    t0 = time.perf_counter()
    model, meta = load_model(run_dir, device)
    cfg = meta["cfg"]
    asked = (sample_kwargs or {}).get("max_new_tokens")
    if asked is not None and asked > model.config.ctx:  # the config's default is cropped to fit instead
        raise UserError(f"{run_dir}: --max-tokens {asked} > the model's ctx {model.config.ctx}")
    n_theorems = cfg.eval.n_theorems if n_theorems is None else n_theorems
    k = cfg.eval.pass_k if k is None else k
    n_unconditional = cfg.eval.n_unconditional if n_unconditional is None else n_unconditional
    seed = cfg.sample.seed if seed is None else seed
    skw = dict(temperature=cfg.sample.temperature, top_k=cfg.sample.top_k, top_p=cfg.sample.top_p,
               max_new_tokens=cfg.sample.max_new_tokens)
    skw.update(sample_kwargs or {})

    files = checkpoint_data(meta, run_dir)
    val = read_texts(files["val"])[:n_theorems]
    train = read_texts(files["train"])

    if progress:
        print(f"evaluate: {len(val)} val theorems x {k} samples, {n_unconditional} unconditional samples")
    comp = complete_theorems(model, val, k=k, sample_kwargs=skw, seed=seed)
    mem = memorization(model, train, n_samples=n_unconditional, sample_kwargs=skw, seed=seed) if n_unconditional else None
    samples = comp.pop("samples")
    result = {
        "run_dir": str(run_dir),
        "checkpoint": meta.get("path"),
        "weights_sha256": weights_sha256(model),
        "data_sha256": meta["data_sha256"],
        "step": (meta.get("state") or {}).get("step"),
        "verified_pct": comp["verified_pct"],
        "structural_pct": comp["structural_pct"],
        "pass_at_k": comp["pass_at_k"],
        "k": k,
        "completions": comp,
        "memorization": mem,
        "loss_gap": loss_gap(run_dir / "metrics.jsonl"),
        "samples": samples,
        "elapsed_s": time.perf_counter() - t0,
    }
    atomic_write_json(run_dir / "eval.json", result)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="proofgpt evaluate",
                                description="Complete val theorems, check them, measure memorization -> <run>/eval.json.")
    p.add_argument("--run", required=True, help="run name (runs/NAME) or directory; its best checkpoint is evaluated")
    p.add_argument("--n-theorems", type=int, default=None, help="val theorems to complete (default: the run's eval.n_theorems)")
    p.add_argument("--k", type=int, default=None, help="samples per theorem for pass@k (default: eval.pass_k)")
    p.add_argument("--n-unconditional", type=int, default=None, help="unconditional samples for memorization (default: eval.n_unconditional; 0 = skip)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the run's sample.temperature)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus top-p (default: sample.top_p)")
    p.add_argument("--top-k", type=int, default=None, help="top-k (default: sample.top_k)")
    p.add_argument("--max-tokens", type=int, default=None, help="new bytes per completion at most (default: sample.max_new_tokens)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: sample.seed)")
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
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    skw = {key: v for key, v in [("temperature", args.temperature), ("top_p", args.top_p), ("top_k", args.top_k),
                                 ("max_new_tokens", args.max_tokens)] if v is not None}
    run_dir = paths.resolve_run(args.run)
    res = evaluate_run(run_dir, n_theorems=args.n_theorems, k=args.k, n_unconditional=args.n_unconditional,
                       seed=args.seed, device=args.device, sample_kwargs=skw)
    c, m, g = res["completions"], res["memorization"], res["loss_gap"]
    print(f"completions: {c['n_theorems']} theorems x {c['k']}: structural {c['structural_pct']:.1f}%  "
          f"verified {c['verified_pct']:.1f}%  exact {c['exact_pct']:.1f}%  novel verified {c['novel_verified_pct']:.1f}%  "
          f"pass@1 {c['pass_at_1']:.1f}%  pass@{c['k']} {c['pass_at_k']:.1f}%")
    if m:
        print(f"memorization: {m['n_samples']} unconditional samples: verbatim in train {100 * m['duplicate_rate']:.1f}%  "
              f"near-dup {100 * m['near_dup_rate']:.1f}%  mean nearest Jaccard {m['mean_nearest_similarity']:.3f}  "
              f"distinct-2 {m['distinct_2']:.3f}  verified {m['verified_pct']:.1f}%")
    if g:
        print(f"loss gap: val - train = {g['gap_nats']:.3f} nats at step {g['step']} "
              f"({'<' if g['below_0_5_nats'] else '>='} 0.5, the plan's criterion)")
    print(f"wrote {run_dir / 'eval.json'} ({res['elapsed_s']:.1f} s)")
    return 0
