"""Sampling from a trained GPT: temperature, top-k, top-p, a KV cache and its own RNG.

`sample_next` turns a batch of next-byte logits into bytes: temperature 0 is greedy, else
logits / temperature, then top-k, then top-p (the nucleus: the smallest set of bytes whose
probability sums to >= top_p; at least one is always kept), drawn with a seeded
torch.Generator, never the global RNG, so a seed reproduces a sample whatever else ran.

`generate` completes a list of prompts with a KV cache, batch_size rows at a time. Prompts
are sorted by length and left-padded within a batch (each row's positions start at its first
real byte, pad slots are masked out), identical prompts (k samples of one theorem) are
prefilled once and their cache copied to k rows, and finished rows leave the batch.
The batch itself is `sample_batch` (token ids in, new ids and their log-probability out, any
stop rule), which `proofgpt.search` also calls to propose e steps from one prefilled node;
`score_batch` is its teacher-forced twin: the log-probability of given continuations after
one shared prefix, in one forward.
Trade-off: a padded prefill runs SDPA with an explicit mask (the unfused kernel) and wastes
the pad slots; sorting keeps the padding small, and decoding rows together costs far less than
one at a time (`make bench`, "batched sampling"). batch_size bounds the cache: each row keeps
n_layers x 2 x d_model floats per token.

Defaults (temperature, top-p, top-k, max new tokens, seed) are `config.SampleConfig`'s, here and
in every command and notebook that samples.

    python -m proofgpt sample --run runs/cpu --prompt "@T" --num-samples 4

A data.format=text run continues the prompt's bytes (default a newline), without the `qed` /
blank-line stop, and there is no checker verdict (one line on stderr says so).
"""

import argparse
import contextlib
import sys
from pathlib import Path

import torch

from proofgpt import paths
from proofgpt.certificate import prompt_of, read_corpus
from proofgpt.check import check_certificate, verdict_text
from proofgpt.checkpoint import load_model
from proofgpt.config import NO_CERTIFICATES, SampleConfig, check_seed, check_temperature
from proofgpt.data import checkpoint_data
from proofgpt.errors import UserError
from proofgpt.io import sha256_file
from proofgpt.model import KVCache
from proofgpt.pack import decode, encode

DEFAULTS = SampleConfig()
# what an unconditional sample starts from, by data.format: a certificate's first marker, or a line start
UNCONDITIONAL_PROMPT = {"certificates": "@T", "text": "\n"}


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """logits (B, V) -> next ids (B,) int64.

    Known answer: probs [0.5, 0.3, 0.15, 0.05], top_p 0.7 keeps the first two (0.5 < 0.7, then
    0.5 + 0.3 >= 0.7) and samples them as 0.625 / 0.375; top_k 3 keeps the first three.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,)
    logits = logits.float() / temperature  # (B, V)
    V = logits.size(-1)
    if top_k is not None and top_k < V:
        # keep exactly the k largest (ties broken by index) by scattering them into -inf
        vals, ids = torch.topk(logits, top_k, dim=-1)  # (B, k)
        logits = torch.full_like(logits, float("-inf")).scatter(-1, ids, vals)
    if top_p is not None and top_p < 1.0:
        sorted_logits, sorted_ids = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the better tokens
        drop = mass_before >= top_p  # already have the nucleus without this token
        drop[:, 0] = False  # always keep the most likely token
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.empty_like(logits).scatter(-1, sorted_ids, sorted_logits)
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)


@contextlib.contextmanager
def sampling_threads(n: int = 1):
    """Run torch on n CPU threads inside the block, then restore the old setting.

    Sampling a small model is latency-bound (one token at a time, small batches): on a busy
    machine extra threads fight other processes for the cores and make it many times slower.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _stopped(ids, stop_at_qed):
    """Does a row end its certificate here? ids: the prompt's last byte + the new bytes.

    >>> _stopped(list(b"\\nrfl\\nqed\\n"), True), _stopped(list(b"rfl\\n\\n"), True)
    (True, True)
    """
    if not stop_at_qed:
        return False
    tail = bytes(ids[-5:])
    return tail.endswith(b"\n\n") or tail == b"\nqed\n"


@torch.no_grad()
def generate(model, prompts, max_new_tokens=DEFAULTS.max_new_tokens, temperature=DEFAULTS.temperature,
             top_k=DEFAULTS.top_k, top_p=DEFAULTS.top_p, seed=DEFAULTS.seed, stop_at_qed=DEFAULTS.stop_at_qed,
             batch_size=32):
    """Complete each prompt; returns the completions only (prompt not included).

    A row stops at a line `qed`, a blank line (both only when stop_at_qed; the trailing
    newlines are then dropped), after max_new_tokens bytes, or when prompt + completion fill
    the model's ctx. Prompts are sorted by length and run batch_size rows at a time, left-
    padded (see model.KVCache). generate(model, ["@T"], 8, temperature=0) -> [' group_'] (say).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)

    encoded = [encode(p).tolist() for p in prompts]
    for i, ids in enumerate(encoded):
        if not ids:
            raise ValueError(f"prompt {i} is empty: the model needs at least one byte to condition on")
        if len(ids) >= model.config.ctx:
            raise ValueError(f"prompt {i} has {len(ids)} bytes, the model's ctx is {model.config.ctx}")
    if max_new_tokens <= 0:
        return [""] * len(prompts)
    out = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))  # similar lengths: little padding
    ctx = model.config.ctx
    stop = lambda ids: _stopped(ids, stop_at_qed)  # noqa: E731
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            limits = [min(max_new_tokens, ctx - len(encoded[i])) for i in rows]
            done = sample_batch(model, [encoded[i] for i in rows], limits, temperature=temperature, top_k=top_k,
                                top_p=top_p, generator=generator, stop=stop)
            for i, (ids, _) in zip(rows, done):
                if stop(encoded[i][-1:] + ids):
                    while ids and ids[-1] == ord("\n"):
                        ids = ids[:-1]
                out[i] = decode(ids)
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def sample_batch(model, encoded, limits, *, temperature, top_k, top_p, generator, stop):
    """Sample a continuation of each row's prompt ids -> [(new ids, log-probability)], one per row.

    Each distinct prompt is prefilled once (left-padded to the longest) and its cache copied to
    the rows that asked for it; then one byte per active row per step. Row r stops after
    limits[r] bytes or when stop(its prompt's last id + its new ids) is true. The log-probability
    is the model's own (log-softmax of the raw logits, before temperature, top-k and top-p) of
    the bytes drawn: what a search ranks continuations by. The model must be in eval mode.
    """
    device = next(model.parameters()).device
    distinct = list(dict.fromkeys(tuple(ids) for ids in encoded))
    which = torch.tensor([distinct.index(tuple(ids)) for ids in encoded], device=device)  # (B,)
    T = max(len(d) for d in distinct)
    pad = [T - len(d) for d in distinct]
    cache = KVCache(model.config, len(distinct), max_len=T + max(limits), device=device,
                    dtype=next(model.parameters()).dtype, pad=pad if any(pad) else None)
    idx = torch.tensor([[0] * p + list(d) for p, d in zip(pad, distinct)], dtype=torch.long, device=device)  # (U, T)
    logits, _ = model(idx, cache=cache)
    logits = logits[:, -1, :][which]  # (B, V)
    cache.select(which)

    new = [[] for _ in encoded]
    logp = [0.0] * len(encoded)
    done = [limit <= 0 for limit in limits]
    active = [r for r in range(len(encoded)) if not done[r]]  # rows in the cache, in cache order (some may be done)
    if len(active) < len(encoded):
        cache.select(torch.tensor(active, dtype=torch.long, device=device))
        logits = logits[active]
    step = 0
    while active:
        nxt = sample_next(logits, temperature, top_k, top_p, generator)  # (B,)
        lp = torch.log_softmax(logits.float(), dim=-1).gather(1, nxt[:, None])[:, 0]  # (B,)
        step += 1
        for r, b, lp_b in zip(active, nxt.tolist(), lp.tolist()):
            if not done[r]:
                new[r].append(b)
                logp[r] += lp_b
                done[r] = len(new[r]) >= limits[r] or stop(encoded[r][-1:] + new[r])
        live = [j for j, r in enumerate(active) if not done[r]]
        if not live:
            break
        # Finished rows ride along (their bytes are ignored) until a quarter of the batch is
        # done: dropping rows copies the whole cache. One that would pass its own limit
        # at the next step forces the drop.
        must = any(done[r] and step >= limits[r] for r in active)
        if len(live) < len(active) and (must or len(live) <= 0.75 * len(active)):
            live_t = torch.tensor(live, device=device)
            cache.select(live_t)
            nxt = nxt[live_t]
            active = [active[j] for j in live]
        logits, _ = model(nxt[:, None], cache=cache)  # (B, 1, V)
        logits = logits[:, -1, :]  # (B, V)
    return list(zip(new, logp))


@torch.no_grad()
def score_batch(model, prefix, continuations):
    """The model's log-probability of each continuation (id lists) after the shared prefix ids:
    the prefix is prefilled once, its cache copied to one row per continuation, and all
    continuations (right-padded; causal attention keeps the pads out of the real bytes) run
    in one forward. score_batch(m, ids, [[]]) -> [0.0]. The model must be in eval mode.
    """
    device = next(model.parameters()).device
    n = max(len(c) for c in continuations)
    cache = KVCache(model.config, 1, max_len=len(prefix) + n, device=device, dtype=next(model.parameters()).dtype)
    logits, _ = model(torch.tensor([prefix], dtype=torch.long, device=device), cache=cache)
    first = logits[:, -1:, :].expand(len(continuations), 1, -1)  # (C, 1, V): predicts each first byte
    if n <= 1:
        logits = first
    else:
        cache.select(torch.zeros(len(continuations), dtype=torch.long, device=device))
        idx = torch.tensor([c[:-1] + [0] * (n - len(c)) for c in continuations], dtype=torch.long, device=device)
        logits = torch.cat([first, model(idx[:, :n - 1], cache=cache)[0]], dim=1)  # (C, n, V)
    logp = torch.log_softmax(logits.float(), dim=-1)  # (C, n, V)
    target = torch.tensor([c + [0] * (n - len(c)) for c in continuations], dtype=torch.long, device=device)  # (C, n)
    mask = torch.tensor([[1.0] * len(c) + [0.0] * (n - len(c)) for c in continuations], device=device)  # (C, n)
    return (logp.gather(2, target[:, :, None])[:, :, 0] * mask).sum(1).tolist()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="proofgpt sample", description="Sample certificates (or, from a data.format=text run, any text) from a trained GPT.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run name (runs/NAME) or directory (loads its best checkpoint, else ckpt/last.pt)")
    src.add_argument("--ckpt", help="checkpoint file (.pt)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--prompt", help="text to complete (default '@T': a whole certificate; a newline for a data.format=text run)")
    what.add_argument("--theorem", type=int, help="complete val theorem N (0-based) of the run's split (data/val.txt "
                      "with --ckpt) from its first @G")
    p.add_argument("--temperature", type=float, help="0 = greedy (default: the run's sample.temperature)")
    p.add_argument("--top-k", type=int, help="keep the k most likely bytes (default: the run's sample.top_k)")
    p.add_argument("--top-p", type=float, help="nucleus: keep the smallest set with mass >= p (default: the run's "
                   "sample.top_p)")
    p.add_argument("--max-tokens", type=int, help="new bytes per sample at most (default: the run's "
                   "sample.max_new_tokens, cropped to the context)")
    p.add_argument("--num-samples", type=int, default=1, help="samples per prompt (default 1)")
    p.add_argument("--seed", type=int, help="sampling seed (default: the run's sample.seed)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = p.parse_args(argv)

    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.temperature is not None:
        check_temperature(args.temperature, "--temperature")
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    if args.prompt is not None:
        try:  # argv bytes that are not UTF-8 arrive as lone surrogates
            args.prompt.encode("utf-8")
        except UnicodeEncodeError as e:
            raise UserError(f"--prompt: not valid UTF-8 (at character {e.start})") from None
    if args.top_k is not None and args.top_k < 1:
        raise UserError(f"--top-k must be >= 1, got {args.top_k}")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UserError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    if args.num_samples < 1:
        raise UserError(f"--num-samples must be >= 1, got {args.num_samples}")
    source = paths.resolve_run(args.run) if args.run else Path(args.ckpt)
    if not source.exists():
        raise UserError(f"{source}: no such {'run directory' if args.run else 'checkpoint'}")
    model, meta = load_model(source, args.device)
    text = meta["cfg"].data.format == "text"

    if args.theorem is not None and text:
        raise UserError(f"{source}: --theorem: {NO_CERTIFICATES} to take a theorem from; give --prompt TEXT")
    if args.theorem is not None:  # a val theorem of the split this checkpoint was trained on
        if args.run:
            val = checkpoint_data(meta, source)["val"]
        elif paths.TRAIN.is_file() and sha256_file(paths.TRAIN) == meta["data_sha256"]:
            val = paths.VAL
        else:
            raise UserError(f"{source}: was not trained on {paths.TRAIN}; pass its run with --run to use its own split")
        blocks = read_corpus(val)
        if not 0 <= args.theorem < len(blocks):
            raise UserError(f"{val}: --theorem {args.theorem} out of range (0..{len(blocks) - 1})")
        prompt = prompt_of(blocks[args.theorem].text)
        where = f"{val}: theorem {args.theorem}'s prompt"
    else:
        prompt = args.prompt if args.prompt is not None else UNCONDITIONAL_PROMPT[meta["cfg"].data.format]
        where = "prompt"
    if not prompt:
        raise UserError("--prompt is empty: give at least one character (e.g. '@T')")
    ctx, s = model.config.ctx, meta["cfg"].sample
    n_prompt = len(encode(prompt))
    if n_prompt >= ctx:
        raise UserError(f"{where} ({n_prompt} bytes) fills the model's ctx {ctx}")
    if args.max_tokens is not None and n_prompt + args.max_tokens > ctx:
        raise UserError(f"prompt ({n_prompt} bytes) + --max-tokens {args.max_tokens} > the model's ctx {ctx}")
    pick = lambda given, default: default if given is None else given  # noqa: E731
    completions = generate(model, [prompt] * args.num_samples, pick(args.max_tokens, s.max_new_tokens),
                           temperature=pick(args.temperature, s.temperature), top_k=pick(args.top_k, s.top_k),
                           top_p=pick(args.top_p, s.top_p), seed=pick(args.seed, s.seed),
                           stop_at_qed=s.stop_at_qed and not text)
    if text:
        print(f"# checker: skipped: {NO_CERTIFICATES} to check", file=sys.stderr)
    for n, c in enumerate(completions):
        if n:
            print()
        sys.stdout.write(prompt + c + "\n")
        if prompt.startswith("@T") and not text:  # a whole certificate: say what the checker thinks (premises of a
            # val theorem come from its ground truth, so they are trusted; free samples are checked fully)
            verdict = check_certificate(prompt + c, trust_premises=args.theorem is not None)
            print(f"# checker: {verdict_text(verdict)}", file=sys.stderr)
    return 0
