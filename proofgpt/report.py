"""The workbook's report: execute the five notebooks with papermill, then summarise the run.

    python -m proofgpt report --profile cpu [--run NAME] [--seed 0] [--timeout S] [-p key=value ...]

writes reports/<profile>/<run>/{01..05}_*.ipynb (executed, outputs kept), an .html export of
each, and summary.md + summary.json. The numbers in the summary are read from what the stages
already wrote into runs/<run>/ (config.json, metrics.jsonl, eval.json) and from the JSON each
notebook leaves in runs/<run>/nb/: the report computes nothing of its own.

Notebooks hold no logic, so the small display-oriented helpers they call live here too
(`workbook`, `html_table`, `corpus_overview`, `split_integrity`, `sampling_sweep`, ...).

Trade-off: one fresh kernel per notebook (papermill's model) costs ~2-3 s of start-up and
imports each, ~12 s for the five on 2 cores, but makes every notebook prove it survives
"restart and run all" on its own, with the run directory as the only shared state.
Papermill only warns about unknown parameters (papermill#701), so `check_parameters` refuses
them against `papermill.inspect_notebook` before anything runs; a failing cell stops the
report with one line naming notebook and cell, the partial executed notebook left in place.
"""

import argparse
import ast
import collections
import html
import json
import math
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from proofgpt import paths
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, atomic_write_text

PLAN_PARAMS = (10e6, 12e6)  # training-plan.md: "Approximately 10-12M parameters"
MARKERS = ("@T", "@C", "@P", "@G", "rw", "symm", "rfl", "qed")


class ReportError(Exception):
    """A notebook failed; the message is one line naming the notebook and the cell."""


# --------------------------------------------------------------------------------------------
# notebook side: what the parameters cell resolves to


@dataclass
class Workbook:
    """Everything a notebook needs after its parameters: config, run dir, seed, data files.

    corpus / train / val are filled in by `ensure_data` (which may generate and split).
    """

    profile: str
    cfg: object  # proofgpt.config.RunConfig
    run_dir: Path
    seed: int
    corpus: Path | None = None
    train: Path | None = None
    val: Path | None = None

    @property
    def nb_dir(self) -> Path:
        return self.run_dir / "nb"

    def _repr_html_(self):
        rows = [("profile", self.profile), ("run_dir", self.run_dir), ("seed", self.seed), ("data.path", self.cfg.data.path),
                ("data.generate_chars", self.cfg.data.generate_chars)]
        return _table_html([{"": k, "value": str(v)} for k, v in rows])


def workbook(cfg, profile: str, run_dir: str = "", seed: int = 0, data_path: str = "") -> Workbook:
    """Resolve a notebook's parameters: run_dir "" -> runs/<profile>; data_path "" -> the profile's.

    data_path, when given, replaces the config's data.path (a corpus of your own) and turns
    off generation.
    """
    from proofgpt import config as config_mod

    if data_path:
        cfg = config_mod.apply_overrides(cfg, {"data.path": str(data_path), "data.generate_chars": 0})
    run = Path(run_dir) if run_dir else paths.run_dir(profile)
    run = run if run.is_absolute() else paths.ROOT / run
    if cfg.train.threads:  # the profile's torch threads, as train() uses: a tiny model sampling on
        import torch  # 2 threads of a busy 2-core box ran 13x slower than on one (5.6 s vs 0.43 s)

        torch.set_num_threads(cfg.train.threads)
    return Workbook(profile, cfg, run, int(seed))


def ensure_data(wb: Workbook) -> dict:
    """Find or make the run's corpus and train/val split (train.prepare_data: the trainer's own rule)."""
    from proofgpt.train import prepare_data

    files = prepare_data(wb.cfg, wb.run_dir)
    wb.corpus, wb.train, wb.val = (Path(files[k]) for k in ("corpus", "train", "val"))
    return {k: str(v) for k, v in files.items()}


def save_json(wb: Workbook, name: str, **values) -> Path:
    """Write a notebook's numbers to run_dir/nb/<name>.json (what tests and the summary read)."""
    path = wb.nb_dir / f"{name}.json"
    atomic_write_json(path, jsonable(values))
    return path


def jsonable(x):
    """Numpy/torch scalars, tuples, Paths and dataclasses -> plain JSON values; NaN -> None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        import dataclasses

        return jsonable(dataclasses.asdict(x))
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 0) == 0:
        x = x.item()
    if hasattr(x, "tolist"):
        return jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# --------------------------------------------------------------------------------------------
# display helpers (return IPython HTML objects)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _table_html(rows, columns=None, caption=None) -> str:
    if isinstance(rows, dict):
        rows = [{"key": k, "value": v} for k, v in rows.items()]
    columns = columns or (list(rows[0]) if rows else [])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="text-align:left">{html.escape(_fmt(r.get(c, "")))}</td>' for c in columns) + "</tr>"
        for r in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="proofgpt-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_table(rows, columns=None, caption=None):
    """A list of dicts (or one dict of key -> value) as an HTML table for the notebook."""
    from IPython.display import HTML

    return HTML(_table_html(rows, columns, caption))


def _pre(text, title=""):
    return (
        f'<div style="flex:1;min-width:0"><b>{html.escape(title)}</b>'
        f'<pre style="white-space:pre-wrap;font-size:11px">{html.escape(text)}</pre></div>'
    )


# --------------------------------------------------------------------------------------------
# 01 data exploration


def _structure_of(text: str) -> str:
    """'@C G : group' line -> 'group' (the first @C line)."""
    for line in text.split("\n"):
        if line.startswith("@C"):
            return line.rsplit(":", 1)[-1].strip()
    return "?"


def corpus_overview(blocks, meta=None) -> dict:
    """Counts and distributions of a corpus; meta (the generator's sidecar) adds family, term size.

    [Block("@T a : x = x\\n@C G : group\\n@G x = x\\nrfl\\nqed", 1)] ->
    {"n_certificates": 1, "by_structure": {"group": 1}, "steps": [1], ...}
    """
    import numpy as np

    texts = [b.text for b in blocks]
    data = ("\n\n".join(texts) + "\n").encode("utf-8")
    byte_counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    markers = collections.Counter()
    steps = []
    for t in texts:
        n = 0
        for line in t.split("\n"):
            head = line.split(" ", 1)[0]
            if head in MARKERS:
                markers[head] += 1
            if not line.startswith("@") and line != "qed":
                n += 1
        steps.append(n)
    cert_bytes = [len(t.encode("utf-8")) for t in texts]
    if meta is not None and len(meta) == len(texts):
        by_structure = collections.Counter(m["structure"] for m in meta)
        by_family = collections.Counter(m["family"] for m in meta)
        term_size = [m["term_size"] for m in meta]
        steps = [m["steps"] for m in meta]
        n_bits = -sum(sum(m["log2p"]) for m in meta)
        entropy_bound_bpb = n_bits / len(data)
    else:
        by_structure = collections.Counter(_structure_of(t) for t in texts)
        by_family, term_size, entropy_bound_bpb = {}, [], None
    return {
        "n_certificates": len(texts),
        "n_bytes": len(data),
        "n_chars": len(data.decode("utf-8")),
        "n_lines": data.count(b"\n"),
        "bytes_per_char": len(data) / max(len(data.decode("utf-8")), 1),
        "by_structure": dict(by_structure),
        "by_family": dict(by_family),
        "steps": steps,
        "term_size": term_size,
        "cert_bytes": cert_bytes,
        "markers": {k: markers[k] for k in MARKERS},
        "byte_counts": byte_counts.tolist(),
        "n_distinct_bytes": int((byte_counts > 0).sum()),
        "unigram_bpb": float(-(byte_counts[byte_counts > 0] / len(data) * np.log2(byte_counts[byte_counts > 0] / len(data))).sum()),
        "entropy_bound_bpb": entropy_bound_bpb,
    }


def overview_rows(ov: dict) -> list:
    """The headline numbers of `corpus_overview` as table rows."""
    keys = ("n_certificates", "n_bytes", "n_chars", "n_lines", "bytes_per_char", "n_distinct_bytes", "unigram_bpb", "entropy_bound_bpb")
    rows = [{"quantity": k, "value": ov[k] if ov[k] is not None else "n/a (no generator meta)"} for k in keys]
    rows += [{"quantity": f"lines starting {m!r}", "value": n} for m, n in ov["markers"].items()]
    return rows


def example_verdicts(blocks, n: int = 3, seed: int = 0, corrupt: bool = True) -> list:
    """Check n seeded-random certificates; with corrupt, also one with a goal line broken on purpose.

    -> [{"name", "line", "text", "verdict"}]; the corrupted copy shows what a rejection looks like.
    """
    from proofgpt.check import check_certificate
    from proofgpt.evaluate import lemma_table

    lemmas = lemma_table([b.text for b in blocks])  # walks cite earlier certificates as lemmas
    rng = random.Random(seed)
    picked = rng.sample(list(blocks), min(n, len(blocks)))
    out = []
    for b in picked:
        out.append({"label": f"line {b.line}", "text": b.text, "verdict": check_certificate(b.text, first_line=b.line, lemmas=lemmas)})
    if corrupt and picked:
        b = picked[0]
        lines = b.text.split("\n")
        goals = [i for i, l in enumerate(lines) if l.startswith("@G")]
        i = goals[-1] if len(goals) > 1 else len(lines) - 2
        lines[i] = lines[i] + " * 1"  # a goal the tactic cannot produce
        text = "\n".join(lines)
        out.append({"label": f"line {b.line}, goal line {b.line + i} corrupted", "text": text, "verdict": check_certificate(text, first_line=b.line, lemmas=lemmas)})
    return out


def certificates_html(examples: list, max_lines: int = 40):
    """Certificates side by side with their checker verdicts."""
    from IPython.display import HTML

    from proofgpt.widgets import verdict_html

    cells = []
    for ex in examples:
        text = "\n".join(ex["text"].split("\n")[:max_lines])
        cells.append(
            f'<div style="flex:1;min-width:220px"><b>{html.escape(ex["label"])}</b><br>{verdict_html(ex["verdict"])}'
            f'<pre style="white-space:pre-wrap;font-size:11px">{html.escape(text)}</pre></div>'
        )
    return HTML(f'<div style="display:flex;gap:12px;flex-wrap:wrap">{"".join(cells)}</div>')


def verdict_summary(examples: list) -> list:
    from proofgpt.check import verdict_text

    return [{"label": ex["label"], "verdict": verdict_text(ex["verdict"])} for ex in examples]


# --------------------------------------------------------------------------------------------
# 02 split and packing


def read_split(wb: Workbook) -> dict:
    """The split manifest (split.json beside train.txt) and the three corpora's texts."""
    from proofgpt.data import read_corpus

    manifest = json.loads((wb.train.parent / "split.json").read_text(encoding="utf-8"))
    return {
        "manifest": manifest,
        "corpus": [b.text for b in read_corpus(wb.corpus)],
        "train": [b.text for b in read_corpus(wb.train)],
        "val": [b.text for b in read_corpus(wb.val)],
    }


def cert_bytes(texts: list) -> list:
    """UTF-8 bytes per certificate: ["ab", "→"] -> [2, 3]."""
    return [len(t.encode("utf-8")) for t in texts]


def strata_rows(manifest: dict) -> list:
    """split.json's strata -> rows {stratum, train, val, val %}, plus a total row."""
    rows = []
    for s, c in sorted(manifest["strata"].items()):
        n = c["train"] + c["val"]
        rows.append({"stratum": s, "train": c["train"], "val": c["val"], "val %": round(100 * c["val"] / max(n, 1), 1)})
    tt, tv = sum(r["train"] for r in rows), sum(r["val"] for r in rows)
    rows.append({"stratum": "total", "train": tt, "val": tv, "val %": round(100 * tv / max(tt + tv, 1), 1)})
    return rows


def split_integrity(corpus: list, train: list, val: list) -> dict:
    """Is train + val exactly the corpus's certificates, none cut, none on both sides?

    corpus ["a", "b", "c"], train ["a", "c"], val ["b"] ->
    {"lossless": True, "n_cut": 0, "n_shared": 0, "n_shared_statements": 0, ...}
    """
    from proofgpt.split import statement_of

    whole = collections.Counter(corpus)
    n_cut = sum(1 for t in train + val if t not in whole)  # a text that is no corpus certificate
    shared = set(train) & set(val)
    shared_statements = {statement_of(t) for t in train} & {statement_of(t) for t in val}
    ok = collections.Counter(train) + collections.Counter(val) == whole
    return {
        "n_corpus": len(corpus),
        "n_train": len(train),
        "n_val": len(val),
        "lossless": ok,  # the multiset train + val equals the corpus
        "n_cut": n_cut,
        "n_shared": len(shared),
        "n_shared_statements": len(shared_statements),
        "val_frac_bytes": sum(len(t.encode()) for t in val) / max(sum(len(t.encode()) for t in corpus), 1),
    }


def packing_efficiency(texts: list, ctxs=(512, 1024)) -> dict:
    """Pack the texts at each ctx -> {"rows": table rows, "packed": {ctx: Packed}}."""
    from proofgpt.pack import pack_proofs, unpack

    packed, rows = {}, []
    for ctx in ctxs:
        p = pack_proofs(texts, ctx)
        packed[ctx] = p
        rows.append(
            {
                "ctx": ctx,
                "rows": len(p),
                "efficiency %": round(100 * p.stats["efficiency"], 2),
                "split certificates": p.stats.get("n_split", 0),
                "round trip": unpack(p) == list(texts),
            }
        )
    return {"rows": rows, "packed": packed}


# --------------------------------------------------------------------------------------------
# 03 model build


def build_model(cfg, seed: int = 0):
    """The profile's GPT, freshly initialised with `seed`."""
    import dataclasses

    import torch

    from proofgpt.model import GPT, GPTConfig

    torch.manual_seed(seed)
    return GPT(GPTConfig(**dataclasses.asdict(cfg.model)))


def param_rows(model, plan=PLAN_PARAMS) -> list:
    """model.param_table() as rows with shares, plus the total and the plan's seed model."""
    from proofgpt.model import GPT, GPTConfig

    total = model.num_params()
    rows = [{"module": g, "params": n, "share %": round(100 * n / total, 1)} for g, n in model.param_table()]
    rows.append({"module": "total (this profile)", "params": total, "share %": 100.0})
    seed_total = GPT(GPTConfig()).num_params()  # 0.3 s on CPU (the meta device takes ~10x longer)
    rows.append({"module": f"seed model (plan: {plan[0] / 1e6:.0f}-{plan[1] / 1e6:.0f}M)", "params": seed_total, "share %": ""})
    return rows


def forward_check(model, texts: list, n_rows: int = 8, seed: int = 0) -> dict:
    """One forward pass at init over packed val rows: loss against ln(256) (uniform bytes)."""
    import torch

    from proofgpt.pack import batch, pack_proofs

    ctx = model.config.ctx
    packed = pack_proofs(texts[: max(4 * n_rows, 64)], ctx)
    x, y = batch(packed, list(range(min(n_rows, len(packed)))))  # (B, T) each
    model.eval()
    with torch.no_grad():
        logits, loss = model(x, y)
    return {
        "x_shape": list(x.shape),
        "logits_shape": list(logits.shape),
        "init_loss": float(loss),
        "ln_256": math.log(256),
        "init_loss_minus_ln256": float(loss) - math.log(256),
    }


def flops_rows(model, ctxs=(None,)) -> list:
    """Training FLOPs per token (6N + 12 L d T) and per optimizer step of tokens."""
    rows = []
    for T in sorted({ctx or model.config.ctx for ctx in ctxs}):  # None = the model's own ctx
        f = model.flops_per_token(T)
        rows.append({"ctx": T, "params (non-embedding)": model.num_params(non_embedding=True), "flops/token (fwd+bwd)": f, "6N share %": round(100 * 6 * model.num_params(non_embedding=True) / f, 1)})
    return rows


# --------------------------------------------------------------------------------------------
# 04 training


def read_metrics(run_dir) -> list:
    """runs/<name>/metrics.jsonl -> list of dicts (a torn last line from a crash is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def train_or_load(wb: Workbook) -> dict:
    """Load a finished run, resume an interrupted one, or train from scratch: whichever applies."""
    from proofgpt.train import train

    metrics = read_metrics(wb.run_dir)
    if any(r.get("kind") == "stop" for r in metrics):
        return {"action": "loaded finished run", "run_dir": str(wb.run_dir)}
    resume = (wb.run_dir / "ckpt" / "last.pt").exists()
    t0 = time.time()
    result = train(wb.cfg, wb.run_dir, resume=resume, progress=True)
    return {"action": "resumed" if resume else "trained", "run_dir": str(wb.run_dir), "elapsed_s": round(time.time() - t0, 1), "result": result}


def training_summary(metrics: list) -> dict:
    """Best and last eval, stop reason, train/val gap at the best step."""
    evals = [r for r in metrics if r.get("kind") == "eval" and r.get("val_loss") is not None]
    trains = [r for r in metrics if r.get("kind") == "train"]
    stops = [r for r in metrics if r.get("kind") == "stop"]
    best = min(evals, key=lambda r: r["val_loss"]) if evals else {}
    last = evals[-1] if evals else {}
    return {
        "n_steps": trains[-1]["step"] if trains else 0,
        "n_evals": len(evals),
        "best_step": best.get("step"),
        "best_val_loss": best.get("val_loss"),
        "best_val_bpb": best.get("val_bpb"),
        "best_train_loss": best.get("train_loss"),
        "train_val_gap": (best["val_loss"] - best["train_loss"]) if best.get("train_loss") is not None else None,
        "last_val_loss": last.get("val_loss"),
        "last_verified_pct": last.get("verified_pct"),
        "last_structural_pct": last.get("structural_pct"),
        "stop_reason": stops[-1].get("reason") if stops else None,
        "tokens_per_s": trains[-1].get("tokens_per_s") if trains else None,
        "elapsed_s": trains[-1].get("elapsed_s") if trains else None,
    }


def checkpoint_rows(run_dir) -> list:
    """The run's checkpoints with the step / val loss their JSON sidecars record."""
    rows = []
    for pt in sorted((Path(run_dir) / "ckpt").glob("*.pt")):
        side = pt.with_suffix(".json")
        meta = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
        meta = meta.get("state", meta)  # train.py keeps the loop state under "state"
        rows.append(
            {
                "file": pt.name,
                "step": meta.get("step", ""),
                "epoch": meta.get("epoch", ""),
                "val_loss": meta.get("val_loss", meta.get("best_val_loss", "")),
                "MB": round(pt.stat().st_size / 1e6, 2),
            }
        )
    return rows


def entropy_bound(wb: Workbook):
    """The corpus's entropy bound in bits/byte (manifest, else meta), or None for a user's corpus."""
    m = paths.manifest_path(wb.corpus)
    if m.exists():
        v = json.loads(m.read_text(encoding="utf-8")).get("entropy_bound_bpb")
        if v is not None:
            return v
    from proofgpt.data import read_meta

    meta = read_meta(wb.corpus)
    if meta is None:
        return None
    return -sum(sum(x["log2p"]) for x in meta) / wb.corpus.stat().st_size


# --------------------------------------------------------------------------------------------
# 05 sample analysis


def load_best(wb: Workbook):
    """The run's best checkpoint (train.load_model picks it), in eval mode."""
    from proofgpt.train import load_model

    model, meta = load_model(wb.run_dir)
    model.eval()
    return model


def complete_examples(model, certs: list, n: int = 4, seed: int = 0, **sample_kwargs) -> dict:
    """Complete the first n val theorems once each (evaluate.complete_theorems) -> its result,
    whose "samples" hold prompt, completion, truth and the verdict fields."""
    from proofgpt.evaluate import complete_theorems
    from proofgpt.widgets import sampling_threads

    with sampling_threads(1):  # see widgets.sampling_threads: 0.8 s vs 67 s on a busy box
        return complete_theorems(model, certs[:n], k=1, sample_kwargs=sample_kwargs, seed=seed)


def completions_html(result: dict):
    """Each sample beside its ground truth, with the checker's verdict."""
    from IPython.display import HTML

    from proofgpt.widgets import verdict_html

    parts = []
    for r in result["samples"]:
        parts.append(
            f'<div style="border-top:1px solid #ccc;padding-top:4px">{html.escape(r["theorem"])}: {verdict_html(r)}'
            f'<div style="display:flex;gap:12px">{_pre(r["prompt"] + r["completion"], "sample")}{_pre(r["prompt"] + r["truth"], "ground truth")}</div></div>'
        )
    return HTML("".join(parts))


def sampling_sweep(model, certs: list, temperatures=(0.5, 0.8, 1.0), top_ps=(0.9, 1.0), n: int = 8, seed: int = 0, max_new_tokens: int = 256) -> list:
    """Verified / structural % of n val completions at each (temperature, top_p)."""
    from proofgpt.evaluate import complete_theorems
    from proofgpt.widgets import sampling_threads

    rows = []
    for top_p in top_ps:
        for t in temperatures:
            with sampling_threads(1):
                r = complete_theorems(model, certs[:n], k=1, seed=seed, sample_kwargs=dict(temperature=t, top_p=top_p, max_new_tokens=max_new_tokens))
            rows.append({"temperature": t, "top_p": top_p, "n": r["n_samples"], "verified_pct": r["verified_pct"], "structural_pct": r["structural_pct"]})
    return rows


def sample_rows(result: dict) -> list:
    """complete_examples' samples -> short JSON rows {"theorem", "verdict", "exact"}."""
    from proofgpt.check import verdict_text

    return [{"theorem": r["theorem"], "verdict": verdict_text(r), "exact": r["exact"], "completion": r["completion"]} for r in result["samples"]]


def nearest_similarities(evaluation: dict) -> list:
    """Each unconditional sample's similarity to its nearest train certificate (eval.json)."""
    mem = evaluation.get("memorization") or {}
    return [s["nearest_similarity"] for s in mem.get("samples", [])]


def ensure_eval(wb: Workbook) -> dict:
    """runs/<name>/eval.json (pass@k, memorization, ...): written by `evaluate_run` if missing."""
    path = wb.run_dir / "eval.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from proofgpt.evaluate import evaluate_run
    from proofgpt.widgets import sampling_threads

    with sampling_threads(1):
        return evaluate_run(wb.run_dir)


def flat_rows(d: dict, prefix: str = "", skip=("samples",)) -> list:
    """Nested dict of numbers -> rows {"metric": "a.b", "value": v}; lists of samples skipped."""
    rows = []
    for k, v in d.items():
        if k in skip:
            continue
        if isinstance(v, dict):
            rows += flat_rows(v, f"{prefix}{k}.", skip)
        elif not isinstance(v, list):
            rows.append({"metric": f"{prefix}{k}", "value": v})
    return rows


def val_certificates(wb: Workbook) -> list:
    from proofgpt.data import read_corpus

    return [b.text for b in read_corpus(wb.val)]


# --------------------------------------------------------------------------------------------
# the report: parameters, execution, summary


def notebooks() -> list:
    """notebooks/NN_*.ipynb in order."""
    return sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(nb_path) -> dict:
    """{name: default value} of a notebook's `parameters` cell (via papermill.inspect_notebook)."""
    import papermill as pm

    out = {}
    for name, p in pm.inspect_notebook(str(nb_path)).items():
        try:
            out[name] = ast.literal_eval(p["default"])
        except (ValueError, SyntaxError):
            out[name] = p["default"]
    return out


def _type_ok(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def check_parameters(params: dict, nb_paths) -> None:
    """UserError for a parameter no notebook declares, or one whose type differs from the default."""
    declared = {}
    for nb in nb_paths:
        for k, v in notebook_parameters(nb).items():
            declared.setdefault(k, v)
    for k, v in params.items():
        if k not in declared:
            import difflib

            close = difflib.get_close_matches(k, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"parameter {k!r}: unknown{hint}; the notebooks' parameters are: {', '.join(declared)} (config keys go in -p section.key=value)")
        if not _type_ok(v, declared[k]):
            raise UserError(f"parameter {k!r}: expected {type(declared[k]).__name__} (default {declared[k]!r}), got {type(v).__name__} {v!r}")


def parse_param(text: str):
    """'-p key=value' -> (key, value): value read as a Python literal, else kept as a string.

    'seed=3' -> ('seed', 3); 'profile=cpu' -> ('profile', 'cpu'); 'overrides={"train.lr": 1e-3}' -> dict
    """
    if "=" not in text:
        raise UserError(f"-p {text!r}: expected key=value, e.g. -p seed=1 or -p train.lr=3e-4")
    k, v = text.split("=", 1)
    try:
        value = ast.literal_eval(v)
    except (ValueError, SyntaxError):
        value = v
    return k.strip(), value


def _git_commit() -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.PACKAGE_DIR, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.PACKAGE_DIR, capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def _read_json(path):
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def _dig(d, *keys):
    """First key path present in nested dict d: _dig(ev, ("pass_at_k",), ("pass", "k")) -> value or None."""
    for path in keys:
        cur = d
        for k in path:
            if not isinstance(cur, dict) or k not in cur:
                break
            cur = cur[k]
        else:
            return cur
    return None


def build_summary(run_dir, cfg, seed: int, timings: dict, runtime_s: float) -> dict:
    """summary.json: the run's headline numbers, from what the stages and notebooks wrote."""
    import torch

    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    ts = training_summary(metrics)
    ev = _read_json(run_dir / "eval.json")
    nb = {p.stem: _read_json(p) for p in sorted((run_dir / "nb").glob("*.json"))}
    nb01, nb05 = nb.get("01_data_exploration", {}), nb.get("05_sample_analysis", {})
    from proofgpt.config import to_dict

    saved = _read_json(run_dir / "config.json")  # {"config", "derived", "env", "data", ...} from train()
    config = saved.get("config") or to_dict(cfg)
    env = saved.get("env") or {}
    device = env.get("device_name") or env.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    return jsonable(
        {
            "profile": cfg.profile,
            "run_dir": str(run_dir),
            "val_loss": ts["best_val_loss"],
            "val_bpb": ts["best_val_bpb"],
            "train_loss": ts["best_train_loss"],
            "train_val_gap": ts["train_val_gap"],
            "best_step": ts["best_step"],
            "stop_reason": ts["stop_reason"],
            "entropy_bound_bpb": nb.get("04_training", {}).get("entropy_bound_bpb", nb01.get("overview", {}).get("entropy_bound_bpb")),
            "verified_pct": _dig(ev, ("verified_pct",), ("completions", "verified_pct")),
            "structural_pct": _dig(ev, ("structural_pct",), ("completions", "structural_pct")),
            "pass_at_k": _dig(ev, ("pass_at_k",), ("pass@k",)),
            "pass_k": _dig(ev, ("k",)),
            "duplicate_rate": _dig(ev, ("duplicate_rate",), ("memorization", "duplicate_rate"), ("memorization", "exact_dup_rate")),
            "near_dup_rate": _dig(ev, ("memorization", "near_dup_rate")),
            "unique_rate": _dig(ev, ("memorization", "unique_rate")),
            "sampling_sweep": nb05.get("sweep"),
            "runtime_s": round(runtime_s, 1),
            "notebook_runtime_s": timings,
            "seeds": {"notebooks": seed, "train": cfg.train.seed, "data": cfg.data.generate_seed, "split": cfg.data.split_seed, "sample": cfg.sample.seed},
            "config": config,
            "n_params": (saved.get("derived") or {}).get("n_params"),
            "tokens_per_step": (saved.get("derived") or {}).get("tokens_per_step"),
            "git_commit": _git_commit(),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": device,
        }
    )


def summary_markdown(s: dict) -> str:
    def f(v, nd=4):
        return "n/a" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))

    lines = [
        f"# proofgpt report: profile `{s['profile']}`",
        "",
        f"run `{s['run_dir']}` · commit `{s['git_commit']}` · torch {s['torch_version']} · {s['device']} · {s['runtime_s']} s",
        "",
        "| metric | value |",
        "|---|---|",
        f"| val loss (nats/byte, best) | {f(s['val_loss'])} |",
        f"| val bits/byte | {f(s['val_bpb'])} |",
        f"| entropy bound (bits/byte) | {f(s['entropy_bound_bpb'])} |",
        f"| train/val gap (nats) | {f(s['train_val_gap'])} |",
        f"| verified % | {f(s['verified_pct'], 1)} |",
        f"| structural % | {f(s['structural_pct'], 1)} |",
        f"| pass@{s.get('pass_k') or 'k'} (%) | {f(s['pass_at_k'], 1)} |",
        f"| duplicate rate / near-duplicate / unique | {f(s['duplicate_rate'], 3)} / {f(s.get('near_dup_rate'), 3)} / {f(s.get('unique_rate'), 3)} |",
        f"| best step / stop | {s['best_step']} / {s['stop_reason']} |",
        f"| seeds | {s['seeds']} |",
        "",
        "Notebooks: " + ", ".join(f"{k} {v} s" for k, v in s["notebook_runtime_s"].items()),
        "",
    ]
    return "\n".join(lines)


def _export_html(ipynb: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(ipynb))
    atomic_write_text(ipynb.with_suffix(".html"), body)


def run_report(profile="cpu", run=None, seed=0, overrides=None, params=None, timeout_s=None, html_export=True, only=None, log=print) -> dict:
    """Execute the notebooks into reports/<profile>/<run>/ and write summary.{md,json}.

    params: notebook parameters (beyond profile/run_dir/seed/overrides); raises UserError for
    unknown names or wrong types, ReportError naming notebook and cell when one fails.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from proofgpt.config import load_profile

    overrides = dict(overrides or {})
    cfg = load_profile(profile, overrides)  # bad overrides fail here, before any kernel starts
    run = run or Path(profile).stem
    # --run: a name (runs/<name>) or, as the other commands take it, a path to a run directory
    run_dir = paths.resolve_run(run).resolve()
    out_dir = paths.REPORTS_DIR / Path(profile).stem / run_dir.name
    nbs = [nb for nb in notebooks() if not only or nb.name[:2] in only]
    if not nbs:
        raise UserError(f"{paths.NOTEBOOKS_DIR}: no notebooks NN_*.ipynb" + (f" matching {only}" if only else ""))
    params = dict(params or {})
    check_parameters(params, nbs)
    seed = params.pop("seed", seed)
    if params.get("data_path"):  # relative to where the user is, not the kernel's cwd (papermill#316)
        data_path = Path(params["data_path"]).expanduser().resolve()
        if not data_path.is_file():
            raise UserError(f"{data_path}: no such corpus file (parameter data_path)")
        from proofgpt.data import read_corpus

        read_corpus(data_path)  # an empty or non-certificate file is refused now, not in notebook 01
        params["data_path"] = str(data_path)
    elif cfg.data.generate_chars == 0:  # fail before five kernels start, not in the first cell
        corpus = Path(cfg.data.path) if Path(cfg.data.path).is_absolute() else paths.ROOT / cfg.data.path
        if not corpus.is_file():
            raise UserError(f"{corpus}: no such corpus; run `make data` first (or pass -p data_path=FILE)")
    parameters = {"profile": str(profile), "run_dir": str(run_dir), "seed": int(seed), "overrides": overrides, **params}
    check_parameters(parameters, nbs)
    timeout_s = timeout_s or cfg.report.execution_timeout_s
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start, timings = time.time(), {}
    for nb in nbs:
        out = out_dir / nb.name
        t0 = time.time()
        log(f"report: {nb.name} -> {out.relative_to(paths.ROOT) if out.is_relative_to(paths.ROOT) else out}")
        try:
            pm.execute_notebook(
                str(nb.resolve()),
                str(out.resolve()),
                parameters=parameters,
                kernel_name=cfg.report.kernel_name,
                cwd=str(paths.ROOT),
                execution_timeout=timeout_s,
                progress_bar=False,
                # the kernel's own log: quiet its per-start "TCP without encryption" warning (localhost)
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except PapermillExecutionError as e:
            _try_export(out, html_export)
            rel = nb.relative_to(paths.ROOT) if nb.is_relative_to(paths.ROOT) else nb
            evalue = str(e.evalue).strip().splitlines()[-1] if str(e.evalue).strip() else ""
            raise ReportError(
                f"{rel}: cell {e.cell_index} (In [{e.exec_count}]) failed: {e.ename}: {evalue} "
                f"(partial report: {out})"
            ) from None
        except Exception as e:  # kernel died, timeout, no such kernel, ...
            _try_export(out, html_export)
            rel = nb.relative_to(paths.ROOT) if nb.is_relative_to(paths.ROOT) else nb
            msg = (str(e).strip().splitlines() or [""])[-1]
            raise ReportError(f"{rel}: {type(e).__name__}: {msg} (partial report: {out})") from None
        timings[nb.stem] = round(time.time() - t0, 1)
        _try_export(out, html_export)
    summary = build_summary(run_dir, cfg, seed, timings, time.time() - t_start)
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary))
    log(f"report: {out_dir / 'summary.md'}")
    return summary


def _try_export(out: Path, html_export: bool):
    if html_export and out.exists():
        try:
            _export_html(out)
        except Exception as e:  # an export problem must not hide the notebook's own result
            print(f"proofgpt: warning: HTML export of {out.name} failed: {e}", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt report", description="Execute the five notebooks with papermill into reports/<profile>/<run>/ and summarise the run.")
    ap.add_argument("--profile", default="cpu", help="configs/<profile>.yaml (default cpu)")
    ap.add_argument("--run", default=None, help="run name (runs/<run>/) or a run directory; the report goes to reports/<profile>/<its name>/ (default: the profile's name)")
    ap.add_argument("--seed", type=int, default=0, help="the notebooks' seed for sampling and example picks (default 0)")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell execution timeout in seconds (default: the profile's report.execution_timeout_s)")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                    help="a notebook parameter (e.g. data_path=my.txt) or a config override (section.key=value, e.g. train.lr=3e-4); repeatable")
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers to run, e.g. 01,02 (default: all)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML exports")
    args = ap.parse_args(argv)
    overrides, params, dotted = {}, {}, []
    declared = {k: v for nb in notebooks() for k, v in notebook_parameters(nb).items()}
    for text in args.param:
        k, v = parse_param(text)
        if isinstance(declared.get(k), str):
            v = text.split("=", 1)[1]  # a string parameter keeps its text: -p data_path=2024.txt
        if k in ("profile", "run_dir"):  # they also name the output folders
            raise UserError(f"-p {k}: use --{'run' if k == 'run_dir' else k} instead")
        if "." in k:
            dotted.append(text)  # parsed by the config's own rules ('none', '3e-4', ...)
        elif k == "overrides":
            if not isinstance(v, dict):
                raise UserError(f"parameter 'overrides': expected dict, got {type(v).__name__} {v!r}")
            overrides.update(v)
        else:
            params[k] = v
    if dotted:
        from proofgpt.config import load_profile

        cfg = load_profile(args.profile, dotted)
        for text in dotted:  # typed values back from the config, for the notebooks' dict
            section, name = text.split("=", 1)[0].strip().split(".", 1)
            overrides[f"{section}.{name}"] = getattr(getattr(cfg, section), name)
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    try:
        s = run_report(args.profile, args.run, args.seed, overrides, params, args.timeout, not args.no_html, only)
    except ReportError as e:
        print(f"proofgpt: error: {e}", file=sys.stderr)
        return 1
    print(summary_markdown(s))
    return 0
