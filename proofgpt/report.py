"""The workbook's report: execute the five notebooks with papermill, then summarise the run.

    python -m proofgpt report --profile cpu [--run NAME] [--seed 0] [--timeout S] [-p key=value ...]

writes reports/<profile>/<run>/{01..05}_*.ipynb (executed, outputs kept), an .html export of
each, and summary.md + summary.json (with the plan's diagnosis, diagnose.py). On a terminal it
shows a bar over each notebook's cells and, while a kernel trains, one over the training steps
read from metrics.jsonl (`follow_training`); `execute` is the one papermill call (sweep.py uses it
for its comparison notebook). The numbers in the summary are read from what the stages
already wrote into runs/<run>/ (config.json, metrics.jsonl, eval.json) and from the JSON each
notebook leaves in runs/<run>/nb/: the report computes nothing of its own.

The helpers the notebooks call live in workbook.py; this module only runs the notebooks and
summarises. A data.format=text run gets the same five notebooks (each shows what applies to any
corpus and says in one line what certificate-only part it skips) and a summary whose val loss is
named as the mean over ctx-byte windows of val, without the certificate rows.

Trade-off: one fresh kernel per notebook (papermill's model) costs a few seconds of start-up
and imports each, but makes every notebook prove it survives
"restart and run all" on its own, with the run directory as the only shared state.
Papermill only warns about unknown parameters (papermill#701), so `check_parameters` refuses
them against `papermill.inspect_notebook` before anything runs; a failing cell stops the
report with one line naming notebook and cell, the partial executed notebook left in place.

Before any kernel starts, a report also refuses a directory that is not proofgpt's
(io.claim_run_dir), a run another process is writing (io.check_unlocked),
a run trained with another config than the profile's (`check_same_run`: no report mixes two),
and a report folder holding another run's notebooks. Each notebook executes into a temp file
renamed into place, so a failed write (a full disk) never replaces a good earlier report.
"""

import argparse
import ast
import contextlib
import difflib
import json
import os
import sys
import threading
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from proofgpt import paths
from proofgpt.certificate import read_corpus
from proofgpt.config import NO_CERTIFICATES, apply_overrides, check_seed, load_profile, to_dict
from proofgpt.data import corpus_entropy_bound
from proofgpt.diagnose import Diagnosis, diagnose
from proofgpt.env import environment, git_commit
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, atomic_write_text, check_unlocked, claim_run_dir, read_json, saved_data_format
from proofgpt.workbook import current_eval, jsonable, read_metrics, training_summary


class ReportError(Exception):
    """A notebook failed; the message is one line naming the notebook and the cell."""


# --------------------------------------------------------------------------------------------
# the report: parameters, execution, summary


def notebooks() -> list:
    """notebooks/NN_*.ipynb in order."""
    return sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(nb_path) -> dict:
    """{name: default value} of a notebook's `parameters` cell (via papermill.inspect_notebook)."""
    import papermill as pm  # heavy (nbclient, jupyter_client): only when notebooks are inspected or run

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


def build_summary(run_dir, cfg, seed: int, timings: dict, runtime_s: float) -> dict:
    """summary.json: the run's headline numbers, from what the stages and notebooks wrote."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    ts = training_summary(metrics)
    ev = current_eval(run_dir) or {}  # evaluate.evaluate_run, if it graded the run's checkpoint of now
    mem = ev.get("memorization") or {}
    nb = {p.stem: read_json(p) for p in sorted((run_dir / "nb").glob("*.json"))}
    saved = read_json(run_dir / "config.json")  # {"config", "derived", "env", "data", ...} from train()
    derived = saved.get("derived") or {}
    env = saved.get("env") or environment()
    corpus = (saved.get("data") or {}).get("corpus")
    bound = nb.get("04_training", {}).get("entropy_bound_bpb") or (corpus_entropy_bound(corpus) if corpus else None)
    return jsonable(
        {
            "profile": cfg.profile,
            "run_dir": str(run_dir),
            "data_format": saved_data_format(saved, cfg.data.format),
            "val_loss": ts["best_val_loss"],
            "val_bpb": ts["best_val_bpb"],
            "train_loss": ts["best_train_loss"],
            "train_val_gap": ts["train_val_gap"],
            "best_step": ts["best_step"],
            "stop_reason": ts["stop_reason"],
            "entropy_bound_bpb": bound,
            "diagnosis": diagnose(metrics, bound).as_dict(),
            "verified_pct": ev.get("verified_pct"),
            "structural_pct": ev.get("structural_pct"),
            "pass_at_k": ev.get("pass_at_k"),
            "pass_k": ev.get("k"),
            "heldout": ev.get("heldout"),
            "heldout_note": ev.get("heldout_note"),
            "headline": ev.get("headline"),  # evaluate.headline: per prompt mode, model and best baseline with 95 % intervals
            "duplicate_rate": mem.get("duplicate_rate"),
            "near_dup_rate": mem.get("near_dup_rate"),
            "near_dup_rate_heldout": (mem.get("reference") or {}).get("near_dup_rate"),  # the same figure for real held-out certificates
            "unique_rate": mem.get("unique_rate"),
            "sampling_sweep": nb.get("05_sample_analysis", {}).get("sweep"),
            "runtime_s": round(runtime_s, 1),
            "notebook_runtime_s": timings,
            "seeds": {"notebooks": seed, "train": cfg.train.seed, "data": cfg.data.generate_seed, "split": cfg.data.split_seed, "sample": cfg.sample.seed},
            "config": saved.get("config") or to_dict(cfg),
            "n_params": derived.get("n_params"),
            "tokens_per_step": derived.get("tokens_per_step"),
            "git_commit": git_commit(),
            "torch_version": torch.__version__,
            "python_version": env.get("python"),
            "device": env.get("device_name") or env.get("device"),
        }
    )


def _headline_rows(s: dict) -> list:
    """The model's verified % and pass@k with their 95 % intervals beside the best baseline, per
    prompt mode, on the held-out set evaluate used (eval.json's headline)."""
    h = s.get("headline")
    if not h:
        return [f"| verified % | {'n/a' if s.get('verified_pct') is None else round(s['verified_pct'], 1)} |"]

    def ci(v):
        return f"[{v[0]:.1f}, {v[1]:.1f}]"

    where = h["set"] + (" (no test set: val, which chose the checkpoint)" if s.get("heldout_note") else "")
    rows = []
    for mode in ("premises", "theorem"):
        m = h.get(mode)
        if m:
            rows += [f"| {where}, {mode} mode: model verified % (95 % CI) | **{m['verified_pct']:.1f}** {ci(m['verified_ci95'])} |",
                     f"| {where}, {mode} mode: best baseline ({m['best_baseline']}) | {m['best_baseline_pct']:.1f} {ci(m['best_baseline_ci95'])} |",
                     f"| {where}, {mode} mode: model pass@{m['k']} | {m['pass_at_k']:.1f} {ci(m['pass_at_k_ci95'])} |"]
    return rows


def summary_markdown(s: dict) -> str:
    def f(v, nd=4):
        return "n/a" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))

    text = s.get("data_format") == "text"
    # a text run's loss is over every non-overlapping ctx-byte window of val, and it has no certificates to grade
    windows = "; mean over all non-overlapping ctx-byte windows of val" if text else ""
    certificate_rows = [] if text else [
        *_headline_rows(s),
        f"| structural % (form only: `rfl`, `qed` has it) | {f(s['structural_pct'], 1)} |",
        f"| duplicate rate / near-duplicate / unique (names stripped) | {f(s['duplicate_rate'], 3)} / {f(s.get('near_dup_rate'), 3)} / {f(s.get('unique_rate'), 3)} |",
        f"| near-duplicate rate of held-out certificates (the scale) | {f(s.get('near_dup_rate_heldout'), 3)} |",
    ]
    lines = [
        f"# proofgpt report: profile `{s['profile']}`",
        "",
        f"run `{s['run_dir']}` · commit `{s['git_commit']}` · torch {s['torch_version']} · {s['device']} · {s['runtime_s']} s",
        "",
        "| metric | value |",
        "|---|---|",
        f"| val loss (nats/byte, best{windows}) | {f(s['val_loss'])} |",
        f"| val bits/byte | {f(s['val_bpb'])} |",
        f"| entropy bound (bits/byte) | {f(s['entropy_bound_bpb'])} |",
        f"| train/val gap (nats) | {f(s['train_val_gap'])} |",
        *certificate_rows,
        f"| best step / stop | {s['best_step']} / {s['stop_reason']} |",
        f"| seeds | {s['seeds']} |",
        "",
        *([f"Skipped: verified %, pass@k, structural % and memorization ({NO_CERTIFICATES} to grade).", ""] if text else []),
        Diagnosis(**s["diagnosis"]).markdown(),
        "",
        "Notebooks: " + ", ".join(f"{k} {v} s" for k, v in s["notebook_runtime_s"].items()),
        "",
    ]
    return "\n".join(lines)


# settings that change where or how fast a run computes, not what it is
NOT_THE_RUN = ("train.device", "train.dtype", "train.threads", "train.compile", "train.eval_batch_size")


def check_same_run(run_dir: Path, cfg) -> None:
    """UserError if run_dir was trained (config.json) with other data, model or train settings than cfg."""
    saved = read_json(run_dir / "config.json").get("config")
    if not isinstance(saved, dict):
        return
    now = to_dict(cfg)
    for section in ("data", "model", "train"):
        for key, value in now[section].items():
            was = (saved.get(section) or {}).get(key, value)
            if f"{section}.{key}" not in NOT_THE_RUN and was != value:
                raise UserError(f"{run_dir}: was trained with profile {saved.get('profile')!r} and {section}.{key}={was!r}, "
                                f"this report's config has {value!r}; report it with its own profile and overrides, "
                                f"or choose another --run")


def check_report_dir(out_dir: Path, run_dir: Path) -> None:
    """UserError if out_dir holds notebooks executed for another run directory (same name, other path)."""
    for nb in sorted(out_dir.glob("[0-9][0-9]_*.ipynb")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            other = json.loads(nb.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]["run_dir"]
            if Path(other) != run_dir:
                raise UserError(f"{nb}: is the report of another run ({other}); move {out_dir} away or rename the run")


def _keep_if_notebook(tmp: Path, out: Path) -> None:
    """After a failed execution: the partial notebook replaces out if it is a readable notebook,
    else it is dropped and the earlier out (if any) stays."""
    try:
        json.loads(tmp.read_text(encoding="utf-8"))["cells"]
        os.replace(tmp, out)
    except (OSError, ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _export_html(ipynb: Path) -> None:
    from nbconvert import HTMLExporter  # heavy: only when exporting

    body, _ = HTMLExporter().from_filename(str(ipynb))
    atomic_write_text(ipynb.with_suffix(".html"), body)


@contextlib.contextmanager
def follow_training(run_dir, file=None, poll_s: float = 1.0):
    """While the block runs, a progress bar on the terminal over the steps run_dir/metrics.jsonl
    gains (loss, tokens/s, ETA) and one line per evaluation: the trainer's progress while a
    kernel trains (in the kernel its own bar is a notebook widget the terminal never sees)."""
    path = Path(run_dir) / "metrics.jsonl"
    seen = {"offset": path.stat().st_size if path.exists() else 0, "bar": None}
    done = threading.Event()

    def show(row):
        bar = seen["bar"]
        if row.get("kind") == "train":
            if bar is None:
                total = (read_json(Path(run_dir) / "config.json").get("derived") or {}).get("total_steps")
                bar = seen["bar"] = tqdm(total=total, initial=row["step"] - 1, desc="training", unit="step",
                                         file=file, dynamic_ncols=True)
            bar.update(row["step"] - bar.n)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row.get('tokens_per_s') or 0:,.0f}", refresh=False)
        elif row.get("kind") == "eval":
            tqdm.write(f"  step {row['step']}: val loss {row['val_loss']:.4f} (bpb {row['val_bpb']:.3f}), "
                       f"train loss {row['train_loss'] if row['train_loss'] is None else round(row['train_loss'], 4)}",
                       file=file)
        elif row.get("kind") == "stop":
            tqdm.write(f"  stopped: {row.get('reason')}", file=file)

    def poll():
        if not path.exists():
            return
        if path.stat().st_size < seen["offset"]:  # a fresh start or a resume cut the file back
            seen["offset"] = 0
        with open(path, "rb") as f:
            f.seek(seen["offset"])
            chunk = f.read()
        chunk = chunk[: chunk.rfind(b"\n") + 1]  # whole lines only
        seen["offset"] += len(chunk)
        for line in chunk.splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                show(json.loads(line))

    def follow():
        while not done.wait(poll_s):
            poll()
        poll()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if seen["bar"] is not None:
            seen["bar"].close()


def execute(nb: Path, out: Path, parameters: dict, kernel_name: str, timeout_s, html_export=True, progress=False):
    """Execute one notebook with papermill into out (+ .html); ReportError naming notebook and cell if it fails.

    The notebook is written to a temp file beside out and renamed over it only when whole, so a
    failed write (disk full) never replaces a good earlier report; a failed cell still leaves its
    partial report. progress: a bar over its cells on the terminal."""
    import papermill as pm  # heavy: only when notebooks run
    from papermill.exceptions import PapermillExecutionError

    rel = nb.relative_to(paths.ROOT) if nb.is_relative_to(paths.ROOT) else nb
    tmp = out.with_name(f".{out.stem}.tmp.ipynb")
    try:
        pm.execute_notebook(
            str(nb.resolve()),
            str(tmp.resolve()),
            parameters=parameters,
            kernel_name=kernel_name,
            cwd=str(paths.ROOT),
            execution_timeout=timeout_s,
            progress_bar={"desc": nb.stem, "dynamic_ncols": True} if progress else False,
            # the kernel's own log: quiet its per-start "TCP without encryption" warning (localhost)
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        os.replace(tmp, out)
    except PapermillExecutionError as e:
        _keep_if_notebook(tmp, out)
        _try_export(out, html_export)
        evalue = str(e.evalue).strip().splitlines()[-1] if str(e.evalue).strip() else ""
        raise ReportError(
            f"{rel}: cell {e.cell_index} (In [{e.exec_count}]) failed: {e.ename}: {evalue} "
            f"(partial report: {out})"
        ) from None
    except OSError as e:  # the executed notebook could not be written (disk full, ...)
        with contextlib.suppress(OSError):
            tmp.unlink()
        kept = "the earlier report is kept" if out.exists() else "no report written"
        raise ReportError(f"{out}: cannot write the executed notebook ({(e.strerror or str(e)).lower()}; {kept})") from None
    except Exception as e:  # kernel died, timeout, no such kernel, ...
        _keep_if_notebook(tmp, out)
        _try_export(out, html_export)
        msg = (str(e).strip().splitlines() or [""])[-1]
        raise ReportError(f"{rel}: {type(e).__name__}: {msg} (partial report: {out})") from None
    _try_export(out, html_export)


def run_report(profile="cpu", run=None, seed=0, overrides=None, params=None, timeout_s=None, html_export=True, only=None,
               log=print, out_dir=None, progress=False) -> dict:
    """Execute the notebooks into out_dir (default reports/<profile>/<run>/) and write summary.{md,json}.

    params: notebook parameters (beyond profile/run_dir/seed/overrides); raises UserError for
    unknown names or wrong types, ReportError naming notebook and cell when one fails.
    progress: on the terminal, a bar over each notebook's cells and one over the training steps.
    """
    overrides = dict(overrides or {})
    cfg = load_profile(profile, overrides)  # bad overrides fail here, before any kernel starts
    run = run or Path(profile).stem
    # --run: a name (runs/<name>) or, as the other commands take it, a path to a run directory
    run_dir = paths.resolve_run(run).resolve()
    out_dir = Path(out_dir) if out_dir else paths.REPORTS_DIR / Path(profile).stem / run_dir.name
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
        if cfg.data.format != "text":
            read_corpus(data_path)  # an empty or non-certificate file is refused now, not in notebook 01
        params["data_path"] = str(data_path)
    elif cfg.data.generate_chars == 0:  # fail before five kernels start, not in the first cell
        corpus = Path(cfg.data.path) if Path(cfg.data.path).is_absolute() else paths.ROOT / cfg.data.path
        if not corpus.is_file():
            raise UserError(f"{corpus}: no such corpus; run `make data` first (or pass -p data_path=FILE)")
    parameters = {"profile": str(profile), "run_dir": str(run_dir), "seed": int(seed), "overrides": overrides, **params}
    check_parameters(parameters, nbs)
    check_seed(parameters["seed"], "seed")
    check_unlocked(run_dir)
    check_same_run(run_dir, apply_overrides(cfg, {"data.path": params["data_path"], "data.generate_chars": 0})
                   if params.get("data_path") else cfg)
    check_report_dir(out_dir, run_dir)
    claim_run_dir(run_dir)  # a directory that is not proofgpt's is refused now, not in notebook 04
    timeout_s = timeout_s or cfg.report.execution_timeout_s
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start, timings = time.time(), {}
    for nb in nbs:
        out = out_dir / nb.name
        t0 = time.time()
        log(f"report: {nb.name} -> {out.relative_to(paths.ROOT) if out.is_relative_to(paths.ROOT) else out}")
        with follow_training(run_dir) if progress else contextlib.nullcontext():
            execute(nb, out, parameters, cfg.report.kernel_name, timeout_s, html_export, progress)
        timings[nb.stem] = round(time.time() - t0, 1)
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
    ap.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a TTY)")
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
        cfg = load_profile(args.profile, dotted)
        for text in dotted:  # typed values back from the config, for the notebooks' dict
            section, name = text.split("=", 1)[0].strip().split(".", 1)
            overrides[f"{section}.{name}"] = getattr(getattr(cfg, section), name)
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    try:
        s = run_report(args.profile, args.run, args.seed, overrides, params, args.timeout, not args.no_html, only,
                       progress=not args.no_progress and sys.stderr.isatty())
    except ReportError as e:
        print(f"proofgpt: error: {e}", file=sys.stderr)
        return 1
    print(summary_markdown(s))
    return 0
