"""data.format=text: any file trains as bytes, nanoGPT-style. The split is a contiguous cut into
the run directory (the file is only read), and the logged val loss is the mean cross-entropy
over all non-overlapping ctx-byte windows of val.

Run: .venv/bin/python -m pytest -q tests/test_text.py
"""

import json
import random

import torch
import torch.nn.functional as F

from proofgpt import evaluate
from proofgpt.checkpoint import load_model
from proofgpt.config import load_profile
from proofgpt.train import train

WORDS = ("the a proof of every small model reads bytes and learns which one comes next; "
         "a café — naïve or not — costs more than one byte per letter").split()


def test_text_run(tmp_path, capsys):
    rng = random.Random(0)
    text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(14)) for _ in range(160))
    corpus = tmp_path / "english.txt"
    corpus.write_text(text, encoding="utf-8")
    raw, mtime = corpus.read_bytes(), corpus.stat().st_mtime_ns
    run_dir = tmp_path / "run"
    cfg = load_profile("smoke", ["data.format=text", f"data.path={corpus}", "data.generate_chars=0"])
    train(cfg, run_dir, progress=False)

    assert corpus.read_bytes() == raw and corpus.stat().st_mtime_ns == mtime  # only read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["english.txt", "run"]  # nothing written beside it
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
    assert "validity monitor skipped: data.format=text" in capsys.readouterr().out

    assert evaluate.main(["--run", str(run_dir)]) == 0
    assert "skipped: a data.format=text run has no certificates" in capsys.readouterr().out
    assert not (run_dir / "eval.json").exists()
