"""Choose the `cpu` profile: rank candidate configs by short proxy runs at equal estimated time.

    .venv/bin/python scripts/cpu_profile_search.py PROXY_S [--round 2|3|4] [--jobs 3] [--out reports/bench]

Each candidate (overrides of configs/cpu.yaml) trains for the optimizer steps that fit in
PROXY_S seconds at its estimated idle-machine speed, `--jobs` runs at a time on one thread
each; the final val bits/byte and verified % come from each run's metrics.jsonl. Writes
cpu_profile.json (cpu_profile_round2.json with --round 2). A one-off study behind
reports/bench/cpu_profile.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from proofgpt import paths
from proofgpt.bench import machine_info, train_step_fn
from proofgpt.config import derive, load_profile
from proofgpt.io import atomic_write_json, read_jsonl
from proofgpt.model import GPT


# (label, overrides of configs/cpu.yaml). Short CPU runs see < 1 epoch, so dropout stays 0.
CPU_PROFILE_CANDIDATES = [
    ("d192 L4 (first guess)", {}),
    ("d128 L4, lr 2e-3", {"model.d_model": 128, "model.n_heads": 4, "model.d_mlp": 512, "train.lr": 2e-3}),
    ("d256 L4", {"model.d_model": 256, "model.n_heads": 8, "model.d_mlp": 1024}),
    ("d192 L6", {"model.n_layers": 6}),
    ("d192 L4, 4k tokens/step", {"train.tokens_per_step": 4096}),
]
# round 2: round 1 said that more optimizer steps win at this budget (4k tokens/step best)
CPU_PROFILE_CANDIDATES_2 = [
    ("d192 L4, 4k tokens/step, lr 2e-3", {"train.tokens_per_step": 4096, "train.lr": 2e-3}),
    ("d128 L4, 4k tokens/step, lr 2e-3", {"model.d_model": 128, "model.n_heads": 4, "model.d_mlp": 512,
                                          "train.tokens_per_step": 4096, "train.lr": 2e-3}),
    ("d256 L4, 4k tokens/step", {"model.d_model": 256, "model.n_heads": 8, "model.d_mlp": 1024,
                                 "train.tokens_per_step": 4096}),
]

# round 3: the corpus-v2 benchmark (generator v4, longer proofs), around the profile rounds 1-2 chose
# plus the engine ablation's row modes (configs/cpu.yaml trains on random windows)
CPU_PROFILE_CANDIDATES_3 = [
    ("cpu as is (d128 L4, windows)", {}),
    ("lr 3e-3", {"train.lr": 3e-3, "train.min_lr": 3e-4}),
    ("batch 4 (2k tokens/step)", {"train.batch_size": 4, "train.tokens_per_step": 2048}),
    ("d160 L4", {"model.d_model": 160, "model.n_heads": 5, "model.d_mlp": 640}),
    ("d128 L6", {"model.n_layers": 6}),
    ("repacked rows", {"train.rows": "repacked"}),
]
# round 4: round 3 said more optimizer steps again (2k tokens/step best; its d128 L6 and repacked
# runs were stopped unfinished to make room for this round)
CPU_PROFILE_CANDIDATES_4 = [
    ("batch 4, lr 3e-3", {"train.batch_size": 4, "train.tokens_per_step": 2048, "train.lr": 3e-3, "train.min_lr": 3e-4}),
    ("batch 2 (1k tokens/step)", {"train.batch_size": 2, "train.tokens_per_step": 1024}),
]
ROUNDS = {1: CPU_PROFILE_CANDIDATES, 2: CPU_PROFILE_CANDIDATES_2, 3: CPU_PROFILE_CANDIDATES_3, 4: CPU_PROFILE_CANDIDATES_4}

# how much faster a 2-thread step of these small models runs than a 1-thread one on an idle
# 2-core machine (see reports/bench/cpu_profile.md); turns CPU time into wall time (--two-core-speedup)
TWO_CORE_SPEEDUP = 1.7


# every proxy run: eval only at its end, on a 2 % val split (a 79k-byte val keeps that eval
# to seconds; the same split for every candidate), one thread (robust to other jobs; same maths)
CPU_PROFILE_BASE = {"train.eval_every": None, "train.ckpt_every": None, "train.train_eval_rows": 64,
                    "eval.monitor_theorems": 16, "data.val_frac": 0.02, "train.threads": 1}


def optimizer_step_s(cfgs, rounds=2):
    """Estimated wall seconds per optimizer step on an idle 2-core machine, for each config.

    Measured as single-thread CPU time (time.process_time with torch.set_num_threads(1)), which
    other jobs on a shared machine barely change (a 2-thread step's wall time can grow 10x
    there), divided by TWO_CORE_SPEEDUP."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = []
    try:
        for cfg in cfgs:
            torch.manual_seed(0)
            model = GPT(cfg.model)
            model.train()
            optimizer = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95))
            g = torch.Generator().manual_seed(0)
            x = torch.randint(0, 256, (cfg.train.batch_size, cfg.model.ctx), generator=g)
            step = train_step_fn(model, optimizer, x, x)
            step()  # warm-up
            cpu_s = []
            for _ in range(rounds):
                t0 = time.process_time()
                step()
                cpu_s.append(time.process_time() - t0)
            out.append(min(cpu_s) * derive(cfg)["grad_accum_steps"] / TWO_CORE_SPEEDUP)
    finally:
        torch.set_num_threads(threads)
    return out


def _read_proxy(run_dir):
    """Final eval row, last train row and n_params of a finished proxy run."""
    rows = read_jsonl(run_dir / "metrics.jsonl")
    last_eval = [r for r in rows if r["kind"] == "eval"][-1]
    last_train = [r for r in rows if r["kind"] == "train"][-1]
    derived = json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("derived", {})
    return dict(val_bpb=last_eval["val_bpb"], val_loss=last_eval["val_loss"], train_loss=last_eval["train_loss"],
                verified_pct=last_eval["verified_pct"], structural_pct=last_eval["structural_pct"],
                tokens=last_train["tokens"], train_elapsed_s=last_train["elapsed_s"], n_params=derived.get("n_params"))


def cpu_profile_search(proxy_s=150.0, out_root=None, candidates=None, jobs=3):
    """Train every candidate for the optimizer steps that fit in proxy_s seconds at its estimated
    idle-machine speed (so the comparison holds at equal wall time whatever the load during the
    runs), `jobs` runs at a time (each on one thread), then read the final val bits/byte and
    verified % from each run's metrics.jsonl."""
    candidates = candidates or CPU_PROFILE_CANDIDATES
    out_root = Path(out_root or tempfile.mkdtemp(prefix="cpu-profile-"))
    out_root.mkdir(parents=True, exist_ok=True)
    step_s = optimizer_step_s([load_profile("cpu", {**CPU_PROFILE_BASE, **over}) for _, over in candidates])
    plans = []
    for (label, over), s in zip(candidates, step_s):
        n_steps = max(10, int(proxy_s / s))
        over = {**CPU_PROFILE_BASE, **over, "train.max_steps": n_steps, "train.warmup_steps": max(1, n_steps // 10)}
        run_dir = out_root / label.split(" (")[0].replace(" ", "_").replace(",", "").replace("/", "_")
        argv = [sys.executable, "-m", "proofgpt", "train", "--profile", "cpu", "--run", str(run_dir), "--force",
                "--no-progress"] + [f"{k}={'none' if v is None else v}" for k, v in over.items()]
        plans.append(dict(label=label, overrides=over, step_s=s, steps=n_steps, run_dir=run_dir, argv=argv))
        print(f"cpu-profile {label}: ~{s:.2f} s/step on an idle machine -> {n_steps} steps in {run_dir}", flush=True)
    running, results = [], []
    for plan in plans + [None] * jobs:
        while running and (len(running) >= jobs or plan is None):
            done = [(p, t0, pr) for p, t0, pr in running if p.poll() is not None]
            if not done:
                time.sleep(2)
                continue
            for p, t0, pr in done:
                running.remove((p, t0, pr))
                if p.returncode != 0:
                    print(f"cpu-profile {pr['label']}: failed (exit {p.returncode}); see {pr['run_dir']}/train.log")
                    continue
                r = dict(label=pr["label"], overrides=pr["overrides"], est_step_s=pr["step_s"], steps=pr["steps"],
                         wall_s=time.perf_counter() - t0, **_read_proxy(pr["run_dir"]))
                results.append(r)
                print(f"cpu-profile {r['label']}: val bpb {r['val_bpb']:.4f}, verified {r['verified_pct']}%, "
                      f"structural {r['structural_pct']}% ({r['wall_s']:.0f} s wall)", flush=True)
        if plan is not None:
            plan["run_dir"].mkdir(parents=True, exist_ok=True)
            log = open(plan["run_dir"] / "train.log", "w")
            running.append((subprocess.Popen(plan["argv"], stdout=log, stderr=subprocess.STDOUT), time.perf_counter(), plan))
    order = {label: i for i, (label, _) in enumerate(candidates)}
    results.sort(key=lambda r: order[r["label"]])
    return dict(proxy_s=proxy_s, two_core_speedup=TWO_CORE_SPEEDUP, base_overrides=CPU_PROFILE_BASE, candidates=results)


def main(argv=None) -> int:
    global TWO_CORE_SPEEDUP
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("proxy_s", type=float, help="seconds of (estimated idle-machine) training per candidate")
    parser.add_argument("--round", type=int, default=1, choices=sorted(ROUNDS),
                        help="candidate list (1: shapes and batch; 2: around round 1's winner; 3: corpus v2; 4: around round 3's winner)")
    parser.add_argument("--jobs", type=int, default=3, help="proxy runs at a time (one thread each)")
    parser.add_argument("--two-core-speedup", type=float, default=TWO_CORE_SPEEDUP,
                        help="2-thread over 1-thread step speed on the target machine (default: %(default)s)")
    parser.add_argument("--out", default=str(paths.REPORTS_DIR / "bench"), help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    TWO_CORE_SPEEDUP = args.two_core_speedup
    info = machine_info()
    result = cpu_profile_search(args.proxy_s, out_root=paths.RUNS_DIR / f"cpu-profile-search-{args.round}",
                                jobs=args.jobs, candidates=ROUNDS[args.round])
    info["loadavg_1m_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    out = Path(args.out) / ("cpu_profile.json" if args.round == 1 else f"cpu_profile_round{args.round}.json")
    atomic_write_json(out, dict(machine=info, **result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
