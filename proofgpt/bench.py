"""`python -m proofgpt bench`: speed of every stage, each figure shown as a ratio to a reference
measured in the same run, so a slow or shared machine changes the numbers but not the story.

Sections (run in this order; `--only SECTION` runs one, `--quick` uses tiny shapes for tests):
  peak      fp32 matmul GFLOP/s (square sgemm, best of several): the ceiling for everything else
  train     training step of the seed shape (ctx 512, fp32, AdamW + clip 1.0): tokens/s and
            MFU = flops/token x tokens/s / peak; residual and attention dropout on/off
  overhead  the real training loop (train.train) at a small shape, nanoGPT's CPU recipe (~0.8M
            params, ctx 64, batch 12), against the model's fwd+bwd+clip+AdamW alone on the same
            shape, on one thread: the share of a step spent outside the model (data, logging,
            bookkeeping; target < 10 %), and of it the batch construction timed alone
  modules   forward+backward split by module type (attention, MLP, norm, embedding/head),
            each timed in isolation on the activations it sees inside the model, as a fraction
            of one whole training step, plus the optimizer; their sum vs the step shows what
            isolation misses (residual adds, autograd bookkeeping)
  sample    greedy decoding to 512 tokens: KV cache vs full recompute; 8 prompts vs 1;
            proofgpt.sample.generate (the shipped sampler) on the same model
  search    checker-guided search (proofgpt.search.prove, e = 8 candidate steps per expansion):
            model tokens/s and expansions/s inside the search against sample.generate sampling
            the same 8 rows of the same length (prefill, checking and bookkeeping are the cost)
  data      generator and checker chars/s on the 3.68M-char corpus; packing efficiency
  cuda      bf16 autocast and torch.compile on/off (skipped with the reason on a CPU machine)

Trade-off: every timing is the best of a few repeats (min, not mean), and variants are timed
round-robin, so that on a machine shared with other jobs a burst of load slows all of them
alike: the ratios hold when absolute numbers do not. Two clocks: wall time with torch's threads
(what the issue asks for) and, for the MFU, also one thread in CPU time (time.process_time),
which other jobs barely disturb (on a shared machine the 2-thread wall-clock MFU falls far
below the 1-thread one, because OpenMP threads wait for each other whenever one is
descheduled; reports/bench/README.md has the measured figures). MFU counts 6N + 12 L d T flops per token (PaLM
appendix B, nanoGPT's estimate_mfu), i.e. the full T x T attention, although the causal half
is skipped, so it slightly flatters attention-heavy shapes.

One-off studies live in scripts/ (README.md, "Scripts"), not in the table.

Results: reports/bench/bench.json and reports/bench/bench.md (atomic writes), with the machine
(CPU model, cores, threads, torch version, load average before and after).
"""

import argparse
import contextlib
import io
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from proofgpt import paths
from proofgpt.certificate import corpus_owner, prompt_of, split_blocks
from proofgpt.check import check_corpus
from proofgpt.config import ModelConfig, load_profile
from proofgpt.env import device_name, git_commit
from proofgpt.generate import PLAN_CHARS, generate_corpus
from proofgpt.io import atomic_write_json, atomic_write_text
from proofgpt.model import GPT, MLP, CausalSelfAttention, KVCache, LayerNorm, RMSNorm
from proofgpt.pack import TrainRows, pack_proofs
from proofgpt.sample import generate, sampling_threads
from proofgpt.search import MAX_STEP_TOKENS, prove
from proofgpt.train import to_device, train

SECTIONS = ("peak", "train", "overhead", "modules", "sample", "search", "data", "cuda")

# the seed model shape (configs/seed.yaml, training plan) and the tiny one `--quick` uses
SEED_SHAPE = dict(vocab_size=256, ctx=512, d_model=320, n_layers=8, n_heads=10, d_mlp=1280)
QUICK_SHAPE = dict(vocab_size=256, ctx=64, d_model=64, n_layers=2, n_heads=4, d_mlp=256)
# nanoGPT's shakespeare_char on a CPU (its README: ctx 64, batch 12, 4 layers of 128, dropout 0): ~0.8M params
OVERHEAD_SHAPE = dict(ctx=64, d_model=128, n_layers=4, n_heads=4, d_mlp=512)
OVERHEAD_BATCH = 12
OVERHEAD_TARGET = 0.10  # the bound on the share of a step spent outside the model


# -----------------------------------------------------------------------------
# timing helpers

def time_best(fn, repeats, warmup=1):
    """Run fn() warmup + repeats times -> (best_s, median_s) of the timed repeats.

    time_best(lambda: sum(range(10)), 3) -> (2e-07, 3e-07) or so."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def machine_info():
    """What the numbers were measured on: CPU, cores, threads, torch, load (the machine may be shared)."""
    info = dict(
        cpu=device_name("cpu"),
        cores=os.cpu_count(),
        torch=torch.__version__,
        python=platform.python_version(),
        threads=torch.get_num_threads(),
        interop_threads=torch.get_num_interop_threads(),
        mkldnn=torch.backends.mkldnn.is_available(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        git_commit=git_commit(),
    )
    if hasattr(os, "getloadavg"):
        info["loadavg_1m_start"] = round(os.getloadavg()[0], 2)
    return info


class Results:
    """Rows of the one table: every measured value next to its reference and their ratio."""

    def __init__(self):
        self.rows = []
        self.skipped = {}  # section -> reason
        self.extra = {}  # section -> free-form details (kept in the JSON)

    def add(self, section, name, value, unit, ref_name, ref_value, note=""):
        """One row; ratio = value / ref_value (both in `unit`)."""
        row = dict(section=section, name=name, value=float(value), unit=unit, ref_name=ref_name,
                   ref_value=float(ref_value), ratio=float(value) / float(ref_value), note=note)
        self.rows.append(row)
        print(format_row(row), flush=True)
        return row

    def skip(self, section, reason):
        self.skipped[section] = reason
        print(f"{section:<8} skipped: {reason}", flush=True)


def _fmt(x):
    if x == 0 or not math.isfinite(x):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2e}"


TABLE_HEADER = ("section", "measurement", "value", "unit", "reference", "ref value", "ratio")


def format_row(row):
    return (f"{row['section']:<8} {row['name']:<44} {_fmt(row['value']):>10} {row['unit']:<8} "
            f"{row['ref_name']:<34} {_fmt(row['ref_value']):>10} {row['ratio']:>7.3f}")


def format_table(results):
    head = (f"{'section':<8} {'measurement':<44} {'value':>10} {'unit':<8} "
            f"{'reference':<34} {'ref value':>10} {'ratio':>7}")
    lines = [head, "-" * len(head)] + [format_row(r) for r in results.rows]
    lines += [f"{s:<8} skipped: {reason}" for s, reason in results.skipped.items()]
    return "\n".join(lines)


def format_markdown(results, info, args):
    out = ["# proofgpt bench", "",
           f"`python -m proofgpt bench{' --quick' if args.quick else ''}` on {info['cpu']} "
           f"({info['cores']} cores, {info['threads']} torch threads, torch {info['torch']}, "
           f"git {info['git_commit']}). Load average (1 min) {info.get('loadavg_1m_start')} before, "
           f"{info.get('loadavg_1m_end')} after: above the core count means other jobs shared the "
           "machine. Every value is the best of a few repeats; ratio = value / reference, both "
           "measured in this run, variants timed round-robin. On a shared machine the 2-thread wall-clock "
           "rows suffer most (OpenMP barriers wait for descheduled threads, so elementwise-heavy parts such "
           "as dropout, norms and AdamW look far more expensive than they are); the `1 thread ... (CPU time)` "
           "row is the load-robust measure of how close a step gets to the matmul peak.", "",
           "| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    for r in results.rows:
        out.append(f"| {r['section']} | {r['name']} | {_fmt(r['value'])} | {r['unit']} | "
                   f"{r['ref_name']} | {_fmt(r['ref_value'])} | {r['ratio']:.3f} |")
    if results.skipped:
        out += ["", "Skipped:", ""] + [f"- {s}: {reason}" for s, reason in results.skipped.items()]
    out += ["", f"Wall time of the bench: {info.get('elapsed_s', 0):.0f} s.", ""]
    return "\n".join(out)


# -----------------------------------------------------------------------------
# peak: the reference for every MFU

def matmul_gflops(n, repeats, dtype=torch.float32, device="cpu"):
    """Best GFLOP/s of an (n, n) @ (n, n) matmul (2 n^3 flops)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)

    def mm():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    best_s, median_s = time_best(mm, repeats, warmup=2)
    return 2 * n ** 3 / best_s / 1e9, 2 * n ** 3 / median_s / 1e9


def bench_peak(res, args, state):
    n = 256 if args.quick else 2048
    repeats = 3 if args.quick else 6
    gflops, median = matmul_gflops(n, repeats)
    state["peak_gflops"] = gflops
    res.extra["peak"] = dict(n=n, best_gflops=gflops, median_gflops=median)
    # best over median: how noisy the machine is (1.0 = quiet; > 1.2 = shared with other jobs)
    res.add("peak", f"fp32 matmul {n}^3, best of {repeats}", gflops, "GFLOP/s", f"median of the {repeats}", median)


def ensure_peak(res, args, state):
    if "peak_gflops" not in state:
        bench_peak(res, args, state)
    return state["peak_gflops"]


# -----------------------------------------------------------------------------
# train: the seed shape's training step

def make_model(args, **overrides):
    shape = dict(QUICK_SHAPE if args.quick else SEED_SHAPE)
    shape.update(overrides)
    torch.manual_seed(0)
    return GPT(ModelConfig(**shape))


def fake_batch(args, ctx, batch_size=None, seed=0):
    """Random byte ids (x, y) of shape (B, ctx): speed does not depend on the values."""
    g = torch.Generator().manual_seed(seed)
    B = batch_size or args.batch
    x = torch.randint(0, 256, (B, ctx), generator=g)
    y = torch.randint(0, 256, (B, ctx), generator=g)
    return x, y


def train_step_fn(model, optimizer, x, y, autocast_dtype=None):
    """One training step as train.py does it: fwd, bwd, clip 1.0, AdamW, zero grads."""
    device_type = x.device.type

    def step():
        if autocast_dtype is not None:
            with torch.autocast(device_type=device_type, dtype=autocast_dtype):
                _, loss = model(x, y)
        else:
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device_type == "cuda":
            torch.cuda.synchronize()

    return step


def build_train_step(args, dropout=0.0, attn_dropout=0.0, batch_size=None):
    """-> (step fn, info dict) for a seed-shape (or --quick) model with these dropouts."""
    model = make_model(args, dropout=dropout, attn_dropout=attn_dropout)
    model.train()
    optimizer = model.configure_optimizer(0.1, 3e-4, (0.9, 0.95))
    ctx = model.config.ctx
    B = batch_size or args.batch
    x, y = fake_batch(args, ctx, B)
    info = dict(batch=B, ctx=ctx, dropout=dropout, attn_dropout=attn_dropout,
                flops_per_token=model.flops_per_token(), n_params=model.num_params())
    return train_step_fn(model, optimizer, x, y), info


def round_robin(fns, repeats, clock=time.perf_counter):
    """Time each fn once per round (after one warm-up round) -> [(best_s, median_s)] per fn.

    Interleaving means a burst of other jobs on a shared machine hits every fn alike, so
    their ratios hold even when the absolute times do not."""
    times = [[] for _ in fns]
    for r in range(repeats + 1):
        for i, fn in enumerate(fns):
            t0 = clock()
            fn()
            if r > 0:
                times[i].append(clock() - t0)
    return [(min(t), statistics.median(t)) for t in times]


def with_info(info, best_s, median_s):
    tokens = info["batch"] * info["ctx"]
    return dict(info, step_s=best_s, median_step_s=median_s, tokens_per_s=tokens / best_s,
                gflops=tokens * info["flops_per_token"] / best_s / 1e9)


def measure_train(args, dropout=0.0, attn_dropout=0.0, batch_size=None, repeats=None):
    """-> dict(tokens_per_s, step_s, median_step_s, flops_per_token, gflops, ...) for one variant."""
    step, info = build_train_step(args, dropout, attn_dropout, batch_size)
    return with_info(info, *time_best(step, repeats or args.repeats))


def one_thread_cpu(fn, repeats):
    """Best CPU seconds of fn() on one torch thread: what a shared machine barely disturbs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return round_robin([fn], repeats, clock=time.process_time)[0][0]
    finally:
        torch.set_num_threads(threads)


def bench_train(res, args, state):
    peak = ensure_peak(res, args, state)
    variants = {"resid 0, attn 0": (0.0, 0.0), "resid 0.1, attn 0": (0.1, 0.0),
                "resid 0, attn 0.1": (0.0, 0.1), "resid 0.1, attn 0.1": (0.1, 0.1)}
    built = {label: build_train_step(args, p, pa) for label, (p, pa) in variants.items()}
    timed = round_robin([step for step, _ in built.values()], args.repeats)
    details = {label: with_info(info, *t) for (label, (_, info)), t in zip(built.items(), timed)}
    base = details["resid 0, attn 0"]
    state["train_tokens_per_s"] = base["tokens_per_s"]
    shape = f"B{base['batch']}x{base['ctx']}"
    res.add("train", f"step GFLOP/s, dropout 0/0 ({shape}) = MFU", base["gflops"], "GFLOP/s",
            "fp32 matmul peak", peak, note=f"{base['tokens_per_s']:.0f} tokens/s")
    res.add("train", f"tokens/s, dropout 0/0 ({shape})", base["tokens_per_s"], "tok/s",
            "tokens/s at the matmul peak", peak * 1e9 / base["flops_per_token"])
    for label, m in list(details.items())[1:]:
        res.add("train", f"tokens/s, {label}", m["tokens_per_s"], "tok/s", "tokens/s, dropout 0/0",
                base["tokens_per_s"])
    # the same MFU on one thread in CPU seconds: robust to other jobs, shows the code's efficiency
    n = 256 if args.quick else 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    peak1 = 2 * n ** 3 / one_thread_cpu(lambda: a @ b, 3) / 1e9
    step1_s = one_thread_cpu(built["resid 0, attn 0"][0], max(1, args.repeats - 1))
    gflops1 = base["batch"] * base["ctx"] * base["flops_per_token"] / step1_s / 1e9
    res.add("train", "1 thread: step GFLOP/s (CPU time) = MFU", gflops1, "GFLOP/s",
            "1 thread: matmul GFLOP/s (CPU time)", peak1)
    res.extra["train"] = dict(details, one_thread=dict(step_cpu_s=step1_s, gflops=gflops1, peak_gflops=peak1))


def ensure_train_ref(res, args, state):
    """Training tokens/s at dropout 0, measured here if the train section did not run."""
    if "train_tokens_per_s" not in state:
        state["train_tokens_per_s"] = measure_train(args, repeats=1)["tokens_per_s"]
    return state["train_tokens_per_s"]


# -----------------------------------------------------------------------------
# overhead: the real loop against the model compute alone

def overhead_config(args, corpus: Path, n_steps: int):
    """The cpu profile at the overhead shape (--quick: QUICK_SHAPE, --batch) on corpus as raw
    bytes (random ctx+1 windows, as the cpu profile's train.rows), n_steps steps in one epoch."""
    shape = {k: QUICK_SHAPE[k] for k in OVERHEAD_SHAPE} if args.quick else OVERHEAD_SHAPE
    batch = args.batch if args.quick else OVERHEAD_BATCH
    overrides = [f"model.{k}={v}" for k, v in shape.items()] + [
        "model.dropout=0.0", "data.format=text", f"data.path={corpus}", "data.generate_chars=0",
        f"train.batch_size={batch}", f"train.tokens_per_step={batch * shape['ctx']}", "train.epochs=1",
        f"train.max_steps={n_steps}", "train.train_eval_rows=8", "train.device=cpu", "train.threads=1",
        f"sample.max_new_tokens={shape['ctx']}"]
    return load_profile("cpu", overrides)


CLOCKS = (time.perf_counter, time.process_time)  # wall, and CPU time (what other jobs barely disturb)


def loop_step_s(cfg, run_dir: Path) -> tuple[float, float]:
    """Train cfg into run_dir -> median (wall, CPU) seconds between consecutive steps of
    train.train's loop (its on_step callback): data, model, optimizer, logging, bookkeeping; the
    set-up and the final evaluation and checkpoint fall outside every interval."""
    stamps = []
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer's log lines
        train(cfg, run_dir, progress=False, on_step=lambda row: stamps.append([clock() for clock in CLOCKS]))
    return tuple(float(v) for v in np.median(np.diff(np.array(stamps), axis=0), axis=0))


def compute_step_fn(cfg):
    """fwd + bwd + clip + AdamW on one fixed batch of cfg's shape, the model and optimizer built
    as train.setup builds them: the model compute alone."""
    torch.manual_seed(0)
    model = GPT(cfg.model)
    model.train()
    t = cfg.train
    optimizer = model.configure_optimizer(t.weight_decay, t.lr, (t.beta1, t.beta2), device_type="cpu",
                                          decay_embeddings=t.decay_embeddings)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randint(0, 256, (t.batch_size, cfg.model.ctx), generator=g) for _ in range(2))
    return train_step_fn(model, optimizer, x, y)


def bench_overhead(res, args, state):
    # one thread: with two, on the 2-core machine shared with other jobs, the loop came out 6 % and
    # 18 % faster than the compute alone in two runs (OpenMP threads waiting for each other):
    # noise far larger than the overhead looked for
    threads = torch.get_num_threads()
    try:
        _bench_overhead(res, args, 4 if args.quick else 40)
    finally:
        torch.set_num_threads(threads)  # train.setup_device set train.threads=1


def _bench_overhead(res, args, n_steps):
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="proofgpt-bench-") as tmp:
        tmp = Path(tmp)
        probe = overhead_config(args, tmp / "corpus.bin", n_steps)
        B, ctx = probe.train.batch_size, probe.model.ctx
        # enough train windows that the measured steps stay inside one epoch (no epoch-end evaluation)
        n_bytes = int(2 * (n_steps + 2) * B * (ctx + 1) / (1 - probe.data.val_frac))
        (tmp / "corpus.bin").write_bytes(random.Random(0).randbytes(n_bytes))  # speed does not depend on the bytes
        compute = compute_step_fn(probe)
        loop_s, compute_s = [], []  # per round: (wall, CPU) seconds per step
        for r in range(args.repeats):  # round-robin: a burst of load hits both alike
            loop_s.append(loop_step_s(probe, tmp / f"run{r}"))
            times = []
            for _ in range(n_steps):
                t0 = [clock() for clock in CLOCKS]
                compute()
                times.append([clock() - t for clock, t in zip(CLOCKS, t0)])
            compute_s.append(tuple(float(t) for t in np.median(times[1:], axis=0)))  # the first one warms up
        # the batch construction alone, as the loop does it (train.rows windows, then to_device)
        rows = TrainRows((tmp / "run0" / "data" / "train.txt").read_bytes(), ctx, seed=0)
        data_s = time_best(lambda: [to_device(rows.batch(0, np.arange(i * B, (i + 1) * B)), "cpu")
                                    for i in range(n_steps)], args.repeats)[0] / n_steps
    loop, loop_cpu = (float(v) for v in np.min(loop_s, axis=0))  # the best round, per clock
    comp, comp_cpu = (float(v) for v in np.min(compute_s, axis=0))
    # timing noise can put the loop a hair under the compute alone: then nothing measurable is outside
    outside, outside_cpu = max(loop - comp, 0.0), max(loop_cpu - comp_cpu, 0.0)
    n_params = GPT(probe.model).num_params()
    shape = f"{n_params / 1e6:.2f}M, B{B}x{ctx}, 1 thread"
    res.add("overhead", f"train.py loop step ({shape})", loop * 1e3, "ms", "fwd+bwd+clip+AdamW alone", comp * 1e3)
    res.add("overhead", f"outside the model (target < {OVERHEAD_TARGET:.0%})", outside * 1e3, "ms", "train.py loop step", loop * 1e3)
    res.add("overhead", f"the same in CPU time (target < {OVERHEAD_TARGET:.0%})", outside_cpu * 1e3, "ms",
            "loop step, CPU time", loop_cpu * 1e3)
    res.add("overhead", "of which batch construction (timed alone)", data_s * 1e3, "ms", "train.py loop step", loop * 1e3)
    res.extra["overhead"] = dict(n_params=n_params, batch=B, ctx=ctx, n_steps=n_steps, loop_step_s=loop, compute_step_s=comp,
                                 outside_s=outside, outside_share=outside / loop, loop_step_cpu_s=loop_cpu,
                                 compute_step_cpu_s=comp_cpu, outside_cpu_s=outside_cpu, outside_cpu_share=outside_cpu / loop_cpu,
                                 data_s=data_s, target_share=OVERHEAD_TARGET,
                                 rounds=dict(loop_step_s=loop_s, compute_step_s=compute_s))


# -----------------------------------------------------------------------------
# modules: where a step's time goes

def _capture_inputs(model, x, y):
    """Forward once and record the positional inputs each attention/MLP/norm/head module saw."""
    kinds = {CausalSelfAttention: "attention", MLP: "mlp", RMSNorm: "norm", LayerNorm: "norm"}
    captured = {"attention": [], "mlp": [], "norm": [], "head": []}
    hooks = []
    for m in model.modules():
        kind = kinds.get(type(m))
        if kind is None and m is model.lm_head:
            kind = "head"
        if kind is not None:
            hooks.append(m.register_forward_pre_hook(
                lambda mod, inp, kind=kind: captured[kind].append((mod, [t.detach() if torch.is_tensor(t) else t for t in inp]))))
    with torch.no_grad():
        model(x, y)
    for h in hooks:
        h.remove()
    return captured


def _fwd_bwd_fn(calls):
    """fn() that runs fwd+bwd of every (module, inputs) in calls, inputs requiring grad."""
    prepared = []
    for mod, inp in calls:
        inp = [t.clone().requires_grad_(True) if torch.is_tensor(t) and t.is_floating_point() else t for t in inp]
        prepared.append((mod, inp))

    def run():
        for mod, inp in prepared:
            out = mod(*inp)
            out.backward(torch.ones_like(out))
        for mod, _ in prepared:
            mod.zero_grad(set_to_none=True)

    return run


def bench_modules(res, args, state):
    model = make_model(args, dropout=0.0)
    model.train()
    optimizer = model.configure_optimizer(0.1, 3e-4, (0.9, 0.95))
    ctx = model.config.ctx
    x, y = fake_batch(args, ctx)
    captured = _capture_inputs(model, x, y)
    fns = {"step": train_step_fn(model, optimizer, x, y)}
    for kind in ("attention", "mlp", "norm"):
        fns[kind] = _fwd_bwd_fn(captured[kind])

    # embedding/head: token (+ position) lookup, tied head matmul, cross-entropy
    h = captured["head"][0][1][0].clone().requires_grad_(True)  # (B, T, C): ln_f output

    def emb_head():
        e = model.wte(x)  # (B, T, C)
        if model.wpe is not None:
            e = e + model.wpe(torch.arange(ctx))
        logits = model.lm_head(h)  # (B, T, V)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-1)
        (loss + e.sum() * 0.0).backward()
        model.zero_grad(set_to_none=True)

    fns["embedding/head"] = emb_head
    # the optimizer alone, on the gradients of one real backward
    _, loss = model(x, y)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]

    def opt_step():
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    fns["optimizer (clip + AdamW)"] = opt_step
    timed = dict(zip(fns, (best for best, _ in round_robin(list(fns.values()), args.repeats))))
    step_s = timed.pop("step")
    parts = timed
    for kind, s in parts.items():
        res.add("modules", f"{kind} fwd+bwd" if "(" not in kind else kind, s * 1e3, "ms",
                "whole training step", step_s * 1e3)
    # what isolation misses (residual adds, dropout, autograd bookkeeping) shows as a sum < 1
    res.add("modules", "sum of the parts above", sum(parts.values()) * 1e3, "ms",
            "whole training step", step_s * 1e3)
    res.extra["modules"] = dict(step_s=step_s, parts_s=parts,
                                batch=args.batch, ctx=ctx)


# -----------------------------------------------------------------------------
# sample: KV cache vs recompute, batched vs single

@torch.inference_mode()
def greedy_tokens_per_s(model, prompt_ids, n_total, use_cache):
    """Greedy-decode prompts (B, P) until each row is n_total tokens long -> new tokens/s.

    With the cache the prompt is prefilled once and each step feeds one token; without it
    every step runs the whole sequence so far (the naive loop the cache replaces)."""
    model.eval()
    idx = prompt_ids
    B, P = idx.shape
    n_new = n_total - P
    t0 = time.perf_counter()
    if use_cache:
        cache = KVCache(model.config, B, max_len=n_total)
        logits, _ = model(idx, cache=cache)
        for i in range(n_new):
            nxt = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
            if i < n_new - 1:
                logits, _ = model(nxt, cache=cache)
    else:
        for _ in range(n_new):
            logits, _ = model(idx)
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    elapsed = time.perf_counter() - t0
    return B * n_new / elapsed, idx


def generate_tokens_per_s(model, prompt, n_total, batch):
    """New tokens/s of proofgpt.sample.generate (the shipped KV-cache path), greedy, no early stop."""
    n_new = n_total - len(prompt.encode("utf-8"))
    t0 = time.perf_counter()
    generate(model, [prompt] * batch, max_new_tokens=n_new, temperature=0.0, stop_at_qed=False)
    return batch * n_new / (time.perf_counter() - t0)


def bench_sample(res, args, state):
    model = make_model(args, dropout=0.0)
    n_total = model.config.ctx  # decode up to the full context: 512 tokens for the seed shape
    text = "@T add_comm\n"
    prompt = torch.tensor([list(text.encode("utf-8"))], dtype=torch.long)  # (1, P)
    # warm up both paths on a short run
    greedy_tokens_per_s(model, prompt, prompt.size(1) + 4, use_cache=True)
    greedy_tokens_per_s(model, prompt, prompt.size(1) + 4, use_cache=False)
    kv_tps, kv_ids = greedy_tokens_per_s(model, prompt, n_total, use_cache=True)
    full_tps, full_ids = greedy_tokens_per_s(model, prompt, n_total, use_cache=False)
    same = bool(torch.equal(kv_ids, full_ids))
    res.add("sample", f"KV cache tokens/s (B1, to {n_total} tokens)", kv_tps, "tok/s",
            "full recompute tokens/s", full_tps, note=f"same tokens: {same}")
    batch = 8
    kv8_tps, _ = greedy_tokens_per_s(model, prompt.repeat(batch, 1), n_total, use_cache=True)
    res.add("sample", f"KV cache tokens/s, {batch} prompts batched", kv8_tps, "tok/s",
            "KV cache tokens/s, 1 prompt", kv_tps)
    extra = dict(n_total=n_total, prompt_len=prompt.size(1), kv_equals_recompute=same)
    # the shipped sampler (top-p machinery, stop checks) on the same cache
    gen1 = generate_tokens_per_s(model, text, n_total, 1)
    gen8 = generate_tokens_per_s(model, text, n_total, batch)
    res.add("sample", "sample.generate tokens/s, 1 prompt", gen1, "tok/s", "raw KV-cache loop, 1 prompt", kv_tps)
    res.add("sample", f"sample.generate tokens/s, {batch} prompts", gen8, "tok/s",
            "sample.generate tokens/s, 1 prompt", gen1)
    extra.update(generate_1_tokens_per_s=gen1, generate_8_tokens_per_s=gen8)
    res.extra["sample"] = extra


# -----------------------------------------------------------------------------
# search: the model inside the checker-guided search vs plain batched sampling

def bench_search(res, args, state):
    """Search each of a few short theorems with the untrained model (its steps are noise, so each
    search is one expansion of e rows running to the step limit), alternating with
    sample.generate on the same e rows and limit, so load bursts hit both alike. One thread, as
    the prove command and the widget run it (sample.sampling_threads)."""
    with sampling_threads(1):
        _bench_search(res, args)


def _bench_search(res, args):
    e, n_theorems = 8, (2 if args.quick else 6)
    model = make_model(args, dropout=0.0, ctx=512).eval()
    blocks = split_blocks(generate_corpus(seed=0, n_chars=20_000)[0])
    texts = sorted((b.text for b in blocks), key=lambda t: len(prompt_of(t)))[:n_theorems]
    search_s = gen_s = 0.0
    tokens = expansions = gen_tokens = 0
    for i, text in enumerate([texts[0]] + texts):  # the first one warms up both paths, untimed
        t0 = time.perf_counter()
        r = prove(model, text, e=e, temperature=1.0, max_expansions=4)
        t1 = time.perf_counter()
        limit = min(MAX_STEP_TOKENS, model.config.ctx - len(prompt_of(text).encode("utf-8")))
        generate(model, [prompt_of(text)] * e, max_new_tokens=limit, temperature=1.0, top_p=1.0,
                       stop_at_qed=False)
        t2 = time.perf_counter()
        if i == 0:
            continue
        search_s, gen_s = search_s + t1 - t0, gen_s + t2 - t1
        tokens, expansions = tokens + r.tokens, expansions + r.expansions
        gen_tokens += e * limit  # no early stop: every row runs to the limit
    search_tps, gen_tps = tokens / search_s, gen_tokens / gen_s
    res.add("search", f"model tokens/s inside search (e {e})", search_tps, "tok/s",
            f"sample.generate tokens/s, {e} rows", gen_tps)
    res.add("search", "search expansions/s", expansions / search_s, "exp/s",
            f"sample.generate calls/s, {e} rows", n_theorems / gen_s)
    res.extra["search"] = dict(e=e, theorems=n_theorems, expansions=expansions, tokens=tokens, search_s=search_s,
                               generate_tokens=gen_tokens, generate_s=gen_s)


# -----------------------------------------------------------------------------
# data: generator, checker, packing

def load_corpus_text(args):
    """-> (text, source, generate_s or None): data/training.txt if ours per its manifest, else generated."""
    n_chars = 40_000 if args.quick else PLAN_CHARS
    if not args.quick and corpus_owner(paths.CORPUS) == "ours":
        return paths.CORPUS.read_text(encoding="utf-8"), str(paths.CORPUS), None
    t0 = time.perf_counter()
    text, _ = generate_corpus(seed=0, n_chars=n_chars)
    return text, f"generated in memory (seed 0, {n_chars:,} chars)", time.perf_counter() - t0


def bench_data(res, args, state):
    ref = ensure_train_ref(res, args, state)
    text, source, gen_s = load_corpus_text(args)
    if gen_s is None:  # the corpus was on disk: time the generator on a tenth of it
        n = len(text) // 10
        t0 = time.perf_counter()
        generate_corpus(seed=0, n_chars=n)
        gen_s = (time.perf_counter() - t0) * len(text) / n
    n_chars = len(text)
    res.add("data", "generator chars/s", n_chars / gen_s, "char/s", "training tokens/s (dropout 0)", ref)
    blocks = split_blocks(text)
    t0 = time.perf_counter()
    report = check_corpus(blocks)
    check_s = time.perf_counter() - t0
    res.add("data", "checker chars/s", n_chars / check_s, "char/s", "training tokens/s (dropout 0)", ref,
            note=f"verified {report.verified_frac:.3f}")
    texts = [b.text for b in blocks]
    pack = {}
    for ctx in ((64, 128) if args.quick else (512, 1024)):
        packed = pack_proofs(texts, ctx)
        eff = packed.stats["efficiency"]
        pack[ctx] = packed.stats
        res.add("data", f"packing efficiency ctx {ctx}", eff * packed.tokens.size, "tokens",
                "row slots", packed.tokens.size)
    res.extra["data"] = dict(source=source, n_chars=n_chars, generate_s=gen_s, check_s=check_s,
                             verified_frac=report.verified_frac, packing={str(k): v for k, v in pack.items()})


# -----------------------------------------------------------------------------
# cuda: bf16 autocast and torch.compile (only with a GPU)

def bench_cuda(res, args, state):
    if not torch.cuda.is_available():
        res.skip("cuda", "no CUDA device (torch.cuda.is_available() is False): bf16 autocast and "
                 "torch.compile rows need a GPU")
        return
    name = torch.cuda.get_device_name(0)
    n = 1024 if args.quick else 8192
    peak32, _ = matmul_gflops(n, 5, torch.float32, "cuda")
    peak16, _ = matmul_gflops(n, 5, torch.bfloat16, "cuda")
    B = 8 if args.quick else 64
    shape = dict(QUICK_SHAPE if args.quick else SEED_SHAPE)
    out = {}
    for label, dtype, compile_ in (("fp32", None, False), ("bf16 autocast", torch.bfloat16, False),
                                   ("bf16 autocast + compile", torch.bfloat16, True)):
        torch.manual_seed(0)
        model = GPT(ModelConfig(**shape, dropout=0.0)).cuda()
        optimizer = model.configure_optimizer(0.1, 3e-4, (0.9, 0.95), device_type="cuda")
        x, y = (t.cuda() for t in fake_batch(args, shape["ctx"], B))
        fwd = torch.compile(model) if compile_ else model
        best_s, _ = time_best(train_step_fn(fwd, optimizer, x, y, dtype), 10, warmup=3 if compile_ else 2)
        tps = B * shape["ctx"] / best_s
        out[label] = dict(tokens_per_s=tps, step_s=best_s, gflops=tps * model.flops_per_token() / 1e9)
    res.add("cuda", f"fp32 step GFLOP/s = MFU ({name})", out["fp32"]["gflops"], "GFLOP/s",
            "fp32 matmul peak", peak32)
    for label in ("bf16 autocast", "bf16 autocast + compile"):
        res.add("cuda", f"{label} step GFLOP/s = MFU", out[label]["gflops"], "GFLOP/s",
                "bf16 matmul peak", peak16)
        res.add("cuda", f"{label} tokens/s", out[label]["tokens_per_s"], "tok/s",
                "fp32 tokens/s", out["fp32"]["tokens_per_s"])
    res.extra["cuda"] = dict(device=name, peak_fp32_gflops=peak32, peak_bf16_gflops=peak16, batch=B, runs=out)


# -----------------------------------------------------------------------------

RUNNERS = dict(peak=bench_peak, train=bench_train, overhead=bench_overhead, modules=bench_modules, sample=bench_sample,
               search=bench_search, data=bench_data, cuda=bench_cuda)


def write_results(res, info, args, out_dir):
    payload = dict(machine=info, quick=args.quick, batch=args.batch, repeats=args.repeats,
                   only=args.only, rows=res.rows, skipped=res.skipped, details=res.extra)
    atomic_write_json(out_dir / "bench.json", payload)
    atomic_write_text(out_dir / "bench.md", format_markdown(res, info, args))


def run_bench(args, out_dir):
    """Run the selected sections -> (Results, machine info); the files are rewritten after
    every section, so an interrupted bench still leaves what it measured."""
    t0 = time.perf_counter()
    info = machine_info()
    res, state = Results(), {}
    for section in SECTIONS:
        if args.only and section not in args.only:
            continue
        t_section = time.perf_counter()
        RUNNERS[section](res, args, state)
        info.setdefault("section_s", {})[section] = round(time.perf_counter() - t_section, 1)
        if hasattr(os, "getloadavg"):
            info["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
        info["elapsed_s"] = time.perf_counter() - t0
        write_results(res, info, args, out_dir)
    return res, info


def main(argv=None):
    parser = argparse.ArgumentParser(prog="proofgpt bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes and corpus (seconds; what the test runs)")
    parser.add_argument("--only", action="append", choices=SECTIONS, metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--batch", type=int, default=None, help="training batch size (default 8; 2 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's, = cores)")
    parser.add_argument("--out", default=None,
                        help="output directory (default reports/bench, or reports/bench/quick with --quick)")
    args = parser.parse_args(argv)
    if args.batch is None:
        args.batch = 2 if args.quick else 8
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = paths.REPORTS_DIR / "bench" if args.out is None else __import__("pathlib").Path(args.out)
    if args.out is None and args.quick:
        out_dir = out_dir / "quick"

    res, info = run_bench(args, out_dir)
    print()
    print(format_table(res))
    print(f"\nwrote {out_dir / 'bench.json'} and {out_dir / 'bench.md'} ({info['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
