"""The baselines, methods that learn nothing: blind search, retrieval and the constant proof.

Blind search proves a theorem by single rewrites with its premises, no model (below). Retrieval
(`retrieve`) replays the proof skeleton of the most similar train certificate; the constant
baseline (`constant_completion`) writes `rfl`, `qed`. `proofgpt evaluate` grades all three
with the checker beside the model, on the same theorems.

A certificate's prompt (its lines up to the first `@G`) gives the goal `L = R` and the premises
(`@P`: axioms, lemmas, hypotheses h1..hk). A move rewrites ONE occurrence of an instance of one
side of a premise into the other side (`rw [p]` or `rw [← p]`) in ONE side of the goal, exactly
the steps `proofgpt.check` accepts. Because a step may rewrite either side of the goal, the search
runs from both ends over single terms instead of over goal pairs: a tree of terms reachable from L
and one from R, each term visited once per tree (visited-term dedup); the proof is found when a
term M is reached from both ends. It rewrites the left side L -> ... -> M, then the right side
R -> ... -> M, and closes `M = M` with `rfl` (`symm` is never needed).

- `mode="best"` (default): best-first. One priority queue holds the unexpanded terms of both
  trees, ordered by (depth + size of the term); ties go to the older entry. Depth keeps the
  search close to breadth-first (proofs here are short random walks), size prefers the
  simplifying rewrites and throttles `rw [← one_mul]`-style growth at every subterm. Cheap: the
  size is one pass over a freshly built term.
- `mode="bfs"`: bidirectional breadth-first, one whole layer at a time on the side with the
  smaller frontier; the first layer that meets yields a proof with the fewest rewrite steps, so
  `shortest_proof_len` is exact within its budget.

A variable of the new side that the old side does not bind (`rw [← inv_mul a]`: 1 -> a⁻¹ * a) is
instantiated with each declared constant and each subterm of the goal's two sides, and written
as an explicit instance. Other compound instances are never guessed, so a proof that needs
`rw [← mul_inv (b * c)]` with `b * c` nowhere in the goal is found only by another route.

Budgets: expanded terms (default 10,000) and wall time (default 1 s per theorem, checked every
32 expansions). The time budget is the one that binds on hard theorems (an expansion generates
tens of children at tens of µs each), so it sets the cost of a corpus run: the theorems not
found each cost ~1 s, the found ones little. A 1k-theorem set then stays within about a minute
on two shared cores as long as at most a few percent are out of reach.

    >>> r = prove("@T t : 1 * a = a\\n@C G : monoid\\n@C a : G\\n@P one_mul : 1 * x = x\\n@G 1 * a = a")
    >>> r.found, r.steps, r.certificate.splitlines()[-4:]
    (True, 1, ['rw [one_mul]', '@G a = a', 'rfl', 'qed'])
"""

import argparse
import heapq
import itertools
import multiprocessing
import sys
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from proofgpt.algebra import STRUCTURES
from proofgpt.certificate import (prompt_of, read_corpus, statement_class_of, statement_of, structure_of,
                                  theorem_prompt_of)
from proofgpt.check import check_certificate, read_prompt
from proofgpt.errors import UserError
from proofgpt.generate import tactic_text
from proofgpt.io import atomic_write_json, atomic_write_text
from proofgpt.stats import nearest, shingles
from proofgpt.terms import (App, Atom, Var, canonical, match, parse_args, parse_equation, positions, print_equation,
                            rewrite_at, subterm, substitute, to_pattern, variables)

DEFAULT_BUDGET_GOALS = 10_000
DEFAULT_BUDGET_S = 1.0
SHORTEST_BUDGET_GOALS = 100  # the meta sidecars' `shortest`: BFS bounded by goals alone, so it is deterministic
TIME_CHECK_EVERY = 32  # expansions between clock reads
MODES = ("best", "bfs")


@dataclass
class SearchResult:
    found: bool
    certificate: str | None  # prompt + proof, for the checker; None when not found
    steps: int | None  # rewrite steps of the proof (rfl not counted); None when not found
    expanded: int  # terms whose children were generated
    generated: int  # distinct new terms generated (both trees)
    elapsed_s: float
    reason: str | None  # None when found, else "budget_goals" | "budget_time" | "exhausted"
    mode: str


# ----------------------------------------------------------------------------- rewrite rules

@dataclass(frozen=True, slots=True)
class _Rule:
    """A premise used in one direction: src -> dst. `unbound`: variables of dst that src lacks."""

    name: str
    backward: bool
    src: object
    dst: object
    unbound: tuple
    order: tuple  # the premise's pattern variables by first appearance, as written


def _rules(premises) -> list[_Rule]:
    """Both directions of every premise; a premise that reads the same both ways (x * y = y * x)
    only forward, and a direction whose source is a bare variable (x -> 1 * x) after the others."""
    out = []
    for name, lhs, rhs, order in premises:
        symmetric = canonical(lhs, rhs) == canonical(rhs, lhs)
        for backward in ((False,) if symmetric else (False, True)):
            src, dst = (rhs, lhs) if backward else (lhs, rhs)
            bound = set(variables(src))
            out.append(_Rule(name, backward, src, dst, tuple(v for v in variables(dst) if v not in bound), tuple(order)))
    return out


def _index(rules):
    """{root op or atom name: rules whose source starts with it}, plus the rules that match anywhere."""
    by_root, anywhere = {}, []
    for r in rules:
        if type(r.src) is Var:
            anywhere.append(r)
        else:
            by_root.setdefault(r.src.op if type(r.src) is App else r.src.name, []).append(r)
    return {k: v + anywhere for k, v in by_root.items()}, anywhere


def _subst(t, b):
    """Instantiate the pattern variables of t (a faster terms.substitute that leaves Atoms alone)."""
    tt = type(t)
    if tt is Var:
        return b[t.name]
    if tt is Atom:
        return t
    return App(t.op, tuple(_subst(a, b) for a in t.args))


def _size(t):
    return 1 if type(t) is not App else 1 + sum(_size(a) for a in t.args)


def _children(t, size_t, index, instances):
    """Every term one rewrite away from t (of size size_t) -> [(child, size, (rule, position,
    instances of unbound vars))]. Sizes are updated, not recounted: only the rewritten part is."""
    by_root, anywhere = index
    out = []

    def visit(s, pos, rebuild):
        """Children rewritten inside s (post-order, so that s's size comes for free) -> size of s."""
        # rebuild(new) puts `new` in place of s inside t; built lazily, only for a successful match
        size_s = 1
        if type(s) is App:
            args = s.args
            for i, a in enumerate(args):
                size_s += visit(a, pos + (i,), lambda new, i=i: rebuild(App(s.op, args[:i] + (new,) + args[i + 1:])))
        size_rest = size_t - size_s
        for r in by_root.get(s.op if type(s) is App else s.name, anywhere):
            b = match(r.src, s, {})
            if b is None:
                continue
            if r.unbound:
                for combo in itertools.product(instances, repeat=len(r.unbound)):
                    b2 = dict(b)
                    b2.update(zip(r.unbound, combo))
                    new = _subst(r.dst, b2)
                    if new != s:
                        out.append((rebuild(new), size_rest + _size(new), (r, pos, combo)))
            else:
                new = _subst(r.dst, b)
                if new != s:
                    out.append((rebuild(new), size_rest + _size(new), (r, pos, ())))
        return size_s

    visit(t, (), lambda new: new)
    return out


def _tactic(parent, step):
    """The `rw [...]` line of a step, with explicit instances up to the last unbound variable."""
    r, pos, combo = step
    s = parent
    for i in pos:
        s = s.args[i]
    b = match(r.src, s, {})
    b.update(zip(r.unbound, combo))
    need = [i for i, v in enumerate(r.order) if v in r.unbound]
    args = tuple(b[v] for v in r.order[: need[-1] + 1]) if need else ()
    return tactic_text(("rw", r.name, r.backward, args))


# ----------------------------------------------------------------------------- search

def _path(parents, t):
    """[(parent, step, child), ...] from the tree's root to t."""
    out = []
    while parents[t] is not None:
        p, step = parents[t]
        out.append((p, step, t))
        t = p
    return out[::-1]


def _certificate(prompt, parents, meet) -> tuple[str, int]:
    """Prompt lines + the proof through the meeting term -> (certificate text, rewrite steps)."""
    lines = list(prompt.lines)
    lhs, rhs = prompt.goal
    left, right = _path(parents[0], meet), _path(parents[1], meet)
    for p, step, c in left:  # the left side L -> ... -> M
        lines += [_tactic(p, step), "@G " + print_equation(c, rhs)]
    for p, step, c in right:  # then the right side R -> ... -> M
        lines += [_tactic(p, step), "@G " + print_equation(meet, c)]
    return "\n".join(lines + ["rfl", "qed"]), len(left) + len(right)


def _instances(constants, goal):
    """Candidates for a variable the old side does not bind: the declared constants, then every
    other subterm of the goal, smallest first ('(a ⊔ a) ⊓ ⊥ = ⊥' -> a, ⊥, a ⊔ a, (a ⊔ a) ⊓ ⊥)."""
    out = {Atom(c): None for c in constants}
    subterms = {s: None for side in goal for _, s in positions(side)}
    out.update((s, None) for s in sorted(subterms, key=_size))
    return tuple(out)


def rewrites_of(goal, premise, backward, args, constants) -> list[tuple]:
    """Every goal one rewrite of `goal` (lhs, rhs) away by `rw [premise args]` (← when
    backward), at any occurrence on either side; premise: (name, lhs, rhs, pattern variables in
    order) as in check.Prompt. A variable neither args nor the old side binds takes each of
    _instances. ('a * 1 = a * 1', mul_one forward) -> [(a, a * 1), (a * 1, a)]."""
    name, lhs, rhs, order = premise
    binding = dict(zip(order, args))
    src, dst = (rhs, lhs) if backward else (lhs, rhs)
    src, dst = substitute(src, binding), substitute(dst, binding)
    bound = set(variables(src))
    rule = _Rule(name, backward, src, dst, tuple(v for v in variables(dst) if v not in bound), tuple(order))
    index, instances = _index([rule]), _instances(constants, goal)
    left, right = goal
    return ([(c, right) for c, _, _ in _children(left, _size(left), index, instances)]
            + [(left, c) for c, _, _ in _children(right, _size(right), index, instances)])


def prove(text: str, *, budget_goals: int = DEFAULT_BUDGET_GOALS, budget_s: float = DEFAULT_BUDGET_S,
          mode: str = "best") -> SearchResult:
    """Search a proof of the first `@G` of `text` (a certificate or its prompt; proof lines are
    ignored). Raises ValueError when the prompt does not read. See the module docstring."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    t0 = time.perf_counter()
    prompt = read_prompt(text)
    index = _index(_rules(prompt.premises))
    instances = _instances(prompt.constants, prompt.goal)
    lhs, rhs = prompt.goal
    parents = ({lhs: None}, {rhs: None})  # per tree: term -> (parent, step) or None for the root
    expanded = generated = 0

    def result(meet, reason):
        cert, steps = _certificate(prompt, parents, meet) if meet is not None else (None, None)
        return SearchResult(meet is not None, cert, steps, expanded, generated, time.perf_counter() - t0, reason, mode)

    if lhs == rhs:
        return result(lhs, None)

    def expand(side, t, size_t):
        """Generate t's children into its tree -> ([(new child, size)], a term both trees hold or None)."""
        nonlocal generated
        mine, other = parents[side], parents[1 - side]
        new, meet = [], None
        for c, size_c, step in _children(t, size_t, index, instances):
            n = len(mine)
            mine.setdefault(c, (t, step))  # one hash for "visited?" and "visit" (hashing is the hot spot)
            if len(mine) == n:
                continue
            generated += 1
            new.append((c, size_c))
            if meet is None and c in other:
                meet = c
        return new, meet

    if mode == "best":
        tie = itertools.count()
        heap = [(_size(lhs), next(tie), 0, 0, lhs, _size(lhs)), (_size(rhs), next(tie), 1, 0, rhs, _size(rhs))]
        while heap:
            if expanded >= budget_goals:
                return result(None, "budget_goals")
            if expanded % TIME_CHECK_EVERY == 0 and time.perf_counter() - t0 > budget_s:
                return result(None, "budget_time")
            _, _, side, depth, t, size_t = heapq.heappop(heap)
            expanded += 1
            new, meet = expand(side, t, size_t)
            if meet is not None:
                return result(meet, None)
            for c, size_c in new:
                heapq.heappush(heap, (depth + 1 + size_c, next(tie), side, depth + 1, c, size_c))
        return result(None, "exhausted")

    # bfs: expand a whole layer of the side with the smaller frontier; the first layer that meets
    # holds the shortest proofs (every shorter one would have met in an earlier layer), so take the
    # meeting term with the fewest steps in total
    frontiers, depths = [[(lhs, _size(lhs))], [(rhs, _size(rhs))]], [{lhs: 0}, {rhs: 0}]
    while frontiers[0] or frontiers[1]:
        # a closed tree does not end the search: the other side may still reach one of its terms
        # (rewrites are not all reversible: `← inv_mul` instantiates with constants only)
        side = 0 if frontiers[0] and (not frontiers[1] or len(frontiers[0]) <= len(frontiers[1])) else 1
        layer, best = [], None
        for t, size_t in frontiers[side]:
            if expanded >= budget_goals:
                return result(None, "budget_goals")
            if expanded % TIME_CHECK_EVERY == 0 and time.perf_counter() - t0 > budget_s:
                return result(None, "budget_time")
            expanded += 1
            new, _ = expand(side, t, size_t)
            d = depths[side][t] + 1
            for c, _ in new:
                depths[side][c] = d
                other = depths[1 - side].get(c)
                if other is not None and (best is None or d + other < best[0]):
                    best = (d + other, c)
            layer += new
        if best is not None:
            return result(best[1], None)
        frontiers[side] = layer
    return result(None, "exhausted")


def shortest_proof_len(text: str, budget_goals: int = DEFAULT_BUDGET_GOALS, budget_s: float = DEFAULT_BUDGET_S) -> int | None:
    """Fewest rewrite steps (rfl not counted) of a proof of text's first `@G`, or None when the
    bidirectional BFS finds none within its budget: ('1 * a = a', one_mul) -> 1, ('a = a') -> 0."""
    return prove(text, budget_goals=budget_goals, budget_s=budget_s, mode="bfs").steps


def _shortest(text):
    return shortest_proof_len(text, SHORTEST_BUDGET_GOALS, float("inf"))


def shortest_proof_lens(texts) -> list[int | None]:
    """shortest_proof_len of every text with SHORTEST_BUDGET_GOALS expansions and no time limit
    (the same answer on any machine), over all CPU cores: what `make data` records as `shortest`."""
    if len(texts) < 64:
        return [_shortest(t) for t in texts]
    with multiprocessing.Pool() as pool:
        return pool.map(_shortest, texts, chunksize=8)


# ----------------------------------------------------------------------------- a corpus

LENGTH_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (7, 9), (10, 14), (15, 10**9))


def proof_lines(text: str) -> int:
    """Tactic lines of the certificate's given proof, rfl included (0 for a bare prompt)."""
    lines = [s.strip() for s in text.split("\n") if s.strip()]
    first_goal = next((i for i, s in enumerate(lines) if s.startswith("@G")), len(lines))
    return sum(1 for s in lines[first_goal:] if not s.startswith("@G") and s != "qed")


def length_bucket(n: int) -> str:
    """A proof length's bucket label: 1 -> '1', 5 -> '5-6', 20 -> '15+', 0 -> '0'."""
    for lo, hi in LENGTH_BUCKETS:
        if lo <= n <= hi:
            return str(lo) if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f"{lo}+")
    return "0"


def prove_corpus(blocks, *, budget_goals=DEFAULT_BUDGET_GOALS, budget_s=DEFAULT_BUDGET_S, mode="best", progress=False):
    """Run `prove` on every block -> (results in order (None for an unreadable prompt), summary dict).

    Every found certificate is checked in steps-verified mode (`trust_premises=True`: the premises
    are the input's own, so their validity is the input's; the steps are the search's)."""
    results, by_len, reasons = [], {}, {}
    n_found = n_unreadable = n_failed_check = 0
    t0 = time.perf_counter()
    for b in tqdm(blocks, desc="baseline", unit="thm", disable=not progress, mininterval=0.5):
        text = b if isinstance(b, str) else b.text
        try:
            r = prove(text, budget_goals=budget_goals, budget_s=budget_s, mode=mode)
        except ValueError:
            results.append(None)
            n_unreadable += 1
            continue
        results.append(r)
        if r.found and not check_certificate(r.certificate, trust_premises=True).verified:
            n_failed_check += 1
        n_found += r.found
        if not r.found:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        row = by_len.setdefault(length_bucket(proof_lines(text)), {"total": 0, "found": 0})
        row["total"] += 1
        row["found"] += r.found
    n = len(results) - n_unreadable
    order = [length_bucket(lo) for lo, _ in LENGTH_BUCKETS]
    summary = {
        "mode": mode, "budget_goals": budget_goals, "budget_s": budget_s,
        "total": n, "found": n_found, "solve_rate": n_found / max(1, n), "unreadable": n_unreadable,
        "failed_check": n_failed_check, "not_found_by_reason": reasons,
        "by_proof_lines": {k: by_len[k] for k in ["0"] + order if k in by_len},
        "mean_steps_found": sum(r.steps for r in results if r and r.found) / max(1, n_found),
        "expanded_total": sum(r.expanded for r in results if r),
        "elapsed_s": time.perf_counter() - t0,
    }
    return results, summary


# ----------------------------------------------------------------------------- prompts of the theorem mode

def premise_prompt(text: str, premises) -> str:
    """The theorem of `text` (its @T and @C lines) with the given `@P` lines ("name : statement"),
    then its hypotheses h1..hk, then its conclusion as the first goal: a prompt for a prover
    that has to choose the premises itself."""
    parts = [p.strip() for p in statement_of(text).split("→")]
    lines = [f"@P {p}" for p in premises] + [f"@P h{i + 1} : {h}" for i, h in enumerate(parts[:-1])]
    return theorem_prompt_of(text) + "".join(line + "\n" for line in lines) + f"@G {parts[-1]}\n"


def axiom_prompt(text: str) -> str | None:
    """premise_prompt with every axiom of the theorem's structure: what blind search gets when the
    premises are not given. None for a structure the package does not know."""
    s = STRUCTURES.get(structure_of(text))
    return None if s is None else premise_prompt(text, [f"{n} : {t}" for n, t in s.axiom_text.items()])


# ----------------------------------------------------------------------------- the constant baseline

def constant_completion(prompt: str) -> str:
    """Close the goal at once: "rfl\\nqed" after a prompt that ends in its first @G; after a theorem
    alone (@T, @C lines) it first copies the conclusion as the goal: "@G a * 1 = a\\nrfl\\nqed".
    It proves exactly the theorems whose two sides are already equal."""
    if prompt.rstrip("\n").rpartition("\n")[2].startswith("@G"):
        return "rfl\nqed"
    return f"@G {statement_of(prompt).split('→')[-1].strip()}\nrfl\nqed"


# ----------------------------------------------------------------------------- retrieval

def statement_shape(text: str) -> str:
    """Structure and statement with names renamed by first appearance (algebra.statement_class):
    '@T t : b * 1 = b\\n@C M : monoid ...' -> 'monoid: v0 * 1 = v0'; the statement as written when
    it does not parse."""
    try:
        key = statement_class_of(text)
    except ValueError:
        return statement_of(text)
    return f"{key[0]}: " + " ; ".join(key[1:])


def shape_index(train_texts) -> dict:
    """What `retrieve` searches: the train certificates and their statement shapes as 3-gram sets."""
    texts = list(train_texts)
    shapes = [statement_shape(t) for t in texts]
    exact = {}
    for i, sh in enumerate(shapes):
        exact.setdefault(sh, i)
    return {"texts": texts, "exact": exact, "shingles": [shingles(sh, 3) for sh in shapes]}


def nearest_train(text: str, index: dict) -> str | None:
    """The train certificate whose statement shape is most similar to text's (character 3-gram
    Jaccard; an identical shape first), or None for an empty index."""
    shape = statement_shape(text)
    i = index["exact"].get(shape)
    if i is None:
        i = nearest(shingles(shape, 3), index["shingles"])[1]
    return None if i is None else index["texts"][i]


def _changed_at(old, new) -> tuple:
    """The position where two terms differ, as deep as one differing child leads: (a * b, a * c) -> (1,)."""
    pos = ()
    while type(old) is App and type(new) is App and old.op == new.op:
        differ = [i for i in range(len(old.args)) if old.args[i] != new.args[i]]
        if len(differ) != 1:
            break
        pos += (differ[0],)
        old, new = old.args[differ[0]], new.args[differ[0]]
    return pos


def _proof_lines(text: str) -> list:
    """The non-blank lines of a certificate from its first @G on, stripped."""
    lines = [s.strip() for s in text.split("\n") if s.strip()]
    first = next((i for i, s in enumerate(lines) if s.startswith("@G")), len(lines))
    return lines[first:]


def proof_skeleton(text: str) -> tuple:
    """(first goal, [(tactic line, side it rewrote, position)]) of a certificate's proof, up to rfl.
    Raises ValueError when a goal does not parse."""
    lines = _proof_lines(text)
    goals = [parse_equation(line[3:]) for line in lines if line.startswith("@G")]
    tactics = [line for line in lines if not line.startswith("@G") and line not in ("qed", "rfl")]
    steps = []
    for i, tac in enumerate(tactics[:len(goals) - 1]):
        old, new = goals[i], goals[i + 1]
        side = 0 if old[0] != new[0] else 1
        steps.append((tac, side, _changed_at(old[side], new[side])))
    return goals[0], steps


def _constant_map(source: str, prompt: str) -> tuple[dict, int]:
    """({source constant: the prompt's term}, 1 if the conclusions match with sides swapped else 0):
    the statements matched equation by equation (hypotheses either way round); constants left
    over are paired with the prompt's in declaration order."""
    def equations(text):
        return [parse_equation(part.strip()) for part in statement_of(text).split("→")]

    try:
        src, dst = equations(source), equations(prompt)
    except ValueError:
        return {}, 0
    names, flip = {}, 0
    if len(src) == len(dst):
        for flip in (0, 1):
            b = {}
            for i, ((sl, sr), (dl, dr)) in enumerate(zip(src[::-1], dst[::-1])):
                orient = ((dl, dr), (dr, dl)) if i else (((dl, dr), (dr, dl))[flip],)
                b = next((b2 for l2, r2 in orient if (b2 := match(to_pattern(sl, ()), l2, dict(b))) is not None
                          and match(to_pattern(sr, ()), r2, b2) is not None), None)
                if b is None:
                    break
            if b is not None:
                names = b
                break
        else:
            flip = 0
    src_consts, dst_consts = read_prompt(source).constants, read_prompt(prompt).constants
    for s, d in zip(src_consts, dst_consts):
        names.setdefault(s, Atom(d))
    return names, flip


def replay(prompt: str, source: str) -> str:
    """Apply source's tactics (premise names, directions, instances with its constants mapped onto
    the prompt's) to the prompt's goal, re-deriving every goal: each rewrite goes where it went in
    source if it applies there, else at the first position (pre-order) of the same side, else of
    the other side. A tactic that applies nowhere, or names a premise the prompt lacks, ends the
    replay; the result is always closed with rfl, qed, and the checker judges it."""
    p = read_prompt(prompt)
    premises = {name: (lhs, rhs, order) for name, lhs, rhs, order in p.premises}
    (src_l, src_r), steps = proof_skeleton(source)
    goal = list(p.goal)
    names, flip = _constant_map(source, prompt)
    lines = list(p.lines)
    for tac, side, pos in steps:
        side ^= flip
        if tac == "symm":
            goal = goal[::-1]  # source's goal swaps too: the correspondence of sides stays
            lines += ["symm", "@G " + print_equation(*goal)]
            continue
        inner = tac[4:-1].strip() if tac.startswith("rw [") and tac.endswith("]") else ""
        backward = inner.startswith("←")
        name, _, rest = inner.lstrip("←").strip().partition(" ")
        if name not in premises:
            break
        try:
            args = [substitute(a, names) for a in parse_args(rest)] if rest.strip() else []
        except ValueError:
            break
        lhs, rhs, order = premises[name]
        src, dst = (rhs, lhs) if backward else (lhs, rhs)
        binding = dict(zip(order, args))
        found = same = None  # (side, new term): a rewrite that changes the goal, else one that keeps it
        for s in (side, 1 - side):
            tried = [pos] if s == side else []
            for q in tried + [q for q, _ in positions(goal[s])]:
                try:
                    subterm(goal[s], q)
                except (AttributeError, IndexError):
                    continue
                new = rewrite_at(goal[s], q, src, dst, binding)
                if new is not None and new != goal[s]:
                    found = (s, new)
                    break
                if new is not None and same is None:
                    same = (s, new)  # source's step may have rewritten an instance into itself
            if found:
                break
        found = found or same
        if found is None:
            break
        goal[found[0]] = found[1]
        lines += [tactic_text(("rw", name, backward, tuple(args))), "@G " + print_equation(*goal)]
    return "\n".join(lines + ["rfl", "qed"])


def retrieve(text: str, index: dict, theorem_mode: bool = False) -> str | None:
    """The retrieval baseline's certificate for text's theorem: the nearest train certificate's
    skeleton replayed on text's prompt (its first @G and premises); with theorem_mode, on the
    theorem alone, citing the train certificate's premises (hypotheses excepted) instead.
    None when the index is empty or the prompt does not read."""
    source = nearest_train(text, index)
    if source is None:
        return None
    if theorem_mode:
        cited = [line[3:] for line in source.split("\n") if line.startswith("@P ") and not _is_hyp(line)]
        prompt = premise_prompt(text, cited)
    else:
        prompt = prompt_of(text)
    try:
        return replay(prompt, source)
    except ValueError:
        return None


def _is_hyp(premise_line: str) -> bool:
    name = premise_line[3:].split(" : ", 1)[0].strip()
    return name[:1] == "h" and name[1:].isdigit()


def format_summary(s: dict, title: str) -> str:
    lines = [f"{title}: {s['found']}/{s['total']} theorems proved ({100 * s['solve_rate']:.1f}%) by blind "
             f"{s['mode']} search (budget {s['budget_goals']:,} goals, {s['budget_s']:g} s) in {s['elapsed_s']:.1f} s"]
    if s["not_found_by_reason"]:
        lines.append("  not found: " + ", ".join(f"{k} {v}" for k, v in sorted(s["not_found_by_reason"].items())))
    if s["unreadable"]:
        lines.append(f"  skipped {s['unreadable']} certificates whose prompt does not read")
    if s["failed_check"]:
        lines.append(f"  BUG: {s['failed_check']} found certificates fail the checker")
    lines.append("  by proof length (tactic lines of the given proof, rfl included):")
    for k, row in s["by_proof_lines"].items():
        lines.append(f"    {k:>5}  {row['found']:>6}/{row['total']:<6} {100 * row['found'] / max(1, row['total']):5.1f}%")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt baseline", description="Blind search baseline: prove every theorem "
                                 "of a certificate file by best-first search over single rewrites with its premises.")
    ap.add_argument("file", help="a corpus of certificates (their proofs are ignored; a prompt alone is enough)")
    ap.add_argument("--budget-goals", type=int, default=DEFAULT_BUDGET_GOALS,
                    help="expanded terms per theorem (default %(default)s)")
    ap.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="seconds per theorem (default %(default)s)")
    ap.add_argument("--mode", choices=MODES, default="best", help="best-first, or bfs for shortest proofs (default best)")
    ap.add_argument("--out", help="write the found certificates here, blank-line separated")
    ap.add_argument("--json", help="write the summary (solve rate, by proof length, time) here")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.budget_goals <= 0:
        raise UserError(f"--budget-goals must be positive, got {args.budget_goals}")
    if not args.budget_s > 0:
        raise UserError(f"--budget-s must be positive, got {args.budget_s}")
    blocks = read_corpus(args.file)
    results, summary = prove_corpus(blocks, budget_goals=args.budget_goals, budget_s=args.budget_s, mode=args.mode,
                                    progress=not args.quiet and sys.stderr.isatty())
    print(format_summary(summary, args.file))
    if args.out:
        atomic_write_text(args.out, "".join(r.certificate + "\n\n" for r in results if r and r.found))
    if args.json:
        atomic_write_json(args.json, {"file": str(args.file), **summary})
    return 0

