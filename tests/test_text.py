"""data.format=text: any file trains as bytes, nanoGPT-style. The split is a contiguous cut into
the run directory (the file is only read), and the logged val loss is the mean cross-entropy
over all non-overlapping ctx-byte windows of val. `proofgpt sample` continues a prompt's bytes
(no checker verdict), and `proofgpt report` runs the five notebooks on the run: they show what
applies to any corpus and say in one line what certificate-only part they skip.

One smoke-profile run is trained once (module fixture) and shared by every test here; the
report executes the notebooks on it (notebook 04 loads it, nothing is trained twice).

Run: .venv/bin/python -m pytest -q tests/test_text.py
"""

import contextlib
import io
import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from proofgpt import cli, evaluate, sample
from proofgpt.checkpoint import load_model
from proofgpt.config import NO_CERTIFICATES, load_profile
from proofgpt.train import train

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("the a proof of every small model reads bytes and learns which one comes next; "
         "a café — naïve or not — costs more than one byte per letter").split()
TEXT_OVERRIDES = ["data.format=text", "data.generate_chars=0"]  # + data.path


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A smoke run on a 11 kB English-like file -> {"corpus", "raw", "mtime", "run_dir", "cfg", "log"}."""
    tmp = tmp_path_factory.mktemp("text")
    rng = random.Random(0)
    text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(14)) for _ in range(160))
    corpus = tmp / "english.txt"
    corpus.write_text(text, encoding="utf-8")
    raw, mtime = corpus.read_bytes(), corpus.stat().st_mtime_ns
    cfg = load_profile("smoke", [*TEXT_OVERRIDES, f"data.path={corpus}"])
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        train(cfg, tmp / "run", progress=False)
    return {"tmp": tmp, "corpus": corpus, "raw": raw, "mtime": mtime, "run_dir": tmp / "run", "cfg": cfg,
            "log": log.getvalue()}


def test_text_run(text_run, capsys):
    corpus, raw, run_dir, cfg = text_run["corpus"], text_run["raw"], text_run["run_dir"], text_run["cfg"]
    assert corpus.read_bytes() == raw and corpus.stat().st_mtime_ns == text_run["mtime"]  # only read
    assert sorted(p.name for p in corpus.parent.iterdir()) == ["english.txt", "run"]  # nothing written beside it
    train_b, val_b = (run_dir / "data" / "train.txt").read_bytes(), (run_dir / "data" / "val.txt").read_bytes()
    assert train_b + val_b == raw and len(train_b) == int(len(raw) * 0.9)  # contiguous, the first 90 % train

    model, meta = load_model(run_dir)  # the best checkpoint: written right after the eval that logged its loss
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = next(r["val_loss"] for r in rows if r.get("kind") == "eval" and r["step"] == meta["state"]["step"])
    ctx = cfg.model.ctx
    stream = torch.tensor(list(val_b), dtype=torch.long)
    n = (len(stream) - 1) // ctx
    assert n >= 2
    x = torch.stack([stream[i * ctx: i * ctx + ctx] for i in range(n)])
    y = torch.stack([stream[i * ctx + 1: i * ctx + ctx + 1] for i in range(n)])
    with torch.no_grad():
        logits, _ = model(x)
    direct = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item()
    assert abs(direct - logged) < 1e-4
    assert "validity monitor skipped: data.format=text" in text_run["log"]

    assert evaluate.main(["--run", str(run_dir)]) == 0
    assert "skipped: a data.format=text run has no certificates" in capsys.readouterr().out
    assert not (run_dir / "eval.json").exists()


# ------------------------------------------------------------------ proofgpt sample


def test_sample_continues_the_prompt_s_bytes_without_a_verdict(text_run, capsys):
    run_dir = str(text_run["run_dir"])
    assert sample.main(["--run", run_dir, "--prompt", "the proof", "--max-tokens", "60", "--seed", "1",
                        "--num-samples", "2"]) == 0
    out, err = capsys.readouterr()
    model, _ = load_model(run_dir)
    s = text_run["cfg"].sample
    # what generate gives for the same request, not cut at a blank line or `qed` (a text run has neither)
    expected = sample.generate(model, ["the proof"] * 2, 60, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                               seed=1, stop_at_qed=False)
    assert out == "".join(("\n" if i else "") + "the proof" + c + "\n" for i, c in enumerate(expected))
    assert err.strip() == f"# checker: skipped: {NO_CERTIFICATES} to check"  # one line, not one per sample


def test_sample_without_a_prompt_starts_at_a_line_and_theorem_is_one_line_error(text_run, capsys):
    run_dir = str(text_run["run_dir"])
    assert sample.main(["--run", run_dir, "--max-tokens", "20"]) == 0
    assert capsys.readouterr().out.startswith(sample.UNCONDITIONAL_PROMPT["text"])
    assert cli.main(["sample", "--run", run_dir, "--theorem", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("proofgpt: error:") and NO_CERTIFICATES in err[0]


# ------------------------------------------------------------------ proofgpt report on the text run


@pytest.fixture(scope="module")
def text_report(text_run):
    """`proofgpt report --profile smoke` on the trained text run, in a fresh root (as tests/test_notebooks.py)."""
    root = text_run["tmp"] / "root"
    root.mkdir()
    for name in ("configs", "notebooks"):
        (root / name).symlink_to(ROOT / name)
    env = dict(os.environ, PROOFGPT_ROOT=str(root))
    env.pop("MPLBACKEND", None)  # Agg here would drop the figures from the executed notebooks
    overrides = [f"-p{o}" for o in (*TEXT_OVERRIDES, f"data.path={text_run['corpus']}")]
    r = subprocess.run([sys.executable, "-m", "proofgpt", "report", "--profile", "smoke", "--run", str(text_run["run_dir"]),
                        "--no-html", *overrides], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = root / "reports" / "smoke" / "run"
    return {"out": out, "nb": text_run["run_dir"] / "nb", "stdout": r.stdout}


def _outputs(path):
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
def test_text_report_runs_every_notebook_and_names_the_skipped_parts_in_one_line(text_report):
    for path in sorted(text_report["out"].glob("[0-9][0-9]_*.ipynb")):
        outputs = _outputs(path)
        assert not [o for o in outputs if o.output_type == "error"], path.name
        notes = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})
                 and o["data"]["text/markdown"].startswith("**Skipped**")]
        if path.stem in ("01_data_exploration", "02_proof_boundary_splitting", "05_sample_analysis"):
            assert len(notes) == 1 and NO_CERTIFICATES in notes[0] and "\n" not in notes[0], path.name
        else:
            assert notes == [], path.name  # 03 and 04 apply whole
    assert len(list(text_report["out"].glob("[0-9][0-9]_*.ipynb"))) == 5
    pngs = [o for o in _outputs(text_report["out"] / "01_data_exploration.ipynb") if "image/png" in o.get("data", {})]
    assert len(pngs) == 1  # the byte histogram


@pytest.mark.slow
def test_text_report_byte_statistics_equal_a_direct_computation(text_run, text_report):
    raw = text_run["raw"]
    got = json.loads((text_report["nb"] / "01_data_exploration.json").read_text())["bytes"]
    counts = Counter(raw)
    assert got["n_file_bytes"] == len(raw) and got["n_lines"] == raw.count(b"\n")
    assert got["n_distinct_bytes"] == len(counts) and got["byte_counts"] == [counts.get(b, 0) for b in range(256)]
    direct = -sum(c / len(raw) * math.log2(c / len(raw)) for c in counts.values())
    assert got["unigram_bpb"] == pytest.approx(direct, rel=1e-12)


@pytest.mark.slow
def test_text_report_split_sizes_are_the_contiguous_cut(text_run, text_report):
    raw, ctx = text_run["raw"], text_run["cfg"].model.ctx
    sizes = json.loads((text_report["nb"] / "02_proof_boundary_splitting.json").read_text())["sizes"]
    n_train = int(len(raw) * 0.9)
    assert sizes["contiguous"] is True and sizes["n_corpus_bytes"] == len(raw)
    assert (sizes["n_train_bytes"], sizes["n_val_bytes"]) == (n_train, len(raw) - n_train)
    assert sizes["n_val_windows"] == (len(raw) - n_train - 1) // ctx


@pytest.mark.slow
def test_text_report_windowed_val_loss_and_unconditional_samples(text_run, text_report):
    d05 = json.loads((text_report["nb"] / "05_sample_analysis.json").read_text())
    rows = [json.loads(line) for line in (text_run["run_dir"] / "metrics.jsonl").read_text().splitlines()]
    best = min((r for r in rows if r.get("kind") == "eval"), key=lambda r: r["val_loss"])
    v = d05["val_loss"]
    n_windows = ((text_run["run_dir"] / "data" / "val.txt").stat().st_size - 1) // text_run["cfg"].model.ctx
    assert v["rows"] == "ctx-byte windows of val" and v["n_rows"] == n_windows
    assert v["val_loss"] == pytest.approx(best["val_loss"], abs=1e-5) and v["logged_best_step"] == best["step"]
    assert len(d05["unconditional"]) == 4 and all(s.startswith("\n") and len(s) > 1 for s in d05["unconditional"])
    assert set(d05) == {"val_loss", "unconditional"}  # nothing certificate-only was computed

    summary = json.loads((text_report["out"] / "summary.json").read_text())
    assert summary["data_format"] == "text" and summary["verified_pct"] is None
    assert summary["val_loss"] == pytest.approx(best["val_loss"])
    md = (text_report["out"] / "summary.md").read_text()
    assert "val loss (nats/byte, best; mean over all non-overlapping ctx-byte windows of val)" in md
    assert f"Skipped: verified %, pass@k, structural % and memorization ({NO_CERTIFICATES} to grade)." in md
    assert "structural %" not in md.split("Skipped:")[0]  # no certificate rows in the table

