"""DDP: two CPU processes on the gloo backend train one model; both ranks end with identical
weights, only rank 0 writes, and training progresses.

Run: .venv/bin/python -m pytest -q tests/test_ddp.py
The ranks are spawned with torch.multiprocessing and get torchrun's environment variables
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so train() sees what torchrun gives it.
"""

import json
import os
import socket

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from proofgpt.config import load_profile
from proofgpt.checkpoint import load_checkpoint, load_model, weights_sha256
from proofgpt.train import train

WORLD = 2
STEPS = 12


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, port, run_dir, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    # 2 rows x 512 tokens per micro-batch, 2 ranks, 4096 tokens per step -> 2 accumulation steps (no_sync used)
    cfg = load_profile("smoke", [f"train.max_steps={STEPS}", "train.tokens_per_step=4096", "train.eval_every=6",
                                 "train.device=cpu"])
    summary = train(cfg, run_dir, progress=False)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(summary, f)
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_end_identical(tmp_path):
    run_dir = tmp_path / "run"
    mp.spawn(_rank_main, args=(free_port(), str(run_dir), str(tmp_path)), nprocs=WORLD, join=True)
    s0, s1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD))
    assert s0["weights_sha256"] == s1["weights_sha256"]
    assert s0["step"] == s1["step"] == STEPS and s0["status"] == "max_steps"

    # only rank 0 wrote: one row per step, and its checkpoint holds the weights both ranks have
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == list(range(1, STEPS + 1))
    assert weights_sha256(load_model(run_dir / "ckpt" / "last.pt")[0]) == s0["weights_sha256"]
    meta = load_checkpoint(run_dir / "ckpt" / "last.pt")[1]
    assert meta["derived"]["world_size"] == WORLD and meta["derived"]["grad_accum_steps"] == 2
    assert meta["derived"]["tokens_per_step"] == 4096
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env"]["world_size"] == WORLD

    # training progressed: the loss fell from ~ln 256 and the val loss improved
    assert train_rows[0]["loss"] > 4.5 and train_rows[-1]["loss"] < train_rows[0]["loss"] - 1.0
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(evals) >= 2 and evals[-1]["val_loss"] < evals[0]["val_loss"]
