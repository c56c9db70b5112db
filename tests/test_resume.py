"""Crash safety: SIGKILL a real `python -m proofgpt train` at seeded random moments, resume, and
end bitwise-identical to a run that was never interrupted.

Run: .venv/bin/python -m pytest -q tests/test_resume.py

The kills land mid-step, mid-evaluation, during a checkpoint write and at a plain random time.
To aim them, the child runs with PROOFGPT_TEST_HOOKS (proofgpt/train.py `_hook`): at a hook
it prints `proofgpt-hook: <name> step=<n>` on stderr and sleeps, and this test kills it
while it sleeps there. The checkpoint-write hook sits halfway through writing the temp file.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from proofgpt.checkpoint import best_checkpoints, load_checkpoint
from proofgpt.train import TIMING_FIELDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 6  # the kill schedule; any seed must pass
# the smoke profile cut to 45 steps: still crosses the epoch boundary (~30 steps per epoch)
OVERRIDES = ["train.max_steps=45"]


def start(run_dir, resume, hooks="", log=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PROOFGPT_TEST_HOOKS=hooks)
    cmd = [sys.executable, "-m", "proofgpt", "train", "--profile", "smoke", "--run", str(run_dir), "--no-progress", *OVERRIDES]
    return subprocess.Popen(cmd + (["--resume"] if resume else []), cwd=ROOT, env=env, text=True,
                            stdout=log or subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_at_hook(proc, name, n):
    """Read the child's stderr to its n-th `name` hook, then SIGKILL it (it is asleep in the hook)."""
    seen = 0
    for line in proc.stderr:
        if line.startswith(f"proofgpt-hook: {name} "):
            seen += 1
            if seen == n:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return line.strip()
    proc.wait()
    pytest.fail(f"the run ended (exit {proc.returncode}) before hook {name} #{n}")


def n_train_rows(run_dir):
    try:
        with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
            return sum('"kind": "train"' in line for line in f)
    except FileNotFoundError:
        return 0


def kill_after(proc, run_dir, delay_s):
    """SIGKILL delay_s seconds after the child logs its first step."""
    before = n_train_rows(run_dir)
    deadline = time.time() + 120
    while n_train_rows(run_dir) <= before and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(delay_s)
    assert proc.poll() is None, "the run ended before the timed kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def metrics(run_dir):
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in f]


def assert_intact(run_dir):
    """After a kill: every checkpoint on disk still loads (weights_only) and its state is sane."""
    ckpt = run_dir / "ckpt"
    for pt in [ckpt / "last.pt"] + [b[2] for b in best_checkpoints(ckpt)]:
        if pt.exists():
            payload, meta = load_checkpoint(pt)
            assert meta["state"]["step"] >= 1 and payload["model"]


@pytest.mark.slow
def test_sigkill_anywhere_then_resume_equals_uninterrupted(tmp_path):
    rng = random.Random(SEED)
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    reference = start(ref, resume=False)  # runs alongside the killed ones (smoke uses one thread)

    with open(tmp_path / "cut.log", "w") as log:
        # 1) mid-step: between forward and backward of a micro-batch
        p = start(cut, resume=False, hooks="step=0.2", log=log)
        where = [kill_at_hook(p, "step", rng.randint(3, 14))]
        assert_intact(cut)
        # 2) mid-evaluation: after the val loss, before the train loss and the validity monitor
        p = start(cut, resume=True, hooks="eval=0.5", log=log)
        where.append(kill_at_hook(p, "eval", rng.randint(1, 2)))
        assert_intact(cut)
        # 3) during a checkpoint write: half of the temp file is on disk
        p = start(cut, resume=True, hooks="ckpt_write=0.5", log=log)
        where.append(kill_at_hook(p, "ckpt_write", rng.randint(1, 3)))
        assert list((cut / "ckpt").glob(".*.tmp")), "the kill should have left a half-written temp file"
        assert_intact(cut)
        # 4) at a random moment
        p = start(cut, resume=True, log=log)
        kill_after(p, cut, rng.uniform(0.0, 1.5))
        assert_intact(cut)
        # 5) to the end
        p = start(cut, resume=True, log=log)
        p.wait()
    assert p.returncode == 0, p.stderr.read() + (tmp_path / "cut.log").read_text()
    print("killed at:", where)
    reference.wait()
    assert reference.returncode == 0, reference.stderr.read()

    a, _ = load_checkpoint(ref / "ckpt" / "last.pt")
    b, meta = load_checkpoint(cut / "ckpt" / "last.pt")
    assert meta["state"]["step"] == 45 and meta["state"]["epoch"] == 1
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert metrics(cut) == metrics(ref)
    assert sorted(p.name for p in (cut / "ckpt").iterdir()) == sorted(p.name for p in (ref / "ckpt").iterdir())


@pytest.mark.slow
def test_resume_from_an_epoch_end_best_checkpoint_equals_uninterrupted(tmp_path):
    """A best-*.pt written at an epoch's last step is saved before the epoch counter advances;
    resuming from it (train.setup moves it to the next epoch's start) ends where the run did."""
    import shutil

    from proofgpt.config import load_profile
    from proofgpt.train import train

    cfg = load_profile("smoke", OVERRIDES + ["train.keep_best=20", "train.patience=0", "eval.monitor_theorems=0"])
    ref = tmp_path / "ref"
    train(cfg, ref, progress=False)
    steps_per_epoch = json.loads((ref / "config.json").read_text())["derived"]["steps_per_epoch"]
    epoch_end = ref / "ckpt" / f"best-{steps_per_epoch:07d}.pt"
    assert epoch_end.exists(), "the epoch-end evaluation should have improved on the one before"
    _, meta = load_checkpoint(epoch_end)
    assert meta["state"]["epoch"] == 0 and meta["state"]["step"] == steps_per_epoch  # saved before the advance

    cut = tmp_path / "cut"
    shutil.copytree(ref, cut)
    train(cfg, cut, resume=cut / "ckpt" / epoch_end.name, progress=False)
    a, b = load_checkpoint(ref / "ckpt" / "last.pt")[0], load_checkpoint(cut / "ckpt" / "last.pt")[0]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert metrics(cut) == metrics(ref)
