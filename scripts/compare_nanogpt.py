"""Side by side: karpathy/nanoGPT and proofgpt runs, trained on the same split, graded by the same code.

    python scripts/compare_nanogpt.py nanogpt /path/to/nanoGPT --out reports/bench/engine_ablation.json
    python scripts/compare_nanogpt.py run runs/cpu --name default --out reports/bench/engine_ablation.json
    python scripts/compare_nanogpt.py table reports/bench/engine_ablation.json
    python scripts/compare_nanogpt.py table reports/bench/engine_ablation.json --recipes nanoGPT

`nanogpt` takes a checkout of karpathy/nanoGPT (fetched beforehand; nothing is fetched here),
writes train.bin / val.bin / meta.pkl from the bytes of data/train.txt and data/val.txt into a
temp dir, runs the checkout's own train.py there as a subprocess (CPU, fp32, one thread, the
`cpu` profile's shape, batch, schedule and optimizer) and grades its checkpoint. `run` grades
a proofgpt run (its best checkpoint). `nanogpt --train-seed s` trains another seed of the same recipe
(train.py's seed line 1337 -> 1337 + s in a temp copy; seed 0 runs the checkout as it is). Both
go through `measure`, so the columns mean the same:

    verified %    `evaluate.complete_theorems` on the first 100 val theorems, k=4, T 0.8,
                  top-p 0.9, 192 new bytes; mean +- std over sampling seeds 0, 1, 2, and a
                  Wilson 95 % interval at the mean rate over one seed's 400 samples
    pass@4 %      mean +- std over the same seeds
    prompt, proof nats/byte on every val certificate fed alone from its first byte:
                  targets up to and including the first `@G` line / the rest (with "\\n\\n")
    windows       nats/byte on all non-overlapping ctx-byte windows of the val.txt bytes

`table --against ROW` compares rows theorem by theorem (the theorems as the random draw, weights
fixed); `table --recipes RECIPE` groups the rows of one recipe over training seeds (names that
differ only in a trailing `train.seed=N` / `seed=N`) and gives t intervals over the trainings.

nanoGPT's model is proofgpt's GPT with norm=layernorm, bias=False: the same parameter names
under `transformer.` and `h.<i>` (`blocks.<i>` here) and the same maths. So the adapter
renames its state dict into a `proofgpt.model.GPT`, which brings the forward(idx, cache=...)
that `sample.generate` calls, and checks the logits against nanoGPT's own forward first.
"""

import argparse
import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from proofgpt import paths
from proofgpt.certificate import prompt_of, read_texts
from proofgpt.checkpoint import load_model
from proofgpt.evaluate import complete_theorems
from proofgpt.model import GPT, GPTConfig

SEEDS = (0, 1, 2)
SAMPLE = dict(temperature=0.8, top_k=None, top_p=0.9, max_new_tokens=192)

# the cpu profile (configs/cpu.yaml) in nanoGPT's train.py globals
NANOGPT_CONFIG = dict(
    batch_size=8, block_size=512, gradient_accumulation_steps=1,
    n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False,
    learning_rate=2e-3, max_iters=1400, lr_decay_iters=1400, min_lr=2e-4, warmup_iters=100,
    beta1=0.9, beta2=0.95, weight_decay=0.1, grad_clip=1.0, decay_lr=True,
    device="cpu", dtype="float32", compile=False,
    eval_interval=1400, eval_iters=20, log_interval=100, always_save_checkpoint=True, init_from="scratch",
)


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial rate, in %: wilson(40, 400) -> (7.4, 13.3)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, 100 * (centre - half)), min(100.0, 100 * (centre + half))


@torch.no_grad()
def _nats(model, rows, starts):
    """Summed cross-entropy of rows (lists of byte ids) split at starts[i] -> (before, n, after, n)."""
    ctx = model.config.ctx
    out = np.zeros(4)
    for i in range(0, len(rows), 64):
        chunk, cut = rows[i:i + 64], starts[i:i + 64]
        T = max(len(r) for r in chunk) - 1
        x = torch.zeros(len(chunk), T, dtype=torch.long)
        y = torch.full((len(chunk), T), -1, dtype=torch.long)
        for b, r in enumerate(chunk):
            r = torch.tensor(r[:ctx + 1], dtype=torch.long)
            x[b, :len(r) - 1], y[b, :len(r) - 1] = r[:-1], r[1:]
        logits, _ = model(x)  # (B, T, V)
        nll = F.cross_entropy(logits.float().transpose(1, 2), y, ignore_index=-1, reduction="none")  # (B, T)
        t = torch.arange(1, T + 1)[None, :]  # position of each target in its row
        early = (t < torch.tensor(cut)[:, None]) & (y != -1)
        late = (t >= torch.tensor(cut)[:, None]) & (y != -1)
        out += [float(nll[early].sum()), int(early.sum()), float(nll[late].sum()), int(late.sum())]
    return out


def loss_split(model, val_texts) -> dict:
    """Nats/byte on the prompt part (through the first @G line) and the proof part of each val
    certificate, fed alone from its start (certificates longer than ctx+1 bytes are cut)."""
    rows = [list((t + "\n\n").encode("utf-8"))[:model.config.ctx + 1] for t in val_texts]
    starts = [len(prompt_of(t).encode("utf-8")) for t in val_texts]
    a, na, b, nb = _nats(model, rows, starts)
    return {"prompt_loss": a / na, "proof_loss": b / nb}


def window_loss(model, val_bytes: bytes) -> float:
    """Nats/byte over all non-overlapping ctx-byte windows of the val bytes (nanoGPT's view)."""
    ctx = model.config.ctx
    rows = [list(val_bytes[i:i + ctx + 1]) for i in range(0, len(val_bytes) - ctx, ctx)]
    _, _, b, nb = _nats(model, rows, [0] * len(rows))
    return b / nb


def measure(model, name: str, seeds=SEEDS, n_theorems: int = 100, k: int = 4, extra=None) -> dict:
    """The table's columns for one model, on data/val.txt. The same function for both kinds."""
    model.eval()
    val_texts = read_texts(paths.VAL)
    per_seed = []
    for seed in seeds:
        t0 = time.time()
        res = complete_theorems(model, val_texts[:n_theorems], k=k, sample_kwargs=SAMPLE, seed=seed)
        per_seed.append({"seed": seed, "verified_pct": res["verified_pct"], "pass_at_k": res["pass_at_k"],
                         "structural_pct": res["structural_pct"], "n_samples": res["n_samples"],
                         "verified_per_theorem": [sum(x["verified"] for x in res["samples"][i * k:(i + 1) * k])
                                                  for i in range(res["n_theorems"])],
                         "seconds": round(time.time() - t0, 1)})
        print(f"{name} seed {seed}: verified {res['verified_pct']:.2f}%, pass@{k} {res['pass_at_k']:.1f}%", flush=True)
    v = np.array([s["verified_pct"] for s in per_seed])
    pk = np.array([s["pass_at_k"] for s in per_seed])
    n = per_seed[0]["n_samples"]
    row = {
        "name": name, "n_theorems": n_theorems, "k": k, "sample": SAMPLE, "seeds": list(seeds),
        "verified_mean": float(v.mean()), "verified_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "verified_wilson95": wilson(v.mean() / 100 * n, n),
        "pass_at_k_mean": float(pk.mean()), "pass_at_k_std": float(pk.std(ddof=1)) if len(pk) > 1 else 0.0,
        "per_seed": per_seed,
        **loss_split(model, val_texts),
        "window_loss": window_loss(model, paths.VAL.read_bytes()),
        **(extra or {}),
    }
    print(json.dumps({k: v for k, v in row.items() if k != "per_seed"}), flush=True)
    return row


# --------------------------------------------------------------------------------------------
# nanoGPT


def nanogpt_to_proofgpt(state: dict, model_args: dict) -> GPT:
    """nanoGPT's state dict + model_args -> an equivalent proofgpt GPT (layernorm, learned positions)."""
    cfg = GPTConfig(vocab_size=model_args["vocab_size"], ctx=model_args["block_size"], d_model=model_args["n_embd"],
                    n_layers=model_args["n_layer"], n_heads=model_args["n_head"], d_mlp=4 * model_args["n_embd"],
                    norm="layernorm", act="gelu", pos="learned", dropout=0.0, attn_dropout=0.0,
                    bias=model_args["bias"])
    renamed = {}
    for key, t in state.items():
        key = key.removeprefix("_orig_mod.")  # a compiled model's names
        key = key.removeprefix("transformer.").replace("h.", "blocks.", 1) if key.startswith("transformer.h.") \
            else key.removeprefix("transformer.")
        renamed[key] = t
    model = GPT(cfg)
    model.load_state_dict(renamed)  # strict: every name must match
    return model.eval()


NANOGPT_SEED_LINE = "torch.manual_seed(1337 + seed_offset)"


def train_nanogpt(checkout: Path, work: Path, steps: int, seed: int = 0) -> tuple[Path, float]:
    """Run the checkout's train.py on our split's bytes in `work`; -> (its ckpt.pt, seconds).
    seed 0 runs the checkout as it is (its fixed seed 1337); seed s runs a copy of its train.py,
    configurator.py and model.py in `work` whose one seed line reads 1337 + s instead: another
    training of the same recipe (other initial weights, other batches), as `train.seed` is ours."""
    data = work / "data"
    data.mkdir(parents=True)
    for split in ("train", "val"):
        np.frombuffer((paths.DATA_DIR / f"{split}.txt").read_bytes(), dtype=np.uint8).astype(np.uint16).tofile(
            data / f"{split}.bin")
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": 256}, f)
    config = {**NANOGPT_CONFIG, "max_iters": steps, "lr_decay_iters": steps, "eval_interval": steps,
              "out_dir": str(work / "out"), "dataset": str(data)}  # os.path.join("data", abs) is abs
    (work / "config.py").write_text("".join(f"{k} = {v!r}\n" for k, v in config.items()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    src = checkout
    if seed:
        src = work / "nanogpt"
        src.mkdir()
        for name in ("train.py", "configurator.py", "model.py"):
            shutil.copyfile(checkout / name, src / name)
        code = (src / "train.py").read_text()
        assert code.count(NANOGPT_SEED_LINE) == 1, f"{checkout}/train.py: no single line {NANOGPT_SEED_LINE!r}"
        (src / "train.py").write_text(code.replace(NANOGPT_SEED_LINE, f"torch.manual_seed({1337 + seed} + seed_offset)"))
    t0 = time.time()
    # train.py execs configurator.py from the working directory: run it there
    subprocess.run([sys.executable, "train.py", str(work / "config.py")], cwd=src, env=env, check=True)
    return work / "out" / "ckpt.pt", time.time() - t0


def check_adapter(checkout: Path, state: dict, model_args: dict, ours: GPT) -> float:
    """Max |logit difference| between nanoGPT's own model and the renamed one on val bytes."""
    sys.path.insert(0, str(checkout))
    try:
        import model as nanogpt_model  # the checkout's model.py
    finally:
        sys.path.remove(str(checkout))
    theirs = nanogpt_model.GPT(nanogpt_model.GPTConfig(**model_args))
    theirs.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in state.items()})
    theirs.eval()
    val = np.frombuffer(paths.VAL.read_bytes()[: 4 * 513], dtype=np.uint8).astype(np.int64).reshape(4, 513)
    x, y = torch.from_numpy(val[:, :-1].copy()), torch.from_numpy(val[:, 1:].copy())
    with torch.no_grad():
        a, _ = theirs(x, y)  # with targets it returns every position's logits
        b, _ = ours(x)
    return float((a - b).abs().max())


# --------------------------------------------------------------------------------------------
# the table


def save_row(out: Path, row: dict) -> None:
    rows = json.loads(out.read_text()) if out.exists() else []
    rows = [r for r in rows if r["name"] != row["name"]] + [row]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")


def table(rows) -> str:
    lines = ["| run | verified % (mean ± std, 3 seeds) | Wilson 95 % | pass@4 % | prompt | proof | windows |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["verified_wilson95"]
        lines.append(f"| {r['name']} | {r['verified_mean']:.1f} ± {r['verified_std']:.1f} | {lo:.1f}-{hi:.1f} | "
                     f"{r['pass_at_k_mean']:.1f} ± {r['pass_at_k_std']:.1f} | {r['prompt_loss']:.4f} | "
                     f"{r['proof_loss']:.4f} | {r['window_loss']:.4f} |")
    return "\n".join(lines)


T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)  # Student t, 1..10 df


def recipe_of(name: str) -> str:
    """A row's recipe: its name without the training seed ('x train.seed=1' and 'x' -> 'x')."""
    return re.sub(r" (train\.)?seed=\d+$", "", name)


def recipes(rows, key: str = "verified_mean") -> dict:
    """{recipe: [key of each training]}: the rows grouped by recipe_of, in table order."""
    out = {}
    for r in rows:
        out.setdefault(recipe_of(r["name"]), []).append(r[key])
    return out


def recipe_diff(a: list, b: list) -> tuple[float, float, float] | None:
    """Mean of trainings a minus mean of b, with a 95 % t interval (pooled sd, len(a)+len(b)-2 df):
    the training seed as the random draw. None when there are fewer than 3 trainings in all."""
    df = len(a) + len(b) - 2
    if df < 1:
        return None
    sd = math.sqrt(sum(((np.asarray(x) - np.mean(x)) ** 2).sum() for x in (a, b)) / df)
    d = float(np.mean(a) - np.mean(b))
    half = T975[min(df, len(T975)) - 1] * sd * math.sqrt(1 / len(a) + 1 / len(b))
    return d, d - half, d + half


def recipe_table(rows, against: str) -> str:
    """Per recipe: verified % and pass@4 % of each training, their means, and the differences in
    verified % and in pass@4 % from recipe `against`, each with its t interval over training seeds."""
    ver, pk = recipes(rows), recipes(rows, "pass_at_k_mean")

    def diff(x, y):
        d = recipe_diff(x, y)
        return f"{d[0]:+.1f} ({d[1]:+.1f} to {d[2]:+.1f})" if d else ""

    lines = [f"| recipe | trainings | verified % each | mean | pass@4 % mean | verified vs {against} (95 % t) | "
             f"pass@4 vs {against} (95 % t) |", "|---|---|---|---|---|---|---|"]
    for name, v in ver.items():
        other = name != against
        lines.append(f"| {name} | {len(v)} | {' / '.join(f'{x:.1f}' for x in v)} | {np.mean(v):.1f} | "
                     f"{np.mean(pk[name]):.1f} | {diff(v, ver[against]) if other else ''} | "
                     f"{diff(pk[name], pk[against]) if other else ''} |")
    return "\n".join(lines)


def paired(a: dict, b: dict, draws: int = 10_000) -> dict:
    """Theorem by theorem, verified samples of a vs b summed over the seeds both have: wins,
    ties, losses of a, the two-sided sign test's p-value (ties dropped), and the difference in
    verified % (a - b) with a paired bootstrap 95 % interval over the theorems (resampled with
    replacement, numpy seed 0). Both treat the theorems as the random draw: not the training seed."""
    sa = {s["seed"]: s["verified_per_theorem"] for s in a["per_seed"]}
    sb = {s["seed"]: s["verified_per_theorem"] for s in b["per_seed"]}
    seeds = sorted(set(sa) & set(sb))
    ta = np.sum([sa[s] for s in seeds], axis=0)
    tb = np.sum([sb[s] for s in seeds], axis=0)
    wins, losses = int((ta > tb).sum()), int((ta < tb).sum())
    n = wins + losses
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n if n else 1.0
    d = 100 * (ta - tb) / (a["k"] * len(seeds))  # per theorem, % points of its samples
    boot = d[np.random.default_rng(0).integers(0, len(d), size=(draws, len(d)))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"wins": wins, "ties": len(ta) - n, "losses": losses, "sign_test_p": min(1.0, 2 * tail),
            "diff": float(d.mean()), "diff_ci95": (float(lo), float(hi))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("nanogpt", help="train karpathy/nanoGPT on our split and grade it")
    a.add_argument("checkout", type=Path, help="a nanoGPT checkout (its train.py, model.py, configurator.py)")
    a.add_argument("--steps", type=int, default=NANOGPT_CONFIG["max_iters"], help="optimizer steps (1400)")
    a.add_argument("--name", default="nanoGPT")
    a.add_argument("--keep", type=Path, help="also copy nanoGPT's ckpt.pt here")
    a.add_argument("--from-ckpt", type=Path, help="grade this nanoGPT ckpt.pt instead of training one")
    a.add_argument("--train-seed", type=int, default=0,
                   help="training seed: 0 runs the checkout unchanged (its seed 1337), s a copy seeded 1337 + s")
    b = sub.add_parser("run", help="grade a proofgpt run (its best checkpoint)")
    b.add_argument("run_dir", type=Path)
    b.add_argument("--name", help="row name (default: the run directory's name)")
    for s in (a, b):
        s.add_argument("--out", type=Path, help="JSON list of rows to add this row to (replacing its name)")
        s.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="sampling seeds (0 1 2)")
        s.add_argument("--n-theorems", type=int, default=100)
        s.add_argument("--threads", type=int, default=1, help="torch threads for grading (1)")
    t = sub.add_parser("table", help="print the markdown table of a JSON file of rows")
    t.add_argument("json", type=Path)
    t.add_argument("--against", help="also compare every row theorem by theorem with this row name")
    t.add_argument("--recipes", metavar="RECIPE",
                   help="instead: group rows by recipe (name without its training seed) and compare each with this one")
    args = p.parse_args(argv)

    if args.cmd == "table":
        rows = json.loads(args.json.read_text())
        if args.recipes:
            print(recipe_table(rows, args.recipes))
            return 0
        print(table(rows))
        if args.against:
            base = next(r for r in rows if r["name"] == args.against)
            print(f"\ntheorem by theorem against {args.against} (verified samples summed over the seeds):\n")
            for r in rows:
                if r is not base and all("verified_per_theorem" in s for s in r["per_seed"] + base["per_seed"]):
                    d = paired(r, base)
                    lo, hi = d["diff_ci95"]
                    print(f"- {r['name']}: {d['diff']:+.1f} points (95 % {lo:+.1f} to {hi:+.1f}); more on "
                          f"{d['wins']} theorems, fewer on {d['losses']}, equal on {d['ties']}; "
                          f"sign test p = {d['sign_test_p']:.2g}")
        return 0
    torch.set_num_threads(args.threads)
    if args.cmd == "nanogpt":
        seconds = None
        if args.from_ckpt:
            ckpt = torch.load(args.from_ckpt, map_location="cpu", weights_only=True)
        else:
            with tempfile.TemporaryDirectory(prefix="nanogpt-") as work:
                path, seconds = train_nanogpt(args.checkout.resolve(), Path(work), args.steps, args.train_seed)
                if args.keep:
                    shutil.copyfile(path, args.keep)
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
        state, model_args = ckpt["model"], ckpt["model_args"]
        model = nanogpt_to_proofgpt(state, model_args)
        diff = check_adapter(args.checkout.resolve(), state, model_args, model)
        print(f"adapter: max |logit difference| vs nanoGPT's forward {diff:.2e}")
        assert diff < 1e-3, "the renamed model does not compute what nanoGPT's does"
        extra = {"steps": ckpt["iter_num"], "train_seed": None if args.from_ckpt else args.train_seed,
                 "train_seconds": seconds and round(seconds, 1),
                 "adapter_max_logit_diff": diff}
    else:

        model, meta = load_model(args.run_dir)
        c = meta["cfg"].train
        extra = {"checkpoint": meta["path"], "step": meta["state"]["step"], "rows": getattr(c, "rows", "packed"),
                 "decay_embeddings": getattr(c, "decay_embeddings", False), "norm": meta["cfg"].model.norm,
                 "train_seconds": round(meta["state"]["elapsed_s"], 1)}
    row = measure(model, args.name or Path(args.run_dir).name, seeds=args.seeds, n_theorems=args.n_theorems,
                  extra=extra)
    if args.out:
        save_row(args.out, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
