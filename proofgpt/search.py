"""Checker-guided proof search: the model proposes steps, the checker keeps only the correct ones.

GPT-f style (Polu & Sutskever 2020): best-first search over partial proofs. A node is a goal
reached by checked steps; its text is the certificate so far. Expanding a node asks the model
for `e` candidate next steps (a tactic line and its `@G` line) in one batched call: the node's
text is prefilled once and its KV cache copied to e rows (`sample.sample_batch`). The checker
(`check.check_step`) keeps the valid candidates; a goal already reached (same text) is not
queued again; a goal `x = x` ends the search with `rfl`, `qed`. Nodes are ranked by the model's
cumulative log-probability of the step text along their path (`normalize=True`: per byte).
The final certificate is always re-checked with `check_certificate`.

Two ways to get the goal of a step (`goal_mode`):
- "sample": the model writes the tactic line and the `@G` line;
- "enumerate": the model writes the tactic line only; every goal that tactic can produce (each
  occurrence, either side: `baseline.rewrites_of`) is scored by the model (`sample.score_batch`)
  and the valid ones become candidates. Costs one more forward per expansion, never a
  mistyped goal.

Two prompts (`prompt_mode`):
- "premises": the certificate's lines up to its first `@G`, as in evaluation;
- "theorem": only `@T` and `@C` lines (then the first `@G`); a step may cite any axiom of the
  structure, a catalog lemma it may use, or a hypothesis, and the certificate lists as `@P`
  lines exactly the premises its steps cite (`generate.library_premises`).

Budgets: expansions, model tokens (bytes sampled or scored after a prefix; never exceeded:
each row's limit is cut to what is left), and seconds (checked between expansions, so one
expansion may overrun it).

    r = prove(model, "@T t : a * 1 = a\\n@C G : monoid\\n@C a : G\\n@P mul_one : x * 1 = x\\n@G a * 1 = a")
    r.found, r.certificate   # True, '...@G a * 1 = a\\nrw [mul_one]\\n@G a = a\\nrfl\\nqed' from a trained model

    python -m proofgpt prove --run cpu --structure group "a * b⁻¹ * b = a"
"""

import argparse
import contextlib
import heapq
import itertools
import sys
import time
from dataclasses import dataclass, field

import torch

from proofgpt import paths
from proofgpt.algebra import STRUCTURES
from proofgpt.baseline import rewrites_of
from proofgpt.certificate import name_of, prompt_of, read_texts
from proofgpt.check import Verdict, check_certificate, check_step, parse_tactic, read_prompt
from proofgpt.checkpoint import load_model
from proofgpt.errors import UserError
from proofgpt.generate import library_premises
from proofgpt.io import atomic_write_json, atomic_write_text
from proofgpt.pack import decode, encode
from proofgpt.sample import sample_batch, sampling_threads, score_batch
from proofgpt.terms import OPERATORS, ParseError, names, operators, parse_equation, print_equation

PROMPT_MODES = ("premises", "theorem")
GOAL_MODES = ("sample", "enumerate")
DEFAULT_E = 8
DEFAULT_EXPANSIONS = 32
DEFAULT_TOKENS = 100_000
DEFAULT_SECONDS = 60.0
MAX_STEP_TOKENS = 256  # bytes of one step (tactic line + @G line); longer ones are cut off, so invalid


@dataclass
class SearchResult:
    found: bool
    certificate: str | None  # verified certificate; None when not found
    verdict: Verdict | None  # check_certificate of the certificate (premises trusted in "premises" mode)
    steps: int | None  # tactic lines before rfl; None when not found
    expansions: int  # nodes whose candidate steps were proposed
    tokens: int  # model tokens (bytes) sampled or scored after a prefix
    prefill_tokens: int  # prompt bytes prefilled, once per model call
    proposed: int  # candidate steps the model proposed (with repeats)
    valid: int  # distinct candidates the checker accepted
    elapsed_s: float
    reason: str | None  # None when found, else budget_expansions | budget_tokens | budget_time | exhausted | check_failed
    best_partial: str  # the deepest partial proof reached (the first found at that depth), without rfl/qed
    best_partial_steps: int
    prompt_mode: str = "premises"
    goal_mode: str = "sample"


@dataclass
class _Problem:
    """A theorem as the search sees it: the model's prompt, the checker's view of it, and what
    the final certificate puts between the @T/@C lines and the first @G."""

    text: str  # the model's prompt, ending in the first '@G ...\n'
    prompt: object  # check.Prompt with every premise a step may cite
    header: list  # the certificate's lines before its @P lines
    premises: list = field(default_factory=list)  # theorem mode: [(name, statement)] a step may cite


@dataclass(order=True)
class _Node:
    priority: float  # -(score) for heapq
    tie: int
    logp: float = field(compare=False)  # cumulative log-probability of the steps' text
    n_bytes: int = field(compare=False)
    steps: tuple = field(compare=False)  # ((tactic, goal text), ...)


# ----------------------------------------------------------------------------- the theorem

def theorem_text(statement: str, structure: str, name: str = "thm") -> str:
    """A free statement -> the lines of its certificate up to the first @G; every name in it is a
    constant. ValueError naming what is wrong: theorem_text("a * 1 = a", "monoid") ->
    '@T thm : a * 1 = a\\n@C M : monoid\\n@C a : M\\n@G a * 1 = a'."""
    s = STRUCTURES.get(structure)
    if s is None:
        raise ValueError(f"unknown structure {structure!r} (known: {', '.join(STRUCTURES)})")
    parts = [p.strip() for p in statement.split("→")]
    consts = []
    for part in parts:
        try:
            lhs, rhs = parse_equation(part)
        except ParseError as e:
            raise ValueError(f"statement {part!r} does not parse: {e}") from None
        extra = sorted((operators(lhs) | operators(rhs)) & OPERATORS - s.operators)
        if extra:
            raise ValueError(f"operator '{extra[0]}' is not in {structure} (its operators: {' '.join(sorted(s.operators))})")
        names(rhs, names(lhs, consts))
    lines = [f"@T {name} : {' → '.join(parts)}", f"@C {s.type_name} : {structure}"]
    if consts:
        lines.append(f"@C {' '.join(sorted(consts))} : {s.type_name}")
    return "\n".join(lines + ["@G " + parts[-1]])


def _problem(text: str, prompt_mode: str) -> _Problem:
    """A certificate (or its prompt) -> what the search needs; ValueError when it does not read."""
    prompt = read_prompt(text)
    lines = [s.strip() for s in prompt_of(text).split("\n") if s.strip()]
    header = [s for s in lines if s.startswith(("@T ", "@C "))]
    goal = lines[-1]
    if prompt_mode == "premises":
        return _Problem("\n".join(lines) + "\n", prompt, header)
    if prompt.structure not in STRUCTURES:
        raise ValueError(f"unknown structure {prompt.structure!r}: theorem mode needs its axioms")
    hyps = [h.strip() for h in header[0].partition(" : ")[2].split("→")[:-1]]
    premises = library_premises(prompt.structure) + [(f"h{i + 1}", h) for i, h in enumerate(hyps)]
    full = read_prompt("\n".join(header + [f"@P {n} : {t}" for n, t in premises] + [goal]))
    return _Problem("\n".join(header + [goal]) + "\n", full, header, premises)


def _certificate(problem: _Problem, steps) -> str:
    body = "".join(f"{tac}\n@G {goal}\n" for tac, goal in steps)
    if not problem.premises:  # premises mode: the prompt as given
        return problem.text + body + "rfl\nqed"
    cited = {parse_tactic(tac)[1] for tac, _ in steps}
    lines = problem.header + [f"@P {n} : {t}" for n, t in problem.premises if n in cited]
    return "\n".join(lines + problem.text.split("\n")[len(problem.header):-1]) + "\n" + body + "rfl\nqed"


def _closes(goal: str) -> bool:
    lhs, rhs = parse_equation(goal)
    return lhs == rhs


# ----------------------------------------------------------------------------- proposals

def _stop_after_lines(n):
    """A sample_batch stop rule: the row has written n lines (ids: the prompt's last byte + new)."""
    return lambda ids: ids[-1] == 10 and len(ids) > 1 and ids[1:].count(10) >= n  # noqa: E731


def _sampled_steps(model, ids, e, limit, sampling, generator):
    """e samples of 'tactic\\n@G goal\\n' after ids -> ([(tactic, goal, logp, n_bytes)], tokens)."""
    rows = sample_batch(model, [ids] * e, [limit] * e, generator=generator, stop=_stop_after_lines(2), **sampling)
    out = []
    for new, logp in rows:
        tactic, _, rest = decode(new).partition("\n")
        goal_line = rest.partition("\n")[0]
        out.append((tactic.strip(), goal_line[3:].strip() if goal_line.startswith("@G ") else None, logp, len(new)))
    return out, sum(len(new) for new, _ in rows)


def _enumerated_steps(model, ids, e, limit, sampling, generator, problem, goal, tokens_left):
    """e sampled tactic lines; the goals each can produce, scored by the model -> (steps, tokens)."""
    rows = sample_batch(model, [ids] * e, [limit] * e, generator=generator, stop=_stop_after_lines(1), **sampling)
    tokens = sum(len(new) for new, _ in rows)
    tokens_left -= tokens
    table = {p[0]: p for p in problem.prompt.premises}
    old = parse_equation(goal)
    candidates = {}
    for tactic in dict.fromkeys(decode(new).partition("\n")[0].strip() for new, _ in rows):
        try:
            kind, name, backward, args = parse_tactic(tactic)
        except ValueError:
            continue
        if kind == "symm":
            goals = [(old[1], old[0])]
        elif kind == "rw" and name in table:
            goals = rewrites_of(old, table[name], backward, args, problem.prompt.constants)
        else:
            continue
        for g in goals:
            cont = encode(f"{tactic}\n@G {print_equation(*g)}\n").tolist()
            if len(cont) <= tokens_left and len(ids) + len(cont) <= model.config.ctx:
                candidates.setdefault((tactic, print_equation(*g)), cont)
                tokens_left -= len(cont)
    if not candidates:
        return [], tokens
    scores = score_batch(model, ids, list(candidates.values()))
    steps = [(t, g, lp, len(c)) for ((t, g), c), lp in zip(candidates.items(), scores)]
    return steps, tokens + sum(len(c) for c in candidates.values())


# ----------------------------------------------------------------------------- the search

@torch.no_grad()
def prove(model, text: str, *, prompt_mode: str = "premises", goal_mode: str = "sample", e: int = DEFAULT_E,
          max_expansions: int = DEFAULT_EXPANSIONS, max_tokens: int = DEFAULT_TOKENS,
          max_seconds: float = DEFAULT_SECONDS, temperature: float = 1.0, top_k: int | None = None,
          top_p: float = 1.0, normalize: bool = False, seed: int = 0, on_expand=None) -> SearchResult:
    """Search a proof of the first @G of `text` (a certificate or its prompt; proof lines are
    ignored). on_expand(stats dict) is called after every expansion. ValueError when the prompt
    does not read or does not fit the model's ctx. See the module docstring."""
    if prompt_mode not in PROMPT_MODES:
        raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {prompt_mode!r}")
    if goal_mode not in GOAL_MODES:
        raise ValueError(f"goal_mode must be one of {GOAL_MODES}, got {goal_mode!r}")
    t0 = time.perf_counter()
    problem = _problem(text, prompt_mode)
    ctx = model.config.ctx
    if len(encode(problem.text)) >= ctx:
        raise ValueError(f"the prompt has {len(encode(problem.text))} bytes, the model's ctx is {ctx}")
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p)
    root_goal = problem.text.rstrip("\n").rpartition("\n")[2][3:].strip()
    stats = dict(expansions=0, tokens=0, prefill_tokens=0, proposed=0, valid=0)
    tie = itertools.count()
    best = _Node(0.0, next(tie), 0.0, 0, ())

    def result(steps, reason):
        cert, verdict = None, None
        if steps is not None:
            cert = _certificate(problem, steps)
            verdict = check_certificate(cert, trust_premises=prompt_mode == "premises")
            if not verdict.verified:
                reason = "check_failed"  # a bug: every step was checked
        found = verdict is not None and verdict.verified
        return SearchResult(found, cert if found else None, verdict, len(steps) if found else None, **stats,
                            elapsed_s=time.perf_counter() - t0, reason=reason,
                            best_partial=_certificate(problem, best.steps).removesuffix("rfl\nqed"),
                            best_partial_steps=len(best.steps), prompt_mode=prompt_mode, goal_mode=goal_mode)

    def goal_of(node):
        return node.steps[-1][1] if node.steps else root_goal

    try:
        if _closes(root_goal):
            return result((), None)
        heap, seen, cut = [best], {root_goal}, False  # cut: an expansion's steps were cut by the token budget
        while heap:
            if stats["expansions"] >= max_expansions:
                return result(None, "budget_expansions")
            if time.perf_counter() - t0 > max_seconds:
                return result(None, "budget_time")
            node = heapq.heappop(heap)
            body = "".join(f"{tac}\n@G {goal}\n" for tac, goal in node.steps)
            ids = encode(problem.text + body).tolist()
            room = min(MAX_STEP_TOKENS, ctx - len(ids))
            limit = min(room, (max_tokens - stats["tokens"]) // e)
            if room < 1:
                continue  # the proof so far fills the context: a dead end
            if limit < 1:
                return result(None, "budget_tokens")
            cut |= limit < room
            stats["expansions"] += 1
            stats["prefill_tokens"] += len(ids) * (2 if goal_mode == "enumerate" else 1)
            goal = goal_of(node)
            if goal_mode == "sample":
                steps, used = _sampled_steps(model, ids, e, limit, sampling, generator)
            else:
                steps, used = _enumerated_steps(model, ids, e, limit, sampling, generator, problem, goal,
                                                max_tokens - stats["tokens"])
            stats["tokens"] += used
            stats["proposed"] += len(steps)
            for tactic, new_goal, logp, n_bytes in sorted(steps, key=lambda s: -s[2]):
                if new_goal is None or new_goal in seen or check_step(problem.prompt, goal, tactic, new_goal):
                    continue
                seen.add(new_goal)
                stats["valid"] += 1
                lp, nb = node.logp + logp, node.n_bytes + n_bytes
                child = _Node(-(lp / nb if normalize else lp), next(tie), lp, nb, node.steps + ((tactic, new_goal),))
                if len(child.steps) > len(best.steps):
                    best = child
                if _closes(new_goal):
                    return result(child.steps, None)
                heapq.heappush(heap, child)
            if on_expand is not None:
                on_expand(dict(stats, elapsed_s=time.perf_counter() - t0))
        return result(None, "budget_tokens" if cut else "exhausted")
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------- many theorems, the CLI

def summarize(results) -> dict:
    """Totals over [(name, SearchResult)]: found, rate, expansions, tokens, seconds, reasons."""
    found = [r for _, r in results if r.found]
    reasons = {}
    for _, r in results:
        if not r.found:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    total = len(results)
    return {
        "total": total, "found": len(found), "found_frac": len(found) / max(1, total),
        "not_found_by_reason": reasons,
        "mean_steps_found": sum(r.steps for r in found) / max(1, len(found)),
        "expansions": sum(r.expansions for _, r in results), "tokens": sum(r.tokens for _, r in results),
        "proposed": sum(r.proposed for _, r in results), "valid": sum(r.valid for _, r in results),
        "elapsed_s": sum(r.elapsed_s for _, r in results),
        "theorems": [{"name": n, "found": r.found, "steps": r.steps, "expansions": r.expansions, "tokens": r.tokens,
                      "elapsed_s": round(r.elapsed_s, 3), "reason": r.reason} for n, r in results],
    }


def _why_not(r: SearchResult) -> str:
    return (f"no proof within budget ({r.reason}): {r.expansions} expansions, {r.tokens:,} tokens, "
            f"{r.elapsed_s:.1f} s, {r.valid} of {r.proposed} proposed steps valid; best partial proof "
            f"{r.best_partial_steps} steps")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt prove", description="Checker-guided proof search: a trained GPT "
                                 "proposes steps, the checker keeps the correct ones (best-first).")
    ap.add_argument("statement", nargs="?", help='a theorem, e.g. "a * b⁻¹ * b = a" or "a * b = a * c → b = c" '
                    "(every name is a constant); needs --structure")
    ap.add_argument("--run", required=True, help="run name (runs/NAME), run directory or checkpoint file")
    ap.add_argument("--structure", help=f"the statement's structure: {', '.join(STRUCTURES)}")
    ap.add_argument("--name", default="thm", help="the theorem's name in the certificate (default thm)")
    ap.add_argument("--theorems", help="prove every theorem of this certificate file instead")
    ap.add_argument("--out", help="with --theorems: write the found certificates here, blank-line separated")
    ap.add_argument("--json", help="with --theorems: write the summary here")
    ap.add_argument("--limit", type=int, help="with --theorems: the first N theorems only")
    ap.add_argument("--prompt-mode", choices=PROMPT_MODES, help="what the model is given: the premises "
                    "(default with --theorems) or only the theorem (default for a statement)")
    ap.add_argument("--goal-mode", choices=GOAL_MODES, default="sample",
                    help="sample the @G line, or enumerate the goals of a sampled tactic and score them")
    ap.add_argument("-e", type=int, default=DEFAULT_E, help="candidate steps per expansion (default %(default)s)")
    ap.add_argument("--expansions", type=int, default=DEFAULT_EXPANSIONS, help="expansions per theorem (default %(default)s)")
    ap.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="model tokens per theorem (default %(default)s)")
    ap.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds per theorem (default %(default)s)")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    ap.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default 1.0: off)")
    ap.add_argument("--normalize", action="store_true", help="rank by log-probability per byte, not in total")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = ap.parse_args(argv)

    for flag, value in (("-e", args.e), ("--expansions", args.expansions), ("--tokens", args.tokens)):
        if value < 1:
            raise UserError(f"{flag} must be >= 1, got {value}")
    if not args.seconds > 0:
        raise UserError(f"--seconds must be positive, got {args.seconds}")
    if not 0 < args.top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {args.top_p}")
    if not args.temperature >= 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    if (args.statement is None) == (args.theorems is None):
        raise UserError("give a statement or --theorems FILE (one of the two)")
    if args.statement is not None:
        if args.structure is None:
            raise UserError("a statement needs --structure (e.g. --structure group)")
        try:
            texts = [theorem_text(args.statement, args.structure, args.name)]
        except ValueError as e:
            raise UserError(str(e)) from None
        prompt_mode = args.prompt_mode or "theorem"
    else:
        texts = read_texts(args.theorems)[:args.limit]
        prompt_mode = args.prompt_mode or "premises"
    source = paths.resolve_run(args.run)
    if not source.exists():
        raise UserError(f"{source}: no such run directory or checkpoint")
    model, _ = load_model(source, args.device)
    options = dict(prompt_mode=prompt_mode, goal_mode=args.goal_mode, e=args.e, max_expansions=args.expansions,
                   max_tokens=args.tokens, max_seconds=args.seconds, temperature=args.temperature, top_p=args.top_p,
                   normalize=args.normalize, seed=args.seed)
    results = []
    with sampling_threads(1) if args.device == "cpu" else contextlib.nullcontext():
        for i, text in enumerate(texts):
            try:
                r = prove(model, text, **options)
            except ValueError as e:
                if args.statement is not None:
                    raise UserError(str(e)) from None
                print(f"{args.theorems}: theorem {i} ({name_of(text)}): skipped: {e}", file=sys.stderr)
                continue
            results.append((name_of(text), r))
            if args.statement is not None:
                if not r.found:
                    print(_why_not(r))
                    return 1
                print(r.certificate)
            else:
                print(f"{i}: {name_of(text)}: " + (f"proved in {r.steps} steps" if r.found else _why_not(r)),
                      file=sys.stderr)
    if args.theorems is not None:
        s = summarize(results)
        print(f"{args.theorems}: {s['found']}/{s['total']} theorems proved ({100 * s['found_frac']:.1f}%), "
              f"{s['expansions']} expansions, {s['tokens']:,} tokens, {s['elapsed_s']:.1f} s")
        if args.out:
            atomic_write_text(args.out, "".join(r.certificate + "\n\n" for _, r in results if r.found))
        if args.json:
            atomic_write_json(args.json, {"file": str(args.theorems), **{k: v for k, v in options.items()}, **s})
    return 0
