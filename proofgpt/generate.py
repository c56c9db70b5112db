"""The seeded certificate generator: `python -m proofgpt data generate` -> data/training.txt + meta.

Four families of theorems, every proof correct by construction (the checker verifies 100 %):

- catalog:    a textbook fact of proofgpt.algebra's catalog, its constants instantiated with
              random terms (`@T inv_inv : (a * b)⁻¹⁻¹ = a * b`), proved by its script;
- walk:       a random term rewritten by random axioms at random positions; the endpoints are the
              theorem (`@T walk`). The proof rewrites the left side forward, or meets in the middle
              (the right side rewritten backward), or turns around with `symm`;
- lemma:      a walk whose first step cites a catalog lemma or the theorem of an earlier walk of the
              same file (`@P walk : x * (y * 1) = x * y`; the checker finds the earlier `@T walk`
              with that statement, up to renaming and swapped sides);
- hypothesis: a walk that rewrites with hypotheses `h1 … hk` of the theorem (`@T hyp`).

Names carry no bits of their own: a theorem is named by its family word or its catalog fact.
Constants are named a, b, c, d in the order they are drawn, so nothing is renamed afterwards.
A draw is thrown away (and drawn again) when it is degenerate: `t = t`, or a hypothesis theorem
whose conclusion is one of its hypotheses up to renaming and swapped sides; or when its statement
class (algebra.statement_class) is already in the corpus: at most one certificate per class.

Difficulty is set by `Knobs` (rewrite steps, term size, hypotheses, the long tail), recorded in the
manifest; each certificate's meta records what it got (`rewrites`, `premises`, `hyps`,
`term_size`, `concl_size`). Trade-off: every goal is written out, so a step costs ~50 bytes and
a 511-byte row holds ~6; walks run until their byte budget stops them, so most certificates are
long and there are no short fillers: ctx-512 packing is less dense than with the version-2
generator's short fillers, the price of longer proofs. GENERATOR_VERSION is bumped whenever the output changes, so
`data prepare` regenerates a stale file of ours.
Same seed, size and knobs -> byte-identical file (only random.Random(seed), never the clock).

Entropy bound. Every random choice goes through `Chooser`, which logs its log2 probability in the
certificate's meta `log2p`; -Σ log2p / file bytes (entropy_bound_bpb) is the code length of the
one choice path that produced each kept certificate. Nearly every choice shows in the text (the
structure, the family in the name, each rewrite's rule, position and instance in the next goal,
each fresh constant, whether another step follows), and a stop the text already implies (a dead
end, the byte budget) is not logged. It is an upper bound on the entropy of the generating
process per byte, not a floor no model can beat, and it is loose where
- a draw is thrown away (degenerate, repeated, too long): the kept path's probability is divided
  by the acceptance probability, which is not logged, so its bits are overcounted;
- `pick_until` logs 1/len(remaining) while the true probability is 1/len(acceptable) (larger);
- a choice leaves no trace: the long-budget coin on a certificate that stays short, a step dropped
  because the byte estimate was short, a constant drawn into a subterm a lemma instance replaces;
- two paths print the same text (two rewrites that give the same goal).
"""

import argparse
import math
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from proofgpt import paths
from proofgpt.algebra import CATALOG_FACTS, STRUCTURES, Fact, axioms_subset, catalog_lemmas, statement_class
from proofgpt.certificate import corpus_owner
from proofgpt.config import MAX_CHARS, check_seed
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, atomic_write_text, jsonl_text, sha256_bytes, sha256_file
from proofgpt.terms import (BINARY, POSTFIX, SYMBOLS, App, Atom, Var, canonical, match, names, parse_args, parse_equation,
                            positions, print_arg, print_equation, print_term, replace, size, substitute, to_pattern,
                            variables)

PLAN_CHARS = 3_680_000  # the training plan: the corpus is ~3.68M characters
GENERATOR_VERSION = 4  # stored in the manifest; bump whenever the output for a seed changes
MAX_BYTES = 511  # the usual budget: certificate + "\n\n" fits a ctx-512 row (513 tokens)
LONG_MAX_BYTES = 2048  # the long-proof budget (Knobs.long_frac of draws): split across ~4 rows by the packer
MAX_FAILED_DRAWS = 5_000  # draws in a row without a new theorem before generate_corpus gives up
CONSTANTS = ("a", "b", "c", "d")
PATTERN_VARS = ("x", "y", "z", "w", "u", "v")


# ----------------------------------------------------------------------------- random choices

class Chooser:
    """random.Random(seed) plus a log of log2-probabilities of the choices kept for one certificate.

        >>> ch = Chooser(0); ch.choice("abcd") in "abcd", ch.log2p
        (True, [-2.0])
    """

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.log2p = []

    def choice(self, seq):
        n = len(seq)
        if n == 1:
            return seq[0]
        self.log2p.append(-math.log2(n))
        return seq[self.rng.randrange(n)]

    def weighted(self, seq, weights):
        total = sum(weights)
        r = self.rng.random() * total
        for item, w in zip(seq, weights):
            r -= w
            if r < 0:
                break
        if w < total:
            self.log2p.append(math.log2(w / total))
        return item

    def coin(self, p: float) -> bool:
        """True with probability p; certain outcomes (p 0 or 1) are not logged."""
        yes = self.rng.random() < p
        if 0 < p < 1:
            self.log2p.append(math.log2(p if yes else 1 - p))
        return yes

    def pick_until(self, seq, ok):
        """A uniform pick among the items of seq that satisfy ok (tested lazily), or None.

        Items failing ok are dropped and the pick repeated; only the accepted pick is logged, as
        1/len(remaining) <= its true probability 1/|{ok items}| (so the bound stays an upper bound).
        """
        remaining = list(seq)
        while remaining:
            j = self.rng.randrange(len(remaining))
            if ok(remaining[j]):
                if len(remaining) > 1:
                    self.log2p.append(-math.log2(len(remaining)))
                return remaining[j]
            remaining[j] = remaining[-1]
            remaining.pop()
        return None


# ----------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    """A premise the generator rewrites with: an axiom, a lemma or a hypothesis, as @P writes it."""

    name: str
    lhs: object
    rhs: object
    order: tuple  # pattern variables by first appearance, left side first
    text: str  # the statement after '@P name : '
    kind: str  # "axiom" | "lemma" | "hyp"


@dataclass(frozen=True)
class RuleDir:
    rule: Rule
    backward: bool
    src: object
    dst: object
    root: str | None  # root op / atom name of src; None when src is a variable (matches anywhere)
    dst_base: int  # size(dst) minus its variable occurrences
    dst_occ: tuple  # variable occurrences in dst
    unbound: tuple  # variables of dst that src does not bind (need an explicit instance)


def _root(t):
    return None if type(t) is Var else (t.op if type(t) is App else t.name)


def _var_occurrences(t, out):
    if type(t) is Var:
        out.append(t.name)
    elif type(t) is App:
        for a in t.args:
            _var_occurrences(a, out)
    return out


def is_symmetric(rule: Rule) -> bool:
    """mul_comm (x * y = y * x) reads the same both ways: it is only ever used forward."""
    return canonical(rule.lhs, rule.rhs) == canonical(rule.rhs, rule.lhs)


_RULE_DIRS = {}


def rule_dirs(rule: Rule) -> list[RuleDir]:
    """The directions a rule rewrites in (one for a symmetric rule), cached per rule."""
    key = (rule.name, rule.text, rule.kind)
    if key not in _RULE_DIRS:
        if len(_RULE_DIRS) > 50_000:
            _RULE_DIRS.clear()
        _RULE_DIRS[key] = _rule_dirs(rule)
    return _RULE_DIRS[key]


def _rule_dirs(rule: Rule) -> list[RuleDir]:
    out = []
    for backward in ((False,) if is_symmetric(rule) else (False, True)):
        src, dst = (rule.rhs, rule.lhs) if backward else (rule.lhs, rule.rhs)
        occ = _var_occurrences(dst, [])
        src_vars = set(variables(src))
        unbound = tuple(v for v in variables(dst) if v not in src_vars)
        out.append(RuleDir(rule, backward, src, dst, _root(src), size(dst) - len(occ), tuple(occ), unbound))
    return out


def _pattern_rename(lhs, rhs):
    """Constants -> x, y, z, ... by first appearance: (b * a = a * b) -> (x * y = y * x) as Vars."""
    order = names(rhs, names(lhs))
    ren = {n: Var(PATTERN_VARS[i] if i < len(PATTERN_VARS) else f"x{i}") for i, n in enumerate(order)}
    return substitute(lhs, ren), substitute(rhs, ren)


def make_rule(name, lhs, rhs, kind) -> Rule:
    return Rule(name, lhs, rhs, tuple(variables(rhs, variables(lhs))), print_equation(lhs, rhs), kind)


_AXIOM_RULES = {s.name: [make_rule(a, l, r, "axiom") for a, (l, r) in s.axioms.items()] for s in STRUCTURES.values()}


_FACT_RULES = {}


def _fact_rule(fact: Fact) -> Rule:
    if fact not in _FACT_RULES:
        lhs, rhs = parse_equation(fact.conclusion)
        _FACT_RULES[fact] = make_rule(fact.name, *_pattern_rename(lhs, rhs), "lemma")
    return _FACT_RULES[fact]


def library_premises(structure: str) -> list[tuple[str, str]]:
    """(name, statement as @P writes it) of every premise a certificate in `structure` may cite
    without proving it: its axioms in table order, then the catalog lemmas it may use (the first
    fact of each name). library_premises("monoid")[:2] -> [('mul_assoc', 'x * y * z = x * (y * z)'),
    ('one_mul', '1 * x = x')]."""
    out = {r.name: r.text for r in _AXIOM_RULES[structure]}
    for fact in catalog_lemmas(structure):
        out.setdefault(fact.name, _fact_rule(fact).text)
    return list(out.items())


# ----------------------------------------------------------------------------- steps and rendering

def tactic_text(step) -> str:
    """('rw', rule, backward, args) -> 'rw [← one_mul b]'; ('symm',) -> 'symm'."""
    if step[0] == "symm":
        return "symm"
    _, name, backward, args = step
    parts = (["← "] if backward else []) + [name] + [" " + print_arg(a) for a in args]
    return "rw [" + "".join(parts) + "]"


def _premise_lines(rules, structure, hyps):
    """@P lines: axioms in the structure's table order, then lemmas by name and statement, then
    h1..hk; the order tells nothing about which rules the proof uses (distractors included)."""
    axioms = [r for r in rules if r.kind == "axiom"]
    order = list(STRUCTURES[structure].axioms)
    axioms.sort(key=lambda r: order.index(r.name))
    lemmas = sorted((r for r in rules if r.kind == "lemma"), key=lambda r: (r.name, r.text))
    hyp_lines = [(f"h{i + 1}", print_equation(*h)) for i, h in enumerate(hyps)]
    return [(r.name, r.text) for r in axioms + lemmas] + hyp_lines


def render(name, structure, hyps, concl, premises, steps) -> str:
    """The certificate text (no trailing newline). steps: [(tactic tuple, (lhs, rhs) after it)]."""
    s = STRUCTURES[structure]
    terms = [t for h in hyps for t in h] + list(concl)
    for tac, goal in steps:
        terms += list(goal) + (list(tac[3]) if tac[0] == "rw" else [])
    consts = []
    for t in terms:
        names(t, consts)
    lines = ["@T " + name + " : " + " → ".join(print_equation(*e) for e in list(hyps) + [concl]),
             f"@C {s.type_name} : {structure}"]
    if consts:
        lines.append(f"@C {' '.join(sorted(consts))} : {s.type_name}")
    lines += [f"@P {n} : {text}" for n, text in premises]
    lines.append("@G " + print_equation(*concl))
    for tac, goal in steps:
        lines.append(tactic_text(tac))
        lines.append("@G " + print_equation(*goal))
    lines += ["rfl", "qed"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- catalog scripts

def _parse_rw(text):
    """'rw [← mul_one a⁻¹]' -> ('mul_one', True, [a⁻¹])"""
    inner = text[4:-1].strip()
    backward = inner.startswith("←")
    inner = inner[1:].strip() if backward else inner
    name, _, rest = inner.partition(" ")
    return name, backward, (parse_args(rest) if rest.strip() else [])


def _first_rewrite(goal, rd: RuleDir, binding):
    """Rewrite the first instance (pre-order, left side first) of rd.src whose rd.dst is bound."""
    for side in (0, 1):
        for pos, sub in positions(goal[side]):
            b = match(rd.src, sub, dict(binding))
            if b is None or any(v not in b for v in rd.unbound):
                continue
            new = replace(goal[side], pos, substitute(rd.dst, b))
            return (new, goal[1]) if side == 0 else (goal[0], new)
    raise ValueError(f"{rd.rule.name}: no instance in {print_equation(*goal)}")


_PROOFS = {}


def prove_fact(fact: Fact):
    """Run a catalog script -> (hyps, concl, rules it cites but hypotheses, steps), goals computed by
    first-instance rewriting."""
    key = (fact.name, fact.structure)
    if key in _PROOFS:
        return _PROOFS[key]
    eqs = [parse_equation(s) for s in fact.statement.split("→")]
    hyps, concl = eqs[:-1], eqs[-1]
    rules = {r.name: r for r in _AXIOM_RULES[fact.structure]}
    for f in catalog_lemmas(fact.structure):
        if CATALOG_FACTS.index(f) < CATALOG_FACTS.index(fact):
            rules[f.name] = _fact_rule(f)
    for i, (l, r) in enumerate(hyps):
        rules[f"h{i + 1}"] = make_rule(f"h{i + 1}", l, r, "hyp")
    goal, steps, used = concl, [], []
    for step in fact.script:
        text, want = (step, None) if isinstance(step, str) else step
        if text == "symm":
            goal = (goal[1], goal[0])
            steps.append((("symm",), goal))
            continue
        name, backward, args = _parse_rw(text)
        rule = rules[name]
        rd = rule_dirs(rule)[-1 if backward else 0]
        goal = parse_equation(want) if want else _first_rewrite(goal, rd, dict(zip(rule.order, args)))
        steps.append((("rw", name, backward, tuple(args)), goal))
        if rule not in used:
            used.append(rule)
    if goal[0] != goal[1]:
        raise ValueError(f"{fact.name}: script ends at {print_equation(*goal)}, not x = x")
    out = (hyps, concl, tuple(r for r in used if r.kind != "hyp"), steps)
    _PROOFS[key] = out
    return out


def catalog_certificate(fact: Fact, name=None, mapping=None, extra=()) -> str:
    """The fact's certificate, its constants replaced by `mapping` terms ({a: b * c}), with the
    `extra` rules (distractors) listed among its premises -> text."""
    hyps, concl, rules, steps = prove_fact(fact)
    if mapping:
        sub = lambda t: substitute(t, mapping)  # noqa: E731
        hyps = [(sub(l), sub(r)) for l, r in hyps]
        concl = (sub(concl[0]), sub(concl[1]))
        steps = [((tac[0], tac[1], tac[2], tuple(sub(a) for a in tac[3])) if tac[0] == "rw" else tac,
                  (sub(g[0]), sub(g[1]))) for tac, g in steps]
    premises = _premise_lines(list(rules) + [r for r in extra if r not in rules], fact.structure, hyps)
    return render(name or fact.name, fact.structure, hyps, concl, premises, steps)


# ----------------------------------------------------------------------------- difficulty knobs

@dataclass(frozen=True)
class Knobs:
    """What makes a certificate hard, as generator parameters: generate_corpus(knobs=Knobs(...)).

    A walk takes `steps[0]` rewrites when it can, then each further one with probability
    `steps_decay`, at most `steps[1]`; it stops earlier at a dead end or when one more goal line
    might not fit its byte budget (MAX_BYTES; LONG_MAX_BYTES for a share `long_frac` of the draws,
    which take at least `long_steps` rewrites). `distractors` premises are drawn from the
    structure's axioms and citable catalog lemmas and listed beside the ones the proof uses (a
    drawn one the proof uses anyway is listed once), so the prompt does not give the proof's
    rules away; each costs ~30 bytes of the budget. A draw with fewer than `min_rewrites`
    rewrites is thrown away (test-long). Every field is recorded in the manifest.
    """

    steps: tuple = (4, 20)  # rewrite steps a walk takes: at least (when it can; catalog facts too), at most
    steps_decay: float = 0.7  # probability of each further step past steps[0]
    long_frac: float = 0.025  # share of draws allowed up to LONG_MAX_BYTES: the long-proof tail
    long_steps: int = 12  # the least a long draw takes
    ops: tuple = (1, 2)  # operator nodes in a walk's starting term: uniform in this range
    growth: int = 3  # nodes a term may grow past the largest starting term of its size
    hyps: tuple = (1, 3)  # hypotheses of a `hyp` theorem: uniform in this range
    distractors: tuple = (1, 2)  # extra premises listed in the prompt: uniform in this range (~30 bytes each)
    min_rewrites: int = 0  # draws with fewer rewrites are thrown away


# ----------------------------------------------------------------------------- random terms and walks

_LEAF_SYMBOLS = {s: sorted(o for o in st.operators if o in SYMBOLS) for s, st in STRUCTURES.items()}
_OPERATORS = {s: sorted(o for o in st.operators if o in BINARY) + sorted(o for o in st.operators if o in POSTFIX or o == "-")
              for s, st in STRUCTURES.items()}


def random_term(ch: Chooser, structure: str, consts: list, n_ops: int):
    """A random term with n_ops operator nodes. A leaf is a constant of `consts`, the next fresh one
    (a, b, c, d in turn; appended to consts) or a symbol, so constants are named in the order they
    are drawn and never renamed afterwards: renaming would spend bits the text does not show."""
    if n_ops == 0:
        fresh = [CONSTANTS[len(consts)]] if len(consts) < len(CONSTANTS) else []
        symbols = _LEAF_SYMBOLS[structure]
        leaf = ch.weighted(consts + fresh + symbols, [4] * (len(consts) + len(fresh)) + [1] * len(symbols))
        if fresh and leaf == fresh[0]:
            consts.append(leaf)
        return Atom(leaf)
    opers = _OPERATORS[structure]
    op = ch.weighted(opers, [3 if o in BINARY else 1 for o in opers])
    if op in BINARY:
        k = ch.choice(range(n_ops))
        left = random_term(ch, structure, consts, k)
        return App(op, (left, random_term(ch, structure, consts, n_ops - 1 - k)))
    return App(op, (random_term(ch, structure, consts, n_ops - 1),))


def _sizes(t, out):
    """Fills out[id(subterm)] = size for every subterm of t; returns the size of t."""
    n = 1
    if type(t) is App:
        for a in t.args:
            n += _sizes(a, out)
    out[id(t)] = n
    return n


def _candidates(t, rdirs):
    """Groups (one per rule direction) of (rule dir, position, size after, binding) matching in t."""
    sizes = {}
    t_size = _sizes(t, sizes)
    pos = positions(t)
    by_root = {}
    for p, s in pos:
        by_root.setdefault(s.op if type(s) is App else s.name, []).append((p, s))
    groups = []
    for rd in rdirs:
        found = []
        for p, s in (pos if rd.root is None else by_root.get(rd.root, ())):
            b = match(rd.src, s, {})
            if b is not None:
                new_size = t_size - sizes[id(s)] + rd.dst_base + sum(sizes[id(b[v])] if v in b else 1 for v in rd.dst_occ)
                found.append((rd, p, new_size, b))
        if found:
            groups.append(found)
    return groups


def _nbytes(t) -> int:
    return len(print_term(t).encode("utf-8"))


def walk(ch, structure, consts, t0, rdirs, aim, max_size, budget, est, first=None):
    """Random rewrites from t0 -> (terms, steps, est), steps [(rule dir, position, binding)].

    aim = (least, most, decay): the first `least` steps are taken when one is possible, each
    further one with probability `decay`, logged only when a step was possible (a forced stop is
    decided by what the text shows and costs no bits). A step never revisits a term nor grows it
    past max_size; the walk stops when one more goal line might push `est` (the certificate's
    estimated bytes so far) past `budget`. `first`: a (rule dir, position, binding) to start with.
    """
    least, most, decay = aim
    terms, steps, seen = [t0], [], {t0}
    cur = _nbytes(t0)
    while len(steps) < most and est + 2 * cur + 40 <= budget:
        t = terms[-1]
        if not steps and first is not None:
            rd, p, b = first
        else:
            groups = _candidates(t, rdirs)
            ok = lambda c: c[2] <= max_size and _apply(t, c) not in seen  # noqa: E731
            if not any(ok(c) for g in groups for c in g):
                break  # a dead end
            if len(steps) >= least and not ch.coin(decay):
                break
            c = ch.pick_until(ch.pick_until(groups, lambda g: any(ok(c) for c in g)), ok)
            rd, p, b = c[0], c[1], dict(c[3])
        for v in rd.unbound:  # a fresh instance for a variable the old side does not bind
            if v not in b:
                b[v] = random_term(ch, structure, consts, ch.weighted((0, 1), (3, 1)))
        new = replace(t, p, substitute(rd.dst, b))
        terms.append(new)
        seen.add(new)
        if all(rd.rule is not s[0].rule for s in steps):  # a new @P line
            est += len(rd.rule.text) + len(rd.rule.name) + 8
        steps.append((rd, p, b))
        cur = _nbytes(new)
        est += 2 * cur + 16 + len(rd.rule.name)
    return terms, steps, est


def _apply(t, c):
    rd, p, _, b = c
    if rd.unbound:  # instance not chosen yet: the result is new unless a term is revisited later
        return None
    return replace(t, p, substitute(rd.dst, b))


def _rw(rd: RuleDir, backward: bool, b) -> tuple:
    """The tactic tuple for rewriting with rd.rule in direction `backward` (relative to as written)."""
    rule = rd.rule
    backward = backward and not is_symmetric(rule)
    src_vars = set(variables(rule.rhs if backward else rule.lhs))
    dst_vars = variables(rule.lhs if backward else rule.rhs)
    need = [i for i, v in enumerate(rule.order) if v in dst_vars and v not in src_vars]
    args = tuple(b[v] for v in rule.order[: need[-1] + 1]) if need else ()
    return ("rw", rule.name, backward, args)


def walk_proof(ch, terms, steps):
    """Goals and tactics proving terms[0] = terms[-1]: forward, meet in the middle, or via symm."""
    n = len(steps)
    target = terms[-1]
    style = ch.weighted(("forward", "meet", "symm"), (5, 2, 1)) if n >= 2 else "forward"
    k = n if style == "forward" else ch.choice(range(1, n))
    out = []
    for i in range(k):  # left side forward: t_i -> t_{i+1}
        rd, _, b = steps[i]
        out.append((_rw(rd, rd.backward, b), (terms[i + 1], target)))
    if style == "symm":
        out.append((("symm",), (target, terms[k])))
    for j in range(n, k, -1):  # the other side backward: t_j -> t_{j-1}
        rd, _, b = steps[j - 1]
        goal = (terms[j - 1], terms[k]) if style == "symm" else (terms[k], terms[j - 1])
        out.append((_rw(rd, not rd.backward, b), goal))
    return out


# ----------------------------------------------------------------------------- premises and facts

# Catalog facts held out of the main corpus in every instantiation -- as theorems, as cited lemmas,
# as distractor premises, and as what a walk happens to prove -- and used alone for the test-facts
# set: 7 of the 63, spread over the structures, none cited by another fact's script.
WITHHELD_FACTS = ("mul_mul_mul_comm", "inv_inv", "mul_right_cancel", "neg_eq_of_add_eq_zero_right",
                  "add_add_add_comm", "inf_sup_right", "compl_sup")
FACT_SETS = ("kept", "withheld")  # generate_corpus(facts=...): every fact but the withheld, or only them


def allowed_facts(facts: str) -> frozenset:
    """The catalog facts a corpus may use: 'kept' -> the 56 not withheld, 'withheld' -> the 7."""
    if facts not in FACT_SETS:
        raise ValueError(f"facts must be one of {FACT_SETS}, got {facts!r}")
    return frozenset(f for f in CATALOG_FACTS if (f.name in WITHHELD_FACTS) == (facts == "withheld"))


def distractors(ch, structure, knobs, allowed, proving=None) -> list[Rule]:
    """knobs.distractors premises drawn without replacement from the structure's axioms and its
    citable catalog lemmas in `allowed` (never `proving`, the fact a catalog certificate proves)."""
    pool = list(_AXIOM_RULES[structure])
    pool += [_fact_rule(f) for f in catalog_lemmas(structure) if f in allowed and f is not proving]
    k = ch.choice(range(knobs.distractors[0], knobs.distractors[1] + 1))
    return [pool.pop(ch.choice(range(len(pool)))) for _ in range(min(k, len(pool)))]


_PATTERNS = {}


def is_instance(fact: Fact, structure, hyps, concl) -> bool:
    """True iff the statement (hyps → concl in `structure`) is an instance of the fact, sides
    swapped or not, each of the fact's hypotheses matching one of hyps: for inv_inv (a⁻¹⁻¹ = a),
    ('group', [], (b * c = (b * c)⁻¹⁻¹)) -> True."""
    if not axioms_subset(STRUCTURES[fact.structure], STRUCTURES[structure]):
        return False
    if fact not in _PATTERNS:
        eqs = [parse_equation(e) for e in fact.statement.split("→")]
        _PATTERNS[fact] = [(to_pattern(lhs, ()), to_pattern(rhs, ())) for lhs, rhs in eqs]
    *hyp_pats, concl_pat = _PATTERNS[fact]

    def fits(pat, eq, b):
        for lhs, rhs in (eq, eq[::-1]):
            b2 = match(pat[0], lhs, dict(b))
            if b2 is not None and match(pat[1], rhs, b2) is not None:
                yield b2

    def rest(i, b, left):
        return i == len(hyp_pats) or any(rest(i + 1, b2, left - {j}) for j in left for b2 in fits(hyp_pats[i], hyps[j], b))

    return any(rest(0, b, frozenset(range(len(hyps)))) for b in fits(concl_pat, concl, {}))


# ----------------------------------------------------------------------------- families

FAMILIES = ("catalog", "walk", "lemma", "hypothesis")
_FAMILY_WEIGHTS = {"kept": (2, 4, 2, 2), "withheld": (1, 0, 1, 0)}  # withheld facts: proved, or cited by walks
_THEOREM_NAME = {"walk": "walk", "lemma": "lemma", "hypothesis": "hyp"}  # catalog: the fact's name
_STRUCTURE_NAMES = list(STRUCTURES)


def _info(text, structure, proof, premises, concl, hyps, terms):
    """The per-certificate facts generate_corpus checks and records in the meta sidecar."""
    cited = {tac[1] for tac, _ in proof if tac[0] == "rw"}
    return {"text": text, "structure": structure, "concl": concl, "hyp_eqs": hyps,
            "steps": len(proof) + 1, "rewrites": sum(tac[0] == "rw" for tac, _ in proof),
            "premises": [n for n, _ in premises], "distractors": sum(n not in cited for n, _ in premises),
            "term_size": max(size(t) for t in terms), "concl_size": [size(concl[0]), size(concl[1])]}


def gen_walk(ch, knobs: Knobs, budget, family="walk", earlier=None, allowed=frozenset(CATALOG_FACTS)):
    """A walk, lemma or hypothesis certificate (see the module docstring) -> info dict, or None.
    Lemmas are cited from `allowed` catalog facts (and `earlier` walks)."""
    structure = ch.choice(_STRUCTURE_NAMES)
    listed = distractors(ch, structure, knobs, allowed)
    least, most = knobs.steps
    if budget > MAX_BYTES:
        least = max(least, knobs.long_steps)
    consts = []
    n_ops = ch.choice(range(knobs.ops[0], knobs.ops[1] + 1))
    t0 = random_term(ch, structure, consts, n_ops)
    rules = list(_AXIOM_RULES[structure])
    first, hyps = None, []
    if family == "lemma":
        pool = [_fact_rule(f) for f in catalog_lemmas(structure) if f in allowed]
        pool += [r for s, rs in (earlier or {}).items() if axioms_subset(STRUCTURES[s], STRUCTURES[structure])
                 for r in rs[-20:]]
        if not pool:
            return None
        lemma = ch.choice(pool)
        rd = ch.choice(rule_dirs(lemma))
        p = ch.choice([p for p, _ in positions(t0)])
        inst = {v: random_term(ch, structure, consts, ch.weighted((0, 1), (3, 1))) for v in variables(rd.src)}
        t0 = replace(t0, p, substitute(rd.src, inst))
        first = (rd, p, inst)
        rules.append(lemma)
    max_size = max(size(t0), 2 * n_ops + 1) + knobs.growth
    rdirs = [rd for r in rules for rd in rule_dirs(r)]
    est = 40 + 4 * _nbytes(t0) + sum(len(r.text) + len(r.name) + 8 for r in listed)
    aim = (least, most, knobs.steps_decay)
    if family == "hypothesis":
        n_hyps = ch.choice(range(knobs.hyps[0], knobs.hyps[1] + 1))
        seg = (-(-least // n_hyps), -(-most // n_hyps), knobs.steps_decay)
        terms, steps = [t0], []
        for _ in range(n_hyps):
            t = terms[-1]
            p, sub = ch.choice(positions(t))
            v = random_term(ch, structure, consts, ch.weighted((0, 1, 2), (2, 2, 1)))
            if v == sub:
                return None
            backward = ch.choice((False, True))
            hyp = (v, sub) if backward else (sub, v)
            hyps.append(hyp)
            rd = rule_dirs(make_rule(f"h{len(hyps)}", hyp[0], hyp[1], "hyp"))[-1 if backward else 0]
            est += 2 * (_nbytes(v) + _nbytes(sub)) + 16
            more_terms, more_steps, est = walk(ch, structure, consts, t, rdirs, seg, max_size + size(v), budget, est,
                                               first=(rd, p, {}))
            terms += more_terms[1:]
            steps += more_steps
    else:
        terms, steps, est = walk(ch, structure, consts, t0, rdirs, aim, max_size, budget, est, first=first)
    while steps:  # the estimate was short: drop the last steps (their bits stay logged) until it fits
        proof = walk_proof(ch, terms, steps)
        used = []
        for rd, _, _ in steps:
            if rd.rule not in used:
                used.append(rd.rule)
        hyps = hyps[: sum(r.kind == "hyp" for r in used)]
        premises = _premise_lines([r for r in used if r.kind != "hyp"] + [r for r in listed if r not in used], structure, hyps)
        concl = (terms[0], terms[-1])
        text = render(_THEOREM_NAME[family], structure, hyps, concl, premises, proof)
        if len(text.encode("utf-8")) <= budget or (family == "lemma" and len(steps) == 1):
            return _info(text, structure, proof, premises, concl, hyps, terms)
        steps.pop()
        terms.pop()
    return None


def gen_catalog(ch, knobs: Knobs, budget, allowed=frozenset(CATALOG_FACTS)):
    """An `allowed` catalog fact, its constants instantiated with random terms, named as the fact -> info, or None."""
    facts = [f for f in (_REGULAR_FACTS if budget <= MAX_BYTES else CATALOG_FACTS)
             if _REWRITES[f] >= knobs.steps[0] and f in allowed]
    if not facts:
        return None
    fact = ch.choice(facts)
    base = []
    for h in fact.hypotheses + [fact.conclusion]:
        for side in parse_equation(h):
            names(side, base)
    big = _BASE_BYTES[fact] >= 380
    ops, weights = ((0, 1), (3, 1)) if big else ((0, 1, 2), (5, 4, 1))  # big proofs: small terms
    consts, mapping = [], {}
    for c in base:
        mapping[c] = random_term(ch, fact.structure, consts, ch.weighted(ops, weights))
    if len(set(mapping.values())) < len(mapping):
        return None  # two constants made equal: often trivial (mul_left_cancel with b = c)
    listed = distractors(ch, fact.structure, knobs, allowed, fact)
    hyps, concl, rules, steps = prove_fact(fact)
    sub = lambda t: substitute(t, mapping)  # noqa: E731
    terms = [sub(t) for _, g in steps for t in g]
    hyps = [(sub(l), sub(r)) for l, r in hyps]
    text = catalog_certificate(fact, fact.name, mapping, listed)
    premises = _premise_lines(list(rules) + [r for r in listed if r not in rules], fact.structure, hyps)
    return _info(text, fact.structure, steps, premises, (sub(concl[0]), sub(concl[1])), hyps, terms)


_BASE_BYTES = {f: len(catalog_certificate(f).encode()) for f in CATALOG_FACTS}
_REGULAR_FACTS = [f for f in CATALOG_FACTS if _BASE_BYTES[f] <= MAX_BYTES]  # 53 of 63 fit in 511 bytes
_REWRITES = {f: sum(step != "symm" for step in f.script) for f in CATALOG_FACTS}


# ----------------------------------------------------------------------------- the corpus

def rejection(info, budget, seen, knobs: Knobs = Knobs(), withheld=()) -> str | None:
    """Why a drawn certificate is thrown away, or None: 'too_long', 'short' (fewer than
    knobs.min_rewrites rewrites), 'trivial' (t = t), 'hypothesis' (the conclusion is one of the
    hypotheses up to renaming and swapped sides), 'duplicate' (its statement class is in `seen`),
    'withheld' (an instance of one of the `withheld` facts)."""
    if len(info["text"].encode("utf-8")) > budget:
        return "too_long"
    if info["rewrites"] < knobs.min_rewrites:
        return "short"
    concl, hyps = info["concl"], info["hyp_eqs"]
    if concl[0] == concl[1]:
        return "trivial"
    if hyps and statement_class(None, [], concl) in {statement_class(None, [], h) for h in hyps}:
        return "hypothesis"
    if statement_class(info["structure"], hyps, concl) in seen:
        return "duplicate"
    if any(is_instance(f, info["structure"], hyps, concl) for f in withheld):
        return "withheld"
    return None


def generate_corpus(seed=0, n_chars=PLAN_CHARS, progress=False, knobs: Knobs = Knobs(), stats: dict | None = None,
                    facts: str = "kept", exclude=frozenset(), n_certs: int | None = None):
    """-> (text, meta): certificates separated by one blank line, ending with '\\n', until the text
    has at least n_chars characters (or holds n_certs certificates); meta holds one record per certificate. At most one certificate
    per statement class (algebra.statement_class), and none of a class in `exclude` (another
    set's); draws are repeated until the size is reached, and a UserError is raised when
    MAX_FAILED_DRAWS draws in a row bring nothing new. `facts`: 'kept' uses every catalog fact but
    WITHHELD_FACTS and proves no instance of those, 'withheld' proves and cites only them. `stats`, if
    given, is filled with draw counts: {'draws', 'accepted', 'rejected': {why: n}, 'rejected_bits'}."""
    ch = Chooser(seed)
    parts, meta, n = [], [], 0
    allowed = allowed_facts(facts)
    withheld = [f for f in CATALOG_FACTS if f not in allowed] if facts == "kept" else []
    seen = set(exclude)  # statement classes emitted so far, or not to be emitted
    earlier = {}  # structure -> [Rule] of emitted walks (citable lemmas, all named `walk`)
    counts = {"draws": 0, "accepted": 0, "rejected": {}, "rejected_bits": 0.0}
    failed = 0
    bar = tqdm(total=n_chars, desc="generate", unit="char", unit_scale=True, disable=not progress, mininterval=0.5)
    while n < n_chars and (n_certs is None or len(parts) < n_certs):
        ch.log2p = []
        counts["draws"] += 1
        budget = LONG_MAX_BYTES if ch.coin(knobs.long_frac) else MAX_BYTES
        family = ch.weighted(FAMILIES, _FAMILY_WEIGHTS[facts])
        info = (gen_catalog(ch, knobs, budget, allowed) if family == "catalog"
                else gen_walk(ch, knobs, budget, family, earlier, allowed))
        why = "no_walk" if info is None else rejection(info, budget, seen, knobs, withheld)
        if why is not None:
            counts["rejected"][why] = counts["rejected"].get(why, 0) + 1
            counts["rejected_bits"] -= sum(ch.log2p)
            failed += 1
            if failed >= MAX_FAILED_DRAWS:
                raise UserError(f"generator: {MAX_FAILED_DRAWS} draws in a row brought no new theorem after {len(parts)} "
                                f"({n:,} of {n_chars:,} chars); these knobs cannot produce that many distinct theorems")
            continue
        failed = 0
        text, concl, hyps = info["text"], info["concl"], info["hyp_eqs"]
        seen.add(statement_class(info["structure"], hyps, concl))
        parts.append(text)
        meta.append({"name": text[3:text.index(" : ")], "structure": info["structure"], "family": family,
                     "steps": info["steps"], "rewrites": info["rewrites"], "premises": info["premises"],
                     "distractors": info["distractors"],
                     "hyps": len(hyps), "n_bytes": len(text.encode("utf-8")), "term_size": info["term_size"],
                     "concl_size": info["concl_size"], "log2p": ch.log2p})
        if family == "walk":  # only walks are cited: citation groups stay stars
            earlier.setdefault(info["structure"], []).append(make_rule("walk", *_pattern_rename(*concl), "lemma"))
        n += len(text) + 2
        bar.update(len(text) + 2)
    bar.close()
    counts["accepted"] = len(parts)
    if stats is not None:
        stats.update(counts)
    return "\n\n".join(parts) + "\n", meta


def entropy_bound_bpb(meta, n_bytes) -> float:
    """-Σ log2p / n_bytes over the kept certificates: the code length, in bits per byte, of the one
    choice path that produced each of them. An upper bound on the generating process's entropy per
    byte (a model that knew the generator could do at least this well), not a floor: it overcounts
    rejected draws' normalisation, pick_until's retries and choices the text does not show (module
    docstring). ([{'log2p': [-1.0, -3.0]}], 8) -> 0.5"""
    return -sum(sum(m["log2p"]) for m in meta) / max(1, n_bytes)


def write_corpus(path=paths.CORPUS, seed=0, n_chars=PLAN_CHARS, progress=True, knobs: Knobs = Knobs()) -> dict:
    """Generate and write training.txt, training.meta.jsonl, training.manifest.json (atomically).

    The manifest goes first, naming the new file's sha256 and the one it replaces
    ("replaces_sha256"), and again without it once the corpus is in place: a crash anywhere
    leaves a corpus its manifest still calls ours (certificate.corpus_owner), never one that
    looks like the user's.
    """
    path = Path(path)
    text, meta = generate_corpus(seed, n_chars, progress, knobs)
    data = text.encode("utf-8")
    manifest = {"generator": "proofgpt", "version": GENERATOR_VERSION, "seed": seed, "chars": n_chars, "sha256": sha256_bytes(data),
                "n_certificates": len(meta), "entropy_bound_bpb": entropy_bound_bpb(meta, len(data)), "knobs": asdict(knobs)}
    old_sha = sha256_file(path) if corpus_owner(path) == "ours" else None
    atomic_write_json(paths.manifest_path(path), {**manifest, "replaces_sha256": old_sha})
    atomic_write_text(paths.meta_path(path), jsonl_text(meta))
    atomic_write_text(path, text)
    atomic_write_json(paths.manifest_path(path), manifest)
    return manifest


def is_ours(path) -> bool:
    """True if `path` is absent or was written by this generator (its sha256 equals the manifest's)."""
    return corpus_owner(path) != "user"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt data generate", description="Write the seeded synthetic corpus.")
    ap.add_argument("--seed", type=int, default=0, help="random seed (same seed and chars -> same bytes)")
    ap.add_argument("--chars", type=int, default=PLAN_CHARS, help="stop after this many characters (default: %(default)s)")
    ap.add_argument("--out", default=str(paths.CORPUS), help="output corpus path (default data/training.txt)")
    ap.add_argument("--force", action="store_true", help="overwrite a file that this generator did not write")
    args = ap.parse_args(argv)
    if not 0 < args.chars <= MAX_CHARS:
        raise UserError(f"--chars must be positive and at most {MAX_CHARS:.0e}, got {args.chars}")
    check_seed(args.seed, "--seed")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"{out}: is a directory, expected a file path for the corpus")
    if not args.force and not is_ours(out):
        raise UserError(f"{out}: exists and was not written by this generator (no matching manifest); "
                        "use --force to overwrite it")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UserError(f"{out}: cannot write there ({blocker} is a file, not a directory)")
    try:  # fail before minutes of generating, and name the path the user gave
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as e:
        raise UserError(f"{out}: cannot write there ({e.strerror.lower() if e.strerror else e})") from None
    t0 = time.perf_counter()
    manifest = write_corpus(out, args.seed, args.chars, progress=sys.stderr.isatty())
    elapsed_s = time.perf_counter() - t0
    print(f"wrote {out}: {manifest['n_certificates']} certificates, {manifest['chars']:,} chars requested, "
          f"{elapsed_s:.1f} s ({args.chars / max(elapsed_s, 1e-9):,.0f} chars/s)")
    print(f"entropy bound: {manifest['entropy_bound_bpb']:.3f} bits/byte")
    return 0
