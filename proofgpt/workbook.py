"""The notebooks' side of the package: every computation a notebook shows, as a function.

The five notebooks hold no logic: after their `parameters` cell they call `setup(...)` and the
helpers below (one section per notebook), then display what comes back. Each helper returns
plain data or an IPython HTML object, and `save_json` leaves a notebook's numbers in
runs/<run>/nb/<notebook>.json, where tests and the report summary read them.

Notebook 04 trains (or resumes, or loads) the run; the others only read what it left, and
notebook 05 says what to run when there is no finished run.

A data.format=text run (any file, as bytes) has no certificates: the notebooks show what applies
to any corpus (byte statistics, the contiguous split, the model's forward pass and training, its
val loss over ctx-byte windows, unconditional samples), and their certificate-only cells are
guarded by `wb.certificates`, with `skip_note` saying in one line what skips and why.
"""

import collections
import contextlib
import dataclasses
import html
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from IPython.display import HTML, Markdown, display

from proofgpt import paths
from proofgpt.certificate import class_key, lemma_table, name_of, read_meta, read_texts
from proofgpt.check import check_certificate, verdict_text
from proofgpt.checkpoint import load_model, weights_sha256
from proofgpt.config import NO_CERTIFICATES, ModelConfig, SampleConfig, apply_overrides
from proofgpt.data import TEST_SETS, checkpoint_data, corpus_entropy_bound, read_split_file, run_data
from proofgpt.diagnose import Diagnosis
from proofgpt.errors import UserError
from proofgpt.evaluate import METHODS, bucket_order, complete_theorems, evaluate_run, grade
from proofgpt.io import atomic_write_json, claim_run_dir, read_json, read_jsonl
from proofgpt.model import GPT
from proofgpt.pack import Packed, batch, eval_rows, pack_proofs, unpack, windows
from proofgpt.plots import training_curves
from proofgpt.sample import UNCONDITIONAL_PROMPT, generate, sampling_threads
from proofgpt.search import prove
from proofgpt.stats import byte_stats, corpus_stats, statement_class_key
from proofgpt.train import estimate_loss, train

PLAN_PARAMS = (10e6, 12e6)  # the training plan: "Approximately 10-12M parameters"
# what each notebook's certificate-only cells show, which a data.format=text run skips (skip_note)
CERTIFICATE_ONLY = {
    "01_data_exploration": "certificates by structure and family, proof lengths and term sizes, statement classes, "
                           "the blind search, markers, example certificates with verdicts, the entropy bound",
    "02_proof_boundary_splitting": "the stratified split per stratum and certificate lengths, the no-cut and "
                                   "no-shared-statement checks, held-out test sets, packing",
    "05_sample_analysis": "completions of val theorems, verified % against temperature and top-p, the evaluation "
                          "against baselines, the budget curve, proof search, memorization, the sampler widget",
}


# --------------------------------------------------------------------------------------------
# what the parameters cell resolves to


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

    @property
    def certificates(self) -> bool:
        """False for a data.format=text run: the notebooks' certificate-only cells skip."""
        return self.cfg.data.format != "text"

    def _repr_html_(self):
        rows = [("profile", self.profile), ("run_dir", self.run_dir), ("seed", self.seed), ("data.path", self.cfg.data.path),
                ("data.generate_chars", self.cfg.data.generate_chars), ("data.format", self.cfg.data.format)]
        return _table_html([{"": k, "value": str(v)} for k, v in rows])


def setup(cfg, profile: str, run_dir: str = "", seed: int = 0, data_path: str = "") -> Workbook:
    """Resolve a notebook's parameters: run_dir "" -> runs/<profile>; data_path "" -> the profile's.

    data_path, when given, replaces the config's data.path (a corpus of your own) and turns
    off generation.
    """
    if data_path:
        cfg = apply_overrides(cfg, {"data.path": str(data_path), "data.generate_chars": 0})
    run = Path(run_dir) if run_dir else paths.run_dir(profile)
    run = run if run.is_absolute() else paths.ROOT / run
    if cfg.train.threads:  # the profile's torch threads, as train() uses (a tiny model is faster on one)
        torch.set_num_threads(cfg.train.threads)
    return Workbook(profile, cfg, run, int(seed))


def _trained_on(run_dir: Path):
    """The train file's sha256 a run with checkpoints recorded in config.json, else None."""
    if not any((run_dir / "ckpt").glob("*.pt")):
        return None
    data = read_json(run_dir / "config.json").get("data")
    return data.get("train_sha256") if isinstance(data, dict) else None


def _set_data(wb: Workbook, files: dict) -> dict:
    wb.corpus, wb.train, wb.val = (Path(files[k]) for k in ("corpus", "train", "val"))
    return {k: str(v) for k, v in files.items()}


def ensure_data(wb: Workbook) -> dict:
    """Find or make the run's corpus and train/val split (data.run_data: the trainer's own rule);
    for a run that has checkpoints, exactly the split they were trained on, or a UserError.
    The run dir is claimed first (io.claim_run_dir): the notebooks write into it too."""
    claim_run_dir(wb.run_dir)
    return _set_data(wb, run_data(wb.cfg, wb.run_dir, _trained_on(wb.run_dir)))


def skip_note(wb: Workbook, notebook: str):
    """One line for a text run: which certificate-only parts of `notebook` skip, and why (nothing
    for a certificate run)."""
    if wb.certificates:
        return Markdown("")
    return Markdown(f"**Skipped** ({NO_CERTIFICATES} to parse, check or complete): {CERTIFICATE_ONLY[notebook]}.")


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
    return HTML(_table_html(rows, columns, caption))


def _code(text) -> str:
    """text as an escaped, wrapping <pre> block (every listing the notebooks show)."""
    return f'<pre style="white-space:pre-wrap;font-size:11px">{html.escape(text)}</pre>'


def _pre(text, title=""):
    return f'<div style="flex:1;min-width:0"><b>{html.escape(title)}</b>{_code(text)}</div>'


def verdict_html(v) -> str:
    """A Verdict (or evaluate's sample record) as a coloured span with a stable class (proofgpt-verdict-verified, ...)."""
    get = v.get if isinstance(v, dict) else lambda key: getattr(v, key)
    verified, structural = get("verified"), get("structural")
    colour = "#1a7f37" if verified else "#9a6700" if structural else "#cf222e"
    kind = "verified" if verified else "structural" if structural else "rejected"
    return (
        f'<span class="proofgpt-verdict proofgpt-verdict-{kind}" style="color:{colour};font-weight:bold">'
        f"{html.escape(verdict_text(v))}</span>"
    )


# --------------------------------------------------------------------------------------------
# 01 data exploration


def corpus_bytes(wb: Workbook) -> dict:
    """stats.byte_stats of the run's corpus file as it is on disk: certificates or any text."""
    return byte_stats(wb.corpus.read_bytes())


def byte_rows(bs: dict) -> list:
    """byte_stats' headline numbers as table rows."""
    labels = {"n_file_bytes": "bytes", "n_lines": "lines", "n_distinct_bytes": "distinct byte values",
              "unigram_bpb": "unigram entropy (bits/byte; uniform bytes: 8)"}
    return [{"quantity": label, "value": bs[k]} for k, label in labels.items()]


def first_lines(path, n: int = 8, max_chars: int = 160):
    """The first n lines of a file (bytes that are not UTF-8 shown as U+FFFD, long lines cut), as a <pre>."""
    with open(path, "rb") as f:
        lines = [f.readline() for _ in range(n)]
    text = "\n".join(line.rstrip(b"\n").decode("utf-8", errors="replace")[:max_chars] for line in lines if line)
    return HTML(_code(text))


def overview_rows(ov: dict) -> list:
    """The headline numbers of `stats.corpus_stats` as table rows."""
    keys = ("n_certificates", "n_file_bytes", "n_chars", "n_lines", "bytes_per_char", "n_distinct_bytes", "unigram_bpb",
            "entropy_bound_bpb")
    rows = [{"quantity": k, "value": ov[k] if ov.get(k) is not None else "n/a (no generator meta)"} for k in keys]
    rows += [{"quantity": f"lines starting {m!r}", "value": n} for m, n in ov["markers"].items()]
    return rows


def example_verdicts(blocks, n: int = 3, seed: int = 0, corrupt: bool = True) -> list:
    """Check n seeded-random certificates; with corrupt, also one with a goal line broken on purpose.

    -> [{"name", "line", "text", "verdict"}]; the corrupted copy shows what a rejection looks like.
    """
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
    cells = []
    for ex in examples:
        text = "\n".join(ex["text"].split("\n")[:max_lines])
        cells.append(
            f'<div style="flex:1;min-width:220px"><b>{html.escape(ex["label"])}</b><br>{verdict_html(ex["verdict"])}'
            f'{_code(text)}</div>'
        )
    return HTML(f'<div style="display:flex;gap:12px;flex-wrap:wrap">{"".join(cells)}</div>')


def verdict_summary(examples: list) -> list:
    return [{"label": ex["label"], "verdict": verdict_text(ex["verdict"])} for ex in examples]


def held_out_stats(wb: Workbook) -> dict:
    """stats.corpus_stats of val and of each held-out test set beside it that exists: {name: stats}."""
    out = {}
    for name in ("val",) + TEST_SETS:
        path = wb.val.parent / f"{name}.txt"
        if path.exists():
            out[name] = corpus_stats(read_texts(path), read_meta(path))
    return out


def baseline_rows(held: dict) -> list:
    """The blind search's solve rate by proof length (tactic lines) per set, from meta `shortest`:
    {"val": {"baseline_by_steps": {3: {"total": 4, "found": 3}}}} -> [{"proof lines": 3, "val": "3/4 (75%)"}]"""
    rows = {}
    for name, st in held.items():
        for k, v in st.get("baseline_by_steps", {}).items():
            rows.setdefault(int(k), {"proof lines": int(k)})[name] = f"{v['found']}/{v['total']} ({v['found'] / v['total']:.0%})"
    return [rows[k] for k in sorted(rows)]


# --------------------------------------------------------------------------------------------
# 02 split and packing


def split_sizes(wb: Workbook) -> dict:
    """Bytes of the corpus, train and val and val's share; for a text run also whether train + val
    is the corpus cut once (contiguous) and how many ctx-byte windows the val loss averages over."""
    corpus, train_b, val_b = (p.read_bytes() for p in (wb.corpus, wb.train, wb.val))
    out = {"n_corpus_bytes": len(corpus), "n_train_bytes": len(train_b), "n_val_bytes": len(val_b),
           "val_frac_bytes": len(val_b) / max(1, len(train_b) + len(val_b))}
    if not wb.certificates:
        out["contiguous"] = train_b + val_b == corpus  # the first 1 - data.val_frac bytes train, the rest val
        out["n_val_windows"] = len(windows(val_b, wb.cfg.model.ctx, str(wb.val)))
    return out


def test_set_rows(wb: Workbook) -> list:
    """data/test.json as rows {set, certificates, seed, facts, sha256}; [] when there are no held-out sets."""
    path = wb.val.parent / "test.json"
    if not path.exists():
        return []
    m = json.loads(path.read_text(encoding="utf-8"))
    return [{"set": k, "certificates": v["n_certificates"], "seed": v["seed"], "facts": v["facts"],
             "sha256": v["sha256"][:16] + "…"} for k, v in m["sets"].items()]


def shared_classes(wb: Workbook) -> list:
    """Statement classes two sets share, for every pair of train, val and the held-out sets present:
    rows {a, b, shared} (all 0 for a `make data` output)."""
    sets = {"train": wb.train, "val": wb.val}
    sets.update({n: wb.val.parent / f"{n}.txt" for n in TEST_SETS if (wb.val.parent / f"{n}.txt").exists()})
    classes = {k: {statement_class_key(t) for t in read_texts(p)} for k, p in sets.items()}
    names = list(classes)
    return [{"a": a, "b": b, "shared": len(classes[a] & classes[b])} for i, a in enumerate(names) for b in names[i + 1:]]


def read_split(wb: Workbook) -> dict:
    """The split manifest (split.json beside train.txt) and the three corpora's texts."""
    manifest = json.loads((wb.train.parent / "split.json").read_text(encoding="utf-8"))
    return {"manifest": manifest, "corpus": read_texts(wb.corpus), "train": read_texts(wb.train),
            "val": read_texts(wb.val)}


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
    """Is train + val exactly the corpus's certificates, none cut, none (and no statement class) on both sides?

    corpus ["a", "b", "c"], train ["a", "c"], val ["b"] ->
    {"lossless": True, "n_cut": 0, "n_shared": 0, "n_shared_statements": 0, ...}
    """
    whole = collections.Counter(corpus)
    n_cut = sum(1 for t in train + val if t not in whole)  # a text that is no corpus certificate
    shared = set(train) & set(val)
    shared_statements = {class_key(t) for t in train} & {class_key(t) for t in val}  # the split's groups
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
    torch.manual_seed(seed)
    return GPT(cfg.model)


def param_rows(model, plan=PLAN_PARAMS) -> list:
    """model.param_table() as rows with shares, plus the total and the plan's seed model."""
    total = model.num_params()
    rows = [{"module": g, "params": n, "share %": round(100 * n / total, 1)} for g, n in model.param_table()]
    rows.append({"module": "total (this profile)", "params": total, "share %": 100.0})
    seed_total = GPT(ModelConfig()).num_params()  # 0.3 s on CPU (the meta device takes ~10x longer)
    rows.append({"module": f"seed model (plan: {plan[0] / 1e6:.0f}-{plan[1] / 1e6:.0f}M)", "params": seed_total, "share %": ""})
    return rows


def val_rows(wb: Workbook) -> Packed:
    """The val rows training measures its loss over (pack.eval_rows): packed certificates, or
    for a text run every non-overlapping ctx-byte window of val."""
    return eval_rows(read_split_file(wb.cfg, wb.val), wb.cfg.model.ctx, str(wb.val))


def forward_check(model, rows: Packed, n_rows: int = 8) -> dict:
    """One forward pass at init over the first n_rows val rows: loss against ln(256) (uniform bytes)."""
    x, y = (torch.from_numpy(a) for a in batch(rows, list(range(min(n_rows, len(rows))))))  # (B, T) each
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
    return read_jsonl(Path(run_dir) / "metrics.jsonl")


def train_or_load(wb: Workbook, live: bool = True) -> dict:
    """Load a finished run, resume an interrupted one, or train from scratch: whichever applies.
    (Notebook 04, the training notebook, calls this; the others only load what it left.)
    live: redraw the curves in the cell's output at every evaluation while it trains."""
    metrics = read_metrics(wb.run_dir)
    if any(r.get("kind") == "stop" for r in metrics):
        return {"action": "loaded finished run", "run_dir": str(wb.run_dir)}
    resume = (wb.run_dir / "ckpt" / "last.pt").exists()
    t0 = time.time()
    handle = display(HTML("<i>live curves: drawn at each evaluation</i>"), display_id=True) if live else None
    redraw = None if handle is None else live_curves(handle, wb.run_dir, entropy_bound(wb))
    result = train(wb.cfg, wb.run_dir, resume=resume, progress=True, on_eval=redraw)
    if handle is not None:  # the final figure is the notebook's own next section: one figure, one place
        handle.update(HTML("<i>training finished: the final curves are under Curves</i>"))
    return {"action": "resumed" if resume else "trained", "run_dir": str(wb.run_dir), "elapsed_s": round(time.time() - t0, 1), "result": result}


def live_curves(handle, run_dir, entropy_bound_bpb=None):
    """An on_eval callback for train(): redraw plots.training_curves from metrics.jsonl into an
    IPython display handle (JupyterLab and papermill both update it in place)."""

    def redraw(eval_row):
        handle.update(training_curves(read_metrics(run_dir), entropy_bound_bpb))

    return redraw


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
    """The corpus's entropy bound in bits/byte (data.entropy_bound), or None for a user's corpus."""
    return corpus_entropy_bound(wb.corpus)


# --------------------------------------------------------------------------------------------
# 05 sample analysis


def finished_run(wb: Workbook) -> dict:
    """The finished training of wb.run_dir (its stop row), or a UserError saying what to run."""
    stops = [r for r in read_metrics(wb.run_dir) if r.get("kind") == "stop"]
    if not stops:
        raise UserError(f"{wb.run_dir}: no finished training run here; train it first with "
                        f"`python -m proofgpt train --profile {wb.profile} --run {wb.run_dir}` "
                        f"(or run notebook 04_training)")
    return stops[-1]


def load_best(wb: Workbook):
    """The run's best checkpoint (checkpoint.load_model picks it), in eval mode; wb's data
    becomes the split it was trained on (data.checkpoint_data), or a UserError."""
    model, meta = load_model(wb.run_dir)
    _set_data(wb, checkpoint_data(meta, wb.run_dir))
    model.eval()
    return model


def complete_examples(model, certs: list, n: int = 4, seed: int = 0, **sample_kwargs) -> dict:
    """Complete the first n val theorems once each (evaluate.complete_theorems) -> its result,
    whose "samples" hold prompt, completion, truth and the verdict fields."""
    with sampling_threads(1):  # see sample.sampling_threads
        return complete_theorems(model, certs[:n], k=1, sample_kwargs=sample_kwargs, seed=seed)


def search_examples(model, certs: list, n: int = 4, mode: str = "premises", **search_kwargs) -> dict:
    """Prove the first n val theorems by model-guided search (search.prove) -> {"samples": records
    for completions_html}: the searched certificate (not found: the deepest partial proof, closed
    with rfl, qed) beside the ground truth, with the checker's verdict as `mode` grades it."""
    records = []
    with sampling_threads(1):
        for cert in certs[:n]:
            r = prove(model, cert, prompt_mode=mode, **search_kwargs)
            text = r.certificate if r.found else r.best_partial + "rfl\nqed"
            how = f"{r.expansions} expansions, {r.tokens} tokens" + ("" if r.found else f", {r.reason}")
            records.append({"theorem": f"{name_of(cert)} ({how})", "prompt": "", "completion": text, "truth": cert,
                            "exact": text.strip() == cert.strip(), **grade(text, mode)})
    return {"samples": records}


def completions_html(result: dict):
    """Each sample beside its ground truth, with the checker's verdict."""
    parts = []
    for r in result["samples"]:
        parts.append(
            f'<div style="border-top:1px solid #ccc;padding-top:4px">{html.escape(r["theorem"])}: {verdict_html(r)}'
            f'<div style="display:flex;gap:12px">{_pre(r["prompt"] + r["completion"], "sample")}{_pre(r["prompt"] + r["truth"], "ground truth")}</div></div>'
        )
    return HTML("".join(parts))


def sampling_sweep(model, certs: list, temperatures=(0.5, 0.8, 1.0), top_ps=(0.9, 1.0), n: int = 8, seed: int = 0, max_new_tokens: int = SampleConfig().max_new_tokens) -> list:
    """Verified / structural % of n val completions at each (temperature, top_p)."""
    rows = []
    for top_p in top_ps:
        for t in temperatures:
            with sampling_threads(1):
                r = complete_theorems(model, certs[:n], k=1, seed=seed, sample_kwargs=dict(temperature=t, top_p=top_p, max_new_tokens=max_new_tokens))
            rows.append({"temperature": t, "top_p": top_p, "n": r["n_samples"], "verified_pct": r["verified_pct"], "structural_pct": r["structural_pct"]})
    return rows


def sample_rows(result: dict) -> list:
    """complete_examples' samples -> short JSON rows {"theorem", "verdict", "exact"}."""
    return [{"theorem": r["theorem"], "verdict": verdict_text(r), "exact": r["exact"], "completion": r["completion"]} for r in result["samples"]]


def nearest_similarities(evaluation: dict) -> dict:
    """Similarity to the nearest train certificate of each unconditional sample and of each real
    held-out certificate (the reference), from eval.json."""
    mem = evaluation.get("memorization") or {}
    return {"model samples": [s["nearest_similarity"] for s in mem.get("samples", [])],
            "held-out certificates (reference)": (mem.get("reference") or {}).get("nearest_similarities", [])}


def _ci_text(ci) -> str:
    return f"{ci[0]:.1f}–{ci[1]:.1f}"


def method_rows(evaluation: dict) -> list:
    """eval.json's methods as one table: per set and prompt mode, the model and each baseline with
    verified % and its 95 % interval, valid steps, structural %, and the model's pass@1 / pass@k."""
    rows = []
    for name, st in evaluation["sets"].items():
        for mode, r in st["modes"].items():
            for method, m in _in_order(r["methods"]).items():
                rows.append({"set": name, "mode": mode, "method": method, "verified %": round(m["pct"], 1),
                             "95% CI": _ci_text(m["ci95"]), "attempts": m["n"],
                             "valid steps": round(m["mean_valid_steps"] or 0, 2),
                             "structural %": round(m["structural_pct"], 1),
                             "pass@1 (95% CI)": f"{m['pass_at_1']:.1f} ({_ci_text(m['pass_at_1_ci95'])})" if "pass_at_1" in m else "",
                             f"pass@{evaluation['k']} (95% CI)": f"{m['pass_at_k']:.1f} ({_ci_text(m['pass_at_k_ci95'])})" if "pass_at_k" in m else "",
                             "verified: proof in train / not": (f"{m['verified_copied_from_train']} / {m['verified_not_in_train']}"
                                                                if "verified_copied_from_train" in m else "")})
    return rows


def eval_caption(evaluation: dict) -> str:
    """What the methods table is about, in one line (the val warning when there was no test set)."""
    first = next(iter(evaluation["sets"].values()))
    return (f"{evaluation.get('heldout_note') or 'held-out theorems'}; seeds {evaluation['seeds']}, "
            f"{evaluation['k']} samples per theorem and seed; {first['modes']['premises']['structural_means']}")


def by_length(evaluation: dict, set_name: str | None = None) -> dict:
    """{mode: {method: {bucket: rate}}} of one set (default: the first), for plots.verified_by_length."""
    st = evaluation["sets"][set_name or evaluation["heldout"]]
    return {mode: {m: dict(sorted(rows.items(), key=lambda kv: bucket_order(kv[0])))
                   for m, rows in _in_order(r["by_length"]).items()} for mode, r in st["modes"].items()}


def budget_curves(evaluation: dict, set_name: str | None = None) -> dict:
    """{mode: {method: [point per budget]}} of one set (default: the first), for plots.budget_curve."""
    st = evaluation["sets"][set_name or evaluation["heldout"]]
    return {mode: r["budget_curve"] for mode, r in st["modes"].items() if "budget_curve" in r}


def _in_order(by_method: dict) -> dict:
    """A {method: ...} dict (eval.json sorts keys) in evaluate.METHODS order: the model first."""
    return {m: by_method[m] for m in METHODS if m in by_method}


def breakdown_rows(evaluation: dict, key: str = "by_family", mode: str = "premises") -> list:
    """One row per bucket of `key` (by_length, by_shortest, by_family), verified % per method."""
    r = _in_order(evaluation["sets"][evaluation["heldout"]]["modes"][mode][key])
    buckets = sorted({b for rows in r.values() for b in rows}, key=bucket_order)
    return [{key[3:]: b, **{m: f"{rows[b]['pct']:.1f} ({rows[b]['verified']}/{rows[b]['n']})" if b in rows else ""
                            for m, rows in r.items()}} for b in buckets]


def memorization_rows(evaluation: dict) -> list:
    """The memorization figures of the model's unconditional samples beside real held-out certificates."""
    mem = evaluation.get("memorization") or {}
    ref = mem.get("reference") or {}
    keys = ("n", "duplicate_rate", "near_dup_rate", "mean_nearest_similarity", "max_nearest_similarity", "unique_rate",
            "distinct_1", "distinct_2", "distinct_3", "distinct_4")
    return [{"figure (names stripped)": k, "model samples": mem.get("n_samples") if k == "n" else mem.get(k),
             "held-out certificates": ref.get(k)} for k in keys] if mem else []


def current_eval(run_dir) -> dict | None:
    """eval.json if it graded the checkpoint load_model(run_dir) picks now (the same weights
    sha256), else None: missing, unreadable, or stale after more training or `train --force`."""
    try:
        ev = json.loads((Path(run_dir) / "eval.json").read_text(encoding="utf-8"))
        model, _ = load_model(run_dir)
    except (OSError, ValueError, UserError):
        return None
    return ev if isinstance(ev, dict) and ev.get("weights_sha256") == weights_sha256(model) else None


def ensure_eval(wb: Workbook) -> dict:
    """runs/<name>/eval.json (methods on held-out theorems, memorization, ...), (re)written by `evaluate_run` unless current."""
    ev = current_eval(wb.run_dir)
    if ev is not None:
        return ev
    # the notebook's profile says how to sample and how much to evaluate (the run's own config said how to train)
    e = wb.cfg.eval
    with sampling_threads(1):
        return evaluate_run(wb.run_dir, n_theorems=e.n_theorems, k=e.pass_k, n_unconditional=e.n_unconditional,
                            seeds=e.seeds, sample_kwargs=wb.cfg.sample.generate_kwargs())


def val_certificates(wb: Workbook) -> list:
    return read_texts(wb.val)


def val_loss_check(wb: Workbook, model) -> dict:
    """The loaded checkpoint's val loss recomputed over the rows training measures (val_rows: for a
    text run every non-overlapping ctx-byte window of val), beside the best val loss metrics.jsonl logged."""
    rows = val_rows(wb)
    device = next(model.parameters()).device
    loss = estimate_loss(model, rows, list(range(len(rows))), wb.cfg.train.eval_batch_size, device, contextlib.nullcontext())
    best = training_summary(read_metrics(wb.run_dir))
    return {"rows": "ctx-byte windows of val" if not wb.certificates else "packed val certificates",
            "n_rows": len(rows), "ctx": wb.cfg.model.ctx, "val_loss": loss, "val_bpb": loss / math.log(2),
            "logged_best_val_loss": best["best_val_loss"], "logged_best_step": best["best_step"]}


def unconditional_samples(wb: Workbook, model, n: int = 4, seed: int = 0, **sample_kwargs) -> list:
    """n samples from sample.UNCONDITIONAL_PROMPT (`@T`, or a newline for a text run), prompt included;
    a text run's are not cut at a blank line or `qed`."""
    prompt = UNCONDITIONAL_PROMPT[wb.cfg.data.format]
    with sampling_threads(1):
        out = generate(model, [prompt] * n, seed=seed, stop_at_qed=wb.certificates, **sample_kwargs)
    return [prompt + c for c in out]


def samples_html(samples: list):
    """Samples side by side, numbered."""
    return HTML(f'<div style="display:flex;gap:12px;flex-wrap:wrap">{"".join(_pre(s, f"sample {i}") for i, s in enumerate(samples))}</div>')


# --------------------------------------------------------------------------------------------
# sweep comparison (notebooks/sweep_comparison.ipynb; `proofgpt sweep` writes the same table as markdown)


def read_sweep(sweep_dir) -> dict:
    """reports/<sweep>/ (a name or a directory) -> {"dir", "name", "points": {point: {"profile",
    "overrides", "summary", "metrics"}}}; a point not yet reported has an empty summary and metrics."""
    path = Path(sweep_dir) if sweep_dir and (Path(sweep_dir).is_absolute() or "/" in str(sweep_dir)) \
        else paths.REPORTS_DIR / str(sweep_dir)
    if not sweep_dir or not (path / "sweep.json").exists():
        found = sorted(p.parent.name for p in paths.REPORTS_DIR.glob("*/sweep.json"))
        raise UserError(f"{path}: no sweep.json; set sweep_dir to a sweep under {paths.REPORTS_DIR} "
                        f"(found: {', '.join(found) or 'none; run `python -m proofgpt sweep` first'})")
    sweep = json.loads((path / "sweep.json").read_text(encoding="utf-8"))
    sweep["points"] = {p.pop("point"): p for p in sweep["points"]}
    for point, p in sweep["points"].items():
        summary_path = path / point / "summary.json"
        p["summary"] = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
        p["metrics"] = read_metrics(p["summary"]["run_dir"]) if p["summary"] else []
    bounds = [p["summary"].get("entropy_bound_bpb") for p in sweep["points"].values()]
    return {"dir": str(path), "entropy_bound_bpb": next((b for b in bounds if b is not None), None), **sweep}


def sweep_rows(sweep: dict) -> list:
    """One row per point: its profile and overrides, the headline numbers of its summary.json, the diagnosis."""
    rows = []
    for point, p in sweep["points"].items():
        s = p["summary"]
        rows.append({"point": point, "profile": p["profile"], "params": s.get("n_params"),
                     "val loss": s.get("val_loss"), "val bpb": s.get("val_bpb"), "train/val gap": s.get("train_val_gap"),
                     "best step": s.get("best_step"), "verified %": s.get("verified_pct"),
                     "diagnosis": (s.get("diagnosis") or {}).get("kind", "not run yet")})
    return rows


def sweep_metrics(sweep: dict) -> dict:
    """{point: its metrics.jsonl rows}, for plots.sweep_curves."""
    return {point: p["metrics"] for point, p in sweep["points"].items()}


def sweep_diagnoses(sweep: dict):
    """Each point's diagnosis (diagnose.Diagnosis.markdown, as summary.md has it) under its name."""
    parts = [f"### {point}\n\n{Diagnosis(**p['summary']['diagnosis']).markdown()}"
             for point, p in sweep["points"].items() if p["summary"].get("diagnosis")]
    return Markdown("\n\n".join(parts) or "no point has a report yet")

