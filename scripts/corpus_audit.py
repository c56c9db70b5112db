"""Audit of a `make data` output: the corpus-v2 issue's before/after measurements (README, "The data").

    PYTHONPATH=$PWD .venv/bin/python scripts/corpus_audit.py data [--sample 200] [--json audit.json]

Reads DATA/training.txt, train.txt, val.txt (+ meta sidecars), the test sets and the manifests
and prints: distinct statements and statement classes, certificates repeating another apart from
the name, `t = t` certificates, hypothesis theorems concluding a hypothesis, the median proof
length (tactic lines, rfl included), val prompts with a single @P line, leakage between train and
val (statements with sides swapped, tactic sequences, proof bodies), the blind search baseline
(one rewrite then rfl; BFS within the sidecars' goal budget; best-first at the default goal
budget with no time limit on `--sample` certificates of val and of each test set, by proof
length) and the entropy bound. Classes shared across train/val/test sets are counted too.
"""

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

from proofgpt.algebra import statement_class
from proofgpt.baseline import DEFAULT_BUDGET_GOALS, format_summary, proof_lines, prove_corpus
from proofgpt.certificate import read_manifest, read_meta, read_texts, statement_class_of, statement_of
from proofgpt.terms import parse_equation

SETS = ("train", "val", "test", "test-long", "test-facts")


def tactics(text):
    lines = text.split("\n")
    first = next(i for i, s in enumerate(lines) if s.startswith("@G"))
    return tuple(s for s in lines[first:] if not s.startswith("@G") and s != "qed")


def body(text):
    """The proof: the lines after the first @G (goals and tactics)."""
    lines = text.split("\n")
    first = next(i for i, s in enumerate(lines) if s.startswith("@G"))
    return "\n".join(lines[first + 1:])


def audit(data: Path, sample: int, sample_long: int, seed: int = 0) -> dict:
    texts = {name: read_texts(data / f"{name}.txt") for name in SETS if (data / f"{name}.txt").exists()}
    corpus = read_texts(data / "training.txt")
    out = {}
    stmts = [statement_of(t) for t in corpus]
    out["certificates"] = len(corpus)
    out["distinct_statements"] = len(set(stmts))
    out["distinct_classes"] = len({statement_class_of(t) for t in corpus})
    nameless = [t.split(" : ", 1)[1] for t in corpus]
    counts = {}
    for t in nameless:
        counts[t] = counts.get(t, 0) + 1
    out["repeat_apart_from_name_frac"] = sum(counts[t] > 1 for t in nameless) / len(corpus)
    trivial = hyp_thms = hyp_concl = 0
    for s in stmts:
        eqs = [parse_equation(e) for e in s.split("→")]
        trivial += eqs[-1][0] == eqs[-1][1]
        if len(eqs) > 1:
            hyp_thms += 1
            c = eqs[-1]
            hyp_concl += statement_class(None, [], c) in {statement_class(None, [], h) for h in eqs[:-1]}
    out["t_eq_t"] = trivial
    out["hyp_theorems_concluding_a_hypothesis_frac"] = hyp_concl / max(1, hyp_thms)
    out["median_proof_lines"] = statistics.median(proof_lines(t) for t in corpus)
    meta = read_meta(data / "training.txt")
    if meta:
        out["median_rewrites"] = statistics.median(m["rewrites"] for m in meta)
        out["fit_512_frac"] = sum(m["n_bytes"] <= 511 for m in meta) / len(meta)
    train, val = texts["train"], texts["val"]
    out["val_single_premise_frac"] = sum(sum(ln.startswith("@P ") for ln in t.split("\n")) == 1 for t in val) / len(val)
    train_stmts = {statement_of(t) for t in train}
    swapped = 0
    for t in val:
        s = statement_of(t)
        *hyps, concl = s.split("→")
        lhs, _, rhs = concl.strip().partition(" = ")
        swapped += "→".join(hyps + [f" {rhs} = {lhs}" if hyps else f"{rhs} = {lhs}"]) in train_stmts
    out["val_train_sides_swapped"] = f"{swapped} of {len(val)}"
    train_tactics = {tactics(t) for t in train}
    out["val_tactic_sequences_in_train_frac"] = sum(tactics(t) in train_tactics for t in val) / len(val)
    train_bodies = {body(t) for t in train}
    out["val_bodies_in_train_frac"] = sum(body(t) in train_bodies for t in val) / len(val)
    classes = {name: {statement_class_of(t) for t in ts} for name, ts in texts.items()}
    out["shared_classes"] = {f"{a}/{b}": len(classes[a] & classes[b]) for i, a in enumerate(classes)
                             for b in list(classes)[i + 1:]}
    out["baseline"] = {}
    for name in ("val", "test", "test-long", "test-facts"):
        if name not in texts:
            continue
        m = read_meta(data / f"{name}.txt")
        row = {}
        if m and all("shortest" in r for r in m):
            row["one_rewrite_then_rfl_frac"] = sum(r["shortest"] is not None and r["shortest"] <= 1 for r in m) / len(m)
            row["bfs_sidecar_found_frac"] = sum(r["shortest"] is not None for r in m) / len(m)
        k = sample_long if name == "test-long" else sample
        picked = random.Random(seed).sample(texts[name], min(k, len(texts[name])))
        _, summary = prove_corpus(picked, budget_goals=DEFAULT_BUDGET_GOALS, budget_s=1e9)
        print(format_summary(summary, f"{name} (sample of {len(picked)}, no time limit)"), file=sys.stderr, flush=True)
        row["best_first"] = summary
        out["baseline"][name] = row
    manifest = read_manifest(data / "training.txt") or {}
    out["entropy_bound_bpb"] = manifest.get("entropy_bound_bpb")
    out["generator_version"] = manifest.get("version")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="the directory `make data` wrote (data/)")
    ap.add_argument("--sample", type=int, default=200, help="certificates per set for the best-first search (default %(default)s)")
    ap.add_argument("--sample-long", type=int, default=20, help="the same for test-long, whose misses cost the whole budget (default %(default)s)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    out = audit(args.data, args.sample, args.sample_long)
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
