"""The training loop on real (generated) data: loss falls, run dir layout, exact resume,
refusals, divergence, weights_only checkpoints, the CLI.

Run: .venv/bin/python -m pytest -q tests/test_train.py
Each training here is the smoke profile (0.12M params, ~30 steps per epoch): seconds.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from proofgpt import train as train_mod
from proofgpt.config import load_profile
from proofgpt.errors import UserError
from proofgpt.checkpoint import best_checkpoints, load_checkpoint, load_model, weights_sha256
from proofgpt.train import TIMING_FIELDS, get_lr, main, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_smoke_corpus(out_dir, n_chars=30000, seed=0):
    """Generate a corpus and split it beside itself (what `make data` does, in small)."""
    from proofgpt.generate import write_corpus
    from proofgpt.split import split_corpus

    corpus = out_dir / "training.txt"
    write_corpus(corpus, seed=seed, n_chars=n_chars, progress=False)
    split_corpus(corpus, out_dir, seed=0, val_frac=0.1)
    return corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_smoke_corpus(tmp_path_factory.mktemp("corpus"))


def smoke(corpus, *overrides):
    return load_profile("smoke", [f"data.path={corpus}", "data.generate_chars=0", *overrides])


def rows(run_dir, kind=None):
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
        out = [json.loads(line) for line in f]
    return [r for r in out if kind is None or r["kind"] == kind]


def strip_timing(rs):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rs]


def assert_same_state(a, b):
    """Bitwise-equal model and optimizer state of two checkpoints."""
    pa, pb = load_checkpoint(a)[0], load_checkpoint(b)[0]
    assert pa["model"].keys() == pb["model"].keys()
    for k in pa["model"]:
        assert torch.equal(pa["model"][k], pb["model"][k]), k
    for sa, sb in zip(pa["optimizer"]["state"].values(), pb["optimizer"]["state"].values()):
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k


def test_get_lr_known_values():
    # warmup 10 of 100 steps, 1.0 -> 0.1: (step+1)/11 during warmup, cosine midpoint 0.55, floor after
    lrs = [get_lr(s, 1.0, 0.1, 10, 100) for s in range(120)]
    assert lrs[0] == pytest.approx(1 / 11) and lrs[9] == pytest.approx(10 / 11)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.55) and lrs[100] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # never rises after warmup
    assert min(lrs[10:]) >= 0.1 - 1e-12  # the floor holds after warmup (warmup starts below it)


@pytest.mark.slow
def test_smoke_run_learns_and_lays_out_the_run_dir(corpus, tmp_path):
    run = tmp_path / "run"
    seen = []
    summary = train(smoke(corpus), run, progress=False, on_eval=seen.append)
    assert summary["status"] == "completed" and summary["epoch"] == 2

    train_rows, evals, stops = rows(run, "train"), rows(run, "eval"), rows(run, "stop")
    assert seen == evals  # on_eval saw each eval row as it was written
    assert [r["step"] for r in train_rows] == list(range(1, summary["step"] + 1))
    assert set(train_rows[0]) == {"kind", "step", "epoch", "loss", "grad_norm", "lr", "tokens", "tokens_per_s",
                                  "elapsed_s"}
    assert set(evals[0]) == {"kind", "step", "epoch", "train_loss", "val_loss", "val_ppl", "val_bpb",
                             "structural_pct", "verified_pct"}
    assert len(stops) == 1 and "completed 2 epochs" in stops[0]["reason"]
    # loss falls: from ~ln 256 = 5.5 nats to well under half of it
    assert train_rows[0]["loss"] > 4.5
    assert evals[-1]["val_loss"] < min(evals[0]["val_loss"] - 0.5, 0.5 * math.log(256))
    assert evals[-1]["val_bpb"] == pytest.approx(evals[-1]["val_loss"] / math.log(2))
    assert evals[-1]["val_ppl"] == pytest.approx(math.exp(evals[-1]["val_loss"]))
    assert all(r["tokens"] > 0 for r in train_rows) and train_rows[-1]["tokens"] > train_rows[0]["tokens"]
    assert train_rows[3]["lr"] > train_rows[0]["lr"] and train_rows[-1]["lr"] < train_rows[10]["lr"]

    cfg_json = json.loads((run / "config.json").read_text())
    assert cfg_json["config"]["model"]["d_model"] == 64
    assert cfg_json["derived"]["tokens_per_step"] == 1024 and cfg_json["derived"]["n_params"] > 100_000
    assert cfg_json["derived"]["steps_per_epoch"] * 2 == summary["step"]
    env = cfg_json["env"]
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and "git_dirty" in env
    assert len(cfg_json["data"]["train_sha256"]) == 64

    # checkpoints: last + best 3 by val loss, each a .pt (weights_only) with a .json beside it
    best = best_checkpoints(run / "ckpt")
    assert len(best) == 3 and not list((run / "ckpt").glob(".*.tmp"))
    best_losses = sorted(r["val_loss"] for r in evals)[:3]
    assert [b[0] for b in best] == pytest.approx(best_losses)
    for pt in [run / "ckpt" / "last.pt"] + [b[2] for b in best]:
        payload = torch.load(pt, weights_only=True)
        assert {"model", "optimizer", "rng", "meta_json"} <= set(payload)
        meta = json.loads(pt.with_suffix(".json").read_text())
        assert meta["data_sha256"] == cfg_json["data"]["train_sha256"]
        assert set(meta["state"]) >= {"step", "epoch", "row_in_epoch", "metrics_n_bytes", "best_val_loss"}

    # load_model: a run dir means its best checkpoint
    model, meta = load_model(run)
    assert meta["path"] == str(best[0][2]) and not model.training
    assert meta["state"]["val_loss"] == pytest.approx(best_losses[0])
    assert weights_sha256(model) == weights_sha256(load_model(best[0][2])[0])


def crash_at_step(cfg, run_dir, monkeypatch, at_step):
    """Train cfg into run_dir and crash it inside optimizer step at_step + 1 (its "step" hook)."""
    def crash(name, step):
        if name == "step" and step == at_step:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "hook", crash)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run_dir, progress=False)
    monkeypatch.undo()


@pytest.mark.slow
def test_interrupted_and_resumed_run_is_identical(corpus, tmp_path, monkeypatch):
    cfg = smoke(corpus, "train.epochs=1")
    ref = train(cfg, tmp_path / "ref", progress=False)

    # crash mid-step 23 (after checkpoints at 20 and an eval at 20), then resume from ckpt/last.pt
    crash_at_step(cfg, tmp_path / "cut", monkeypatch, 22)
    assert rows(tmp_path / "cut", "train")[-1]["step"] == 22  # the rows after the checkpoint exist ...
    resumed = train(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed["weights_sha256"] == ref["weights_sha256"]
    assert_same_state(tmp_path / "ref" / "ckpt" / "last.pt", tmp_path / "cut" / "ckpt" / "last.pt")
    # ... and were cut back before being written again: metrics equal but for timing
    assert strip_timing(rows(tmp_path / "cut")) == strip_timing(rows(tmp_path / "ref"))
    names = sorted(p.name for p in (tmp_path / "ref" / "ckpt").iterdir())
    assert sorted(p.name for p in (tmp_path / "cut" / "ckpt").iterdir()) == names


@pytest.mark.slow
@pytest.mark.parametrize("rows_mode", ["repacked", "windows", "packed_offset"])
def test_resume_is_exact_for_every_row_mode(corpus, tmp_path, monkeypatch, rows_mode):
    # 2 epochs, crash in the second (after the checkpoint at step 35): the resumed run must
    # rebuild that epoch's rows (a new packing, window starts, offsets) from (seed, epoch) alone
    cfg = smoke(corpus, f"train.rows={rows_mode}", "train.decay_embeddings=true", "eval.monitor_theorems=0")
    ref = train(cfg, tmp_path / "ref", progress=False)

    crash_at_step(cfg, tmp_path / "cut", monkeypatch, 37)
    assert rows(tmp_path / "cut", "train")[-1]["epoch"] == 1
    resumed = train(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed["weights_sha256"] == ref["weights_sha256"]
    assert strip_timing(rows(tmp_path / "cut")) == strip_timing(rows(tmp_path / "ref"))
    # every trained-on target is real: the token count is the rows' full length (no padding)
    if rows_mode != "repacked":
        assert rows(tmp_path / "ref", "train")[0]["tokens"] == cfg.train.batch_size * cfg.model.ctx


@pytest.mark.slow
def test_resume_refusals_and_force(corpus, tmp_path):
    run = tmp_path / "run"
    train(smoke(corpus, "train.max_steps=6", "train.eval_every=none"), run, progress=False)
    # a fresh start on a run dir with checkpoints is refused
    with pytest.raises(UserError, match="--resume"):
        train(smoke(corpus), run, progress=False)
    # incompatible model config
    with pytest.raises(UserError, match=r"last\.pt: cannot resume .*model\.d_model: checkpoint 64, now 32"):
        train(smoke(corpus, "model.d_model=32"), run, resume=True, progress=False)
    # different train data
    other = tmp_path / "other"
    other.mkdir()
    other_corpus = make_smoke_corpus(other, seed=1)
    with pytest.raises(UserError, match=r"last\.pt: cannot resume on different train data.*--force"):
        train(smoke(other_corpus, "train.max_steps=8"), run, resume=True, progress=False)
    s = train(smoke(other_corpus, "train.max_steps=8", "train.eval_every=none"), run, resume=True, force=True,
              progress=False)
    assert s["step"] == 8 and s["status"] == "max_steps"


@pytest.mark.slow
def test_truncated_checkpoint_and_resume_from_another(corpus, tmp_path):
    run = tmp_path / "run"
    train(smoke(corpus, "train.max_steps=10"), run, progress=False)
    last = run / "ckpt" / "last.pt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as e:
        load_checkpoint(last)
    assert str(e.value).startswith(f"{last}: truncated or corrupt checkpoint") and "\n" not in str(e.value)
    r = subprocess.run([sys.executable, "-m", "proofgpt", "train", "--run", str(run), "--resume"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().startswith(f"proofgpt: error: {last}: truncated or corrupt")
    assert "Traceback" not in r.stderr
    # the best checkpoints are intact, and --resume can be pointed at one
    best = best_checkpoints(run / "ckpt")
    assert best
    code = main(["--profile", "smoke", "--run", str(run), "--resume", str(best[-1][2]), f"data.path={corpus}",
                 "data.generate_chars=0", "train.max_steps=12", "--no-progress"])
    assert code == 0
    assert load_checkpoint(last)[1]["state"]["step"] == 12
    steps = [r["step"] for r in rows(run, "train")]
    assert steps == list(range(1, 13))  # metrics continue from the chosen checkpoint, no duplicates


def test_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "meta_json": "{}", "x": Payload()}, evil)
    with pytest.raises(UserError, match=r"evil\.pt: refused to load: it holds a pickled Python object"):
        load_checkpoint(evil)
    with pytest.raises(UserError, match="refused"):
        load_model(evil)
    assert not marker.exists()


@pytest.mark.slow
def test_divergence_stops_and_keeps_the_best_checkpoint(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    base = ["--profile", "smoke", "--run", str(run), f"data.path={corpus}", "data.generate_chars=0", "--no-progress"]
    assert main(base + ["train.max_steps=10"]) == 0
    best_before = best_checkpoints(run / "ckpt")
    sha_before = weights_sha256(load_model(run)[0])
    assert "**Diagnosis: too early.** 1 evaluation(s)" in capsys.readouterr().out  # the end of a run: the plan's diagnosis
    code = main(base + ["--resume", "train.lr=1e6", "train.max_steps=40"])
    err = capsys.readouterr().err
    assert code == 1
    assert "training diverged" in err and "loss" in err and str(run / "ckpt") in err
    stop = rows(run, "stop")[-1]
    assert "diverged" in stop["reason"] and stop["step"] < 40
    assert best_checkpoints(run / "ckpt") == best_before
    assert weights_sha256(load_model(run)[0]) == sha_before


@pytest.mark.slow
def test_early_stopping_with_patience(corpus, tmp_path):
    # lr 1e-12 moves no fp32 weight, so the val loss never improves after the first evaluation
    cfg = smoke(corpus, "train.lr=1e-12", "train.min_lr=0", "train.patience=2", "train.eval_every=3")
    s = train(cfg, tmp_path / "run", progress=False)
    assert s["status"] == "early_stop" and s["step"] == 9
    evals, stop = rows(tmp_path / "run", "eval"), rows(tmp_path / "run", "stop")[0]
    assert [r["step"] for r in evals] == [3, 6, 9]
    assert "did not improve for 2 evaluations" in stop["reason"] and stop["step"] == 9
    assert load_checkpoint(tmp_path / "run" / "ckpt" / "last.pt")[1]["state"]["step"] == 9


def test_cli_help_and_bad_overrides(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--resume" in out and "train.lr=" in out and "torchrun" in out
    with pytest.raises(UserError, match="did you mean 'lr'"):
        main(["--profile", "smoke", "--run", str(tmp_path / "x"), "train.lrr=1"])
    with pytest.raises(UserError, match=r"last\.pt: no such checkpoint"):
        main(["--run", str(tmp_path / "none"), "--resume"])
    with pytest.raises(UserError, match=r"last\.pt: no checkpoint to resume from"):
        main(["--profile", "smoke", "--run", str(tmp_path / "none"), "--resume"])


# ------------------------------------------------------------------ whose directory, who writes it, which data


def test_a_directory_proofgpt_did_not_create_is_refused(tmp_path, monkeypatch):
    """`train --run .` / `--run ..` / any non-empty dir without the marker: one line, nothing written."""
    home = tmp_path / "project"
    (home / "data").mkdir(parents=True)
    (home / "data" / "training.txt").write_text("my own corpus\n")
    (home / "metrics.jsonl").write_text("my own metrics\n")
    before = sorted((p.relative_to(home), p.read_bytes() if p.is_file() else None) for p in home.rglob("*"))
    monkeypatch.chdir(home / "data")
    for run in (".", "..", str(home)):
        with pytest.raises(UserError, match=r"not a proofgpt run directory .* --force"):
            main(["--profile", "smoke", "--run", run, "--no-progress"])
    with pytest.raises(UserError, match=r"metrics\.jsonl: not written by proofgpt, and --force never replaces"):
        main(["--profile", "smoke", "--run", str(home), "--force", "--no-progress"])
    assert sorted((p.relative_to(home), p.read_bytes() if p.is_file() else None) for p in home.rglob("*")) == before


def test_run_data_never_replaces_a_users_corpus_in_the_run(tmp_path):
    from proofgpt.data import run_data

    (tmp_path / "run" / "data").mkdir(parents=True)
    mine = tmp_path / "run" / "data" / "training.txt"
    mine.write_text("mine\n")
    with pytest.raises(UserError, match="not written by proofgpt"):
        run_data(load_profile("smoke"), tmp_path / "run")
    assert mine.read_text() == "mine\n" and sorted(p.name for p in mine.parent.iterdir()) == ["training.txt"]


def test_resolve_run_expands_home():
    from proofgpt.paths import resolve_run

    assert resolve_run("~/x") == Path.home() / "x" and resolve_run("~") == Path.home()


def test_a_run_being_written_is_refused_to_a_second_writer(corpus, tmp_path):
    from proofgpt.evaluate import evaluate_run
    from proofgpt.io import claim_run_dir, lock_run

    run = tmp_path / "run"
    claim_run_dir(run)
    held = lock_run(run)  # another open file description: flock refuses it even in this process
    try:
        with pytest.raises(UserError, match=f"run {run} is being trained by pid {os.getpid()}"):
            train(smoke(corpus), run, progress=False)
        with pytest.raises(UserError, match=f"run {run} is being trained by pid {os.getpid()}"):
            evaluate_run(run)
    finally:
        held.close()
    lock_run(run).close()  # released: the next writer gets it


@pytest.mark.slow
def test_two_train_processes_on_one_run(tmp_path):
    """The second `train` exits 2 naming the first's pid; once the first is killed, its lock is gone."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "proofgpt", "train", "--profile", "smoke", "--run", str(run), "--no-progress",
           "eval.monitor_theorems=0", "data.generate_chars=8000", "model.ctx=128"]
    env = dict(os.environ, PROOFGPT_TEST_HOOKS="step=2", PYTHONUNBUFFERED="1")
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stderr:  # asleep in its first step: it holds the lock
            if line.startswith("proofgpt-hook: step"):
                break
        second = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert second.stderr.strip() == f"proofgpt: error: run {run} is being trained by pid {first.pid}; wait for it " \
                                        f"to finish (or stop it)"
    finally:
        first.kill()
        first.wait()
    from proofgpt.io import lock_run

    lock_run(run).close()  # the dead process's lock is not stale


def _snapshot(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_checkpoint_consumers_use_the_data_the_run_was_split_from(tmp_path):
    """After the corpus changes: a resume is refused with <run>/data untouched; evaluation uses the
    run's own split; without it, evaluation refuses instead of grading on training certificates."""
    from proofgpt.data import checkpoint_data
    from proofgpt.evaluate import evaluate_run
    from proofgpt.generate import write_corpus

    src = tmp_path / "src"
    corpus = src / "training.txt"
    write_corpus(corpus, seed=0, n_chars=30000, progress=False)  # no split beside it: the run splits into run/data
    run = tmp_path / "run"
    train(smoke(corpus, "train.max_steps=4", "train.eval_every=none", "eval.monitor_theorems=0"), run, progress=False)
    own_val = (run / "data" / "val.txt").read_text()
    original = _snapshot(src)
    write_corpus(corpus, seed=1, n_chars=30000, progress=False)  # the corpus changes under the run

    before = _snapshot(run / "data")
    with pytest.raises(UserError, match=r"last\.pt: cannot resume on different train data: .*--force"):
        train(smoke(corpus, "train.max_steps=6", "eval.monitor_theorems=0"), run, resume=True, progress=False)
    assert _snapshot(run / "data") == before and not list(run.glob(".data-*"))

    _, meta = load_model(run)
    assert checkpoint_data(meta, run)["val"] == run / "data" / "val.txt"
    res = evaluate_run(run, n_theorems=2, k=1, n_unconditional=0, sample_kwargs=dict(max_new_tokens=8), progress=False)
    assert res["heldout"] == "val" and res["sets"]["val"]["path"] == str(run / "data" / "val.txt")  # the run's own split

    shutil.rmtree(run / "data")  # the run's own split is gone, and the corpus cannot give it back
    with pytest.raises(UserError, match="the run's train data cannot be re-derived"):
        evaluate_run(run, n_theorems=2, k=1, n_unconditional=0, progress=False)
    assert not (run / "data").exists() and not list(run.glob(".data-*"))

    for name, data in original.items():  # the original corpus (and its meta sidecar) back: the split is re-derived
        (src / name).write_bytes(data)
    assert checkpoint_data(meta, run)["val"].read_text() == own_val


@pytest.mark.slow
def test_eval_json_is_recomputed_when_it_graded_other_weights(corpus, tmp_path):
    from proofgpt import workbook
    from proofgpt.evaluate import evaluate_run

    run = tmp_path / "run"
    quick = ("train.max_steps=3", "train.eval_every=none", "eval.monitor_theorems=0", "eval.n_theorems=1",
             "eval.pass_k=1", "eval.n_unconditional=0", "sample.max_new_tokens=8")
    train(smoke(corpus, *quick), run, progress=False)
    first = evaluate_run(run, progress=False)
    assert workbook.current_eval(run)["weights_sha256"] == first["weights_sha256"]
    train(smoke(corpus, *quick, "train.seed=1"), run, force=True, progress=False)  # start over: other weights
    assert workbook.current_eval(run) is None
    wb = workbook.setup(smoke(corpus, *quick), "smoke", str(run))
    again = workbook.ensure_eval(wb)
    assert again["weights_sha256"] == weights_sha256(load_model(run)[0]) != first["weights_sha256"]
    assert again["checkpoint"] and Path(again["checkpoint"]).exists()
