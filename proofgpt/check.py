"""The certificate checker: structurally valid, verified, or steps verified (`--trust-premises`).

Implements "What the checker decides" of the certificate format (README.md, "Certificate format"):

- structurally valid: every line parses, markers in order (`@T`, `@C S : structure`,
  `@C a b : S`*, `@P`*, `@G`, then tactic/`@G` pairs), the last two lines are `rfl`, `qed`;
- verified: also every premise is an axiom of the structure, a lemma (an earlier verified
  certificate of the same file whose structure's axioms are among ours, or a catalog fact), or
  hypothesis `hi` of `@T`, up to renaming pattern variables and swapping sides; every name in
  `@T`, `@G` and `rw` instances is a declared constant; every term uses only the structure's
  operators; the first `@G` is the conclusion of `@T` exactly; every `@G` follows from the one
  before by its tactic (one rewrite at one position, any instance); `rfl` closes `x = x`;
- steps verified (trust_premises=True): the same, but `@P` lines are taken as given, except
  that `hi` must still be hypothesis i of `@T` (by number, with that statement). An unknown
  structure name is then allowed too (its operators are not checked).

A rejection carries the (absolute) line number and a short reason; no input raises.

Speed: a rewrite step is located by walking old and new goal trees down the chain of nodes
where exactly one child differs, then matching the premise only on that chain (deepest first),
instead of at every subterm; parsed premises are cached across certificates (they repeat:
`mul_assoc` occurs in many of them). `make bench` measures the checker's chars/s.

    >>> v = check_certificate("@T t : a = a\\n@C G : group\\n@C a : G\\n@G a = a\\nrfl\\nqed")
    >>> (v.structural, v.verified, v.steps)
    (True, True, 1)
"""

import argparse
import re
import sys
import time
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from proofgpt.algebra import CATALOG_FACTS, STRUCTURES, axioms_subset, canonical_statement, fact_statement
from proofgpt.certificate import name_of, read_corpus, theorem_lemma
from proofgpt.terms import (BINARY, OPERATORS, POSTFIX, SYMBOLS, NAME_RE, ParseError, canonical, is_name, parse_args,
                            parse_equation_tokens, rewrites_to, to_pattern, tokenize, variables)

THEOREM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.']*\Z")
TYPE_NAME_RE = THEOREM_NAME_RE
HYP_RE = re.compile(r"h([1-9][0-9]*)\Z")
_SYNTAX = frozenset(("(", ")", "="))


@dataclass
class Verdict:
    structural: bool
    verified: bool  # with trust_premises: steps verified
    line: int | None  # absolute line of the first failure (None when verified)
    reason: str | None
    name: str | None  # the theorem's name, when the @T line could be read
    steps: int  # tactic lines, rfl included
    structure: str | None = None
    kind: str | None = None  # reason class counted by check_corpus: syntax, order, premise, step, ...
    premises_ok: bool = False  # every @P valid (also computed with trust_premises, for the report)


@dataclass
class CorpusReport:
    verdicts: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    @property
    def verified_frac(self) -> float:
        return self.counts["verified"] / max(1, self.counts["total"])

    @property
    def structural_frac(self) -> float:
        return self.counts["structural"] / max(1, self.counts["total"])


class _Reject(Exception):
    def __init__(self, index, kind, reason, structural=True):
        self.index, self.kind, self.reason, self.structural = index, kind, reason, structural


# ----------------------------------------------------------------------------- caches

_CATALOG_INDEX = {}  # name -> [(structure, (canon, canon_swapped))]
for _fact in CATALOG_FACTS:
    if not _fact.hypotheses:
        _CATALOG_INDEX.setdefault(_fact.name, []).append((_fact.structure, canonical_statement(*fact_statement(_fact))))
_AXIOM_CANON = {s.name: {a: canonical(*st) for a, st in s.axioms.items()} for s in STRUCTURES.values()}
_PREMISE_CACHE = {}  # (statement text, constants it names) -> (lhs, rhs, vars in order, canonical)


def _premise(text, toks, constants):
    named = tuple(sorted({t for t in toks if is_name(t) and t in constants}))
    key = (text, named)
    hit = _PREMISE_CACHE.get(key)
    if hit is None:
        lhs, rhs = parse_equation_tokens(text, toks)
        lhs, rhs = to_pattern(lhs, constants), to_pattern(rhs, constants)
        hit = (lhs, rhs, variables(rhs, variables(lhs)), canonical(lhs, rhs))
        if len(_PREMISE_CACHE) > 100_000:
            _PREMISE_CACHE.clear()
        _PREMISE_CACHE[key] = hit
    return hit


# ----------------------------------------------------------------------------- pass 1: structure

def _equation(text, index, what):
    """Parse `text` as an equation -> (lhs, rhs, tokens), or reject with the column."""
    toks = tokenize(text)
    try:
        lhs, rhs = parse_equation_tokens(text, toks)
    except ParseError as e:
        raise _Reject(index, "syntax", f"{what}: {e}", structural=False) from None
    return lhs, rhs, toks


def _split_named(body, index, marker):
    name, sep, stmt = body.partition(" : ")
    if not sep:
        raise _Reject(index, "syntax", f"expected '{marker} name : statement'", structural=False)
    name = name.strip()
    if not THEOREM_NAME_RE.match(name):
        raise _Reject(index, "syntax", f"bad name {name!r} (expected [A-Za-z_][A-Za-z0-9_.']*)", structural=False)
    return name, stmt.strip()


def _tactic(text, index):
    """'rw [← p a (b * c)]' -> ('rw', 'p', True, [a, b * c]); 'symm' / 'rfl' -> (text, None, False, [])."""
    if text in ("symm", "rfl"):
        return text, None, False, []
    if not (text.startswith("rw [") and text.endswith("]")):
        if text.startswith("@") or text == "qed":
            raise _Reject(index, "order", f"expected a tactic (rw, symm, rfl), got {text.split()[0]!r}", False)
        raise _Reject(index, "syntax", f"unknown tactic {text[:30]!r} (expected rw [p], symm or rfl)", False)
    inner = text[4:-1].strip()
    if "," in inner:
        raise _Reject(index, "syntax", "one rewrite per step: 'rw [p, q]' must be two steps", False)
    backward = inner.startswith("←")
    if backward:
        inner = inner[1:].lstrip()
    name, _, rest = inner.partition(" ")
    if not THEOREM_NAME_RE.match(name):
        raise _Reject(index, "syntax", f"bad premise name {name!r} in rw", False)
    try:
        args = parse_args(rest) if rest.strip() else []
    except ParseError as e:
        raise _Reject(index, "syntax", f"rw instance: {e}", False) from None
    return "rw", name, backward, args


def parse_tactic(text: str) -> tuple:
    """A tactic line -> ('rw', premise, backward, instances) | ('symm', None, False, []) |
    ('rfl', None, False, []); ValueError with the checker's reason when it does not read."""
    try:
        return _tactic(text.strip(), 0)
    except _Reject as r:
        raise ValueError(r.reason) from None


def _read_header(lines):
    """Pass 1 up to the first `@G` (not parsed): -> (k, name, eqs, structure, type_name, constants,
    premises) where lines[k] is that `@G` line."""
    n = len(lines)
    if n == 0:
        raise _Reject(0, "order", "empty certificate", False)
    k = 0

    def at(marker):
        return k < n and lines[k][1].startswith(marker)

    # @T
    i, text = lines[0]
    if not text.startswith("@T "):
        raise _Reject(i, "order", "a certificate starts with '@T name : statement'", False)
    name, stmt = _split_named(text[3:], i, "@T")
    parts = stmt.split("→")
    eqs = [_equation(p.strip(), i, "@T") for p in parts]
    k = 1
    # @C S : structure
    if not at("@C "):
        raise _Reject(lines[min(k, n - 1)][0], "order", "expected '@C S : structure' after @T", False)
    i, text = lines[k]
    lhs, sep, rhs = text[3:].partition(":")
    type_names, structure = lhs.split(), rhs.strip()
    if not sep or len(type_names) != 1 or not TYPE_NAME_RE.match(type_names[0]) or not re.fullmatch(r"[a-z_]+", structure):
        raise _Reject(i, "syntax", "expected '@C S : structure' (e.g. '@C G : group')", False)
    type_name = type_names[0]
    k += 1
    constants = []
    while at("@C "):
        i, text = lines[k]
        lhs, sep, rhs = text[3:].partition(":")
        if not sep or rhs.strip() != type_name or not lhs.split():
            raise _Reject(i, "syntax", f"expected '@C a b ... : {type_name}'", False)
        for c in lhs.split():
            if not NAME_RE.match(c):
                raise _Reject(i, "syntax", f"bad constant name {c!r} (expected [a-z][a-z0-9_]*)", False)
            constants.append(c)
        k += 1
    premises = []
    while at("@P "):
        i, text = lines[k]
        pname, pstmt = _split_named(text[3:], i, "@P")
        toks = tokenize(pstmt)
        try:
            parse_equation_tokens(pstmt, toks)
        except ParseError as e:
            raise _Reject(i, "syntax", f"@P {pname}: {e}", False) from None
        premises.append((i, pname, pstmt, toks))
        k += 1
    if not at("@G "):
        got = lines[k][1].split()[0] if k < n else "the end"
        raise _Reject(lines[min(k, n - 1)][0], "order", f"expected the first '@G' after @T/@C/@P lines, got {got!r}", False)
    return k, name, eqs, structure, type_name, constants, premises


def _read(lines):
    """Pass 1 over [(index, text)]: parse every line and check the order of markers."""
    k, name, eqs, structure, type_name, constants, premises = _read_header(lines)
    n = len(lines)
    goals, tactics = [], []
    while True:
        i, text = lines[k]
        goals.append((i,) + _equation(text[3:], i, "@G"))
        k += 1
        if k >= n:
            raise _Reject(i, "closing", "certificate ends after a goal (expected a tactic, then rfl and qed)", False)
        i, text = lines[k]
        tactic = _tactic(text, i)
        tactics.append((i,) + tactic)
        k += 1
        if tactic[0] == "rfl":
            if k >= n or lines[k][1] != "qed":
                raise _Reject(lines[min(k, n - 1)][0], "closing", "expected 'qed' after rfl", False)
            if k + 1 < n:
                raise _Reject(lines[k + 1][0], "order", "text after qed", False)
            break
        if k >= n:
            raise _Reject(i, "closing", "certificate ends after a tactic (expected '@G', and rfl, qed at the end)", False)
        if not lines[k][1].startswith("@G "):
            got = lines[k][1].split()[0]
            raise _Reject(lines[k][0], "order", f"expected '@G' after a tactic, got {got!r}", False)
    return lines[0][0], lines[1][0], name, eqs, structure, type_name, constants, premises, goals, tactics


# ----------------------------------------------------------------------------- pass 2: semantics

def _check_tokens(toks, allowed, index, what, names_ok):
    """Reject an operator the structure lacks, or (names_ok=False) an undeclared name."""
    extra = set(toks) - allowed
    for tok in sorted(extra):
        if is_name(tok):
            if not names_ok:
                raise _Reject(index, "name", f"{what}: '{tok}' is not a declared constant (add it to '@C ... ')")
        elif tok in BINARY or tok in POSTFIX or tok in SYMBOLS or tok == "-":
            raise _Reject(index, "operator", f"{what}: operator '{tok}' is not in this structure")


def _premise_error(pname, lhs, rhs, canon, structure, hyps, lemmas):
    """None if premise `pname : lhs = rhs` may be cited, else a short reason."""
    m = HYP_RE.match(pname)
    if m:
        j = int(m.group(1))
        if j > len(hyps):
            return f"premise {pname}: @T has {len(hyps)} hypothes{'is' if len(hyps) == 1 else 'es'}"
        h = hyps[j - 1]
        if (lhs, rhs) != h and (rhs, lhs) != h:
            return f"premise {pname}: statement differs from hypothesis {j} of @T"
        return None
    if structure is None:
        return f"premise {pname}: unknown structure, cannot check it"
    ax = _AXIOM_CANON[structure.name].get(pname)
    if ax is not None:
        if canon == ax or canonical(rhs, lhs) == ax:
            return None
        return f"premise {pname}: statement differs from the axiom {pname} of {structure.name}"
    candidates = [(s, c) for s, c in (lemmas or {}).get(pname, ())] + _CATALOG_INDEX.get(pname, [])
    if not candidates:
        return f"unknown premise {pname}: not an axiom of {structure.name}, a hypothesis or a lemma"
    usable = [c for s, c in candidates if s in STRUCTURES and axioms_subset(STRUCTURES[s], structure)]
    if not usable:
        return f"premise {pname}: lemma from a structure whose axioms are not among {structure.name}'s"
    if any(canon == c[0] or canon == c[1] for c in usable):  # either side first
        return None
    return f"premise {pname}: statement differs from the lemma {pname}"


def _verify(parsed, trust, lemmas):
    """Pass 2. Returns (structure name, premises_ok); raises _Reject(structural=True) on failure."""
    t_index, c_index, name, eqs, sname, type_name, constants, premises, goals, tactics = parsed
    structure = STRUCTURES.get(sname)
    if structure is None and not trust:
        raise _Reject(c_index, "structure", f"unknown structure {sname!r} (known: {', '.join(STRUCTURES)})")
    consts = frozenset(constants)
    if structure is not None:
        allowed = structure.operators | _SYNTAX | consts
    else:  # trust mode, unknown structure: any operator
        allowed = SYMBOLS | frozenset(BINARY) | POSTFIX | {"-"} | _SYNTAX | consts
    # @T: names declared, operators allowed
    for lhs, rhs, toks in eqs:
        _check_tokens(toks, allowed, t_index, "@T", names_ok=False)
    hyps = [(l, r) for l, r, _ in eqs[:-1]]
    concl = eqs[-1][:2]
    # @P
    table, premise_err = {}, None
    for i, pname, pstmt, toks in premises:
        if pname in table:
            raise _Reject(i, "premise", f"premise {pname} declared twice")
        _check_tokens(toks, allowed, i, f"@P {pname}", names_ok=True)
        lhs, rhs, order, canon = _premise(pstmt, toks, consts)
        table[pname] = (lhs, rhs, order)
        err = _premise_error(pname, lhs, rhs, canon, structure, hyps, lemmas)
        if err is not None:
            if not trust or HYP_RE.match(pname):  # hypotheses are compared in both modes
                raise _Reject(i, "premise", err)
            premise_err = premise_err or err  # trust mode: remembered for premises_ok only
    # goals and steps
    for gi, (i, lhs, rhs, toks) in enumerate(goals):
        _check_tokens(toks, allowed, i, "@G", names_ok=False)
        if gi == 0 and (lhs, rhs) != concl:
            raise _Reject(i, "conclusion", "the first @G is not the conclusion of @T")
    for si, (i, tac, pname, backward, args) in enumerate(tactics):
        _, l0, r0, _ = goals[si]
        l1, r1 = (None, None) if tac == "rfl" else goals[si + 1][1:3]
        err = _step_error(table, consts, (l0, r0), (tac, pname, backward, args), (l1, r1))
        if err is not None:
            raise _Reject(i, *err)
    return premise_err is None


def _step_error(table, consts, goal, tactic, new_goal):
    """None if `tactic` (parsed by _tactic) turns goal (lhs, rhs) into new_goal, else (kind, reason).
    table: {premise name: (lhs, rhs, pattern variables in order)}, consts: the declared constants."""
    (l0, r0), (tac, pname, backward, args), (l1, r1) = goal, tactic, new_goal
    if tac == "rfl":
        return None if l0 == r0 else ("step", "rfl: the two sides of the goal differ")
    if tac == "symm":
        return None if (l1, r1) == (r0, l0) else ("step", "symm: the next goal is not the goal with its sides swapped")
    p = table.get(pname)
    if p is None:
        return "step", f"rw [{pname}]: no premise {pname} (declare it with @P)"
    plhs, prhs, order = p
    if len(args) > len(order):
        return "step", f"rw [{pname}]: {len(args)} instances for {len(order)} pattern variables"
    binding = {}
    for v, a in zip(order, args):
        bad = sorted({t.name for t in _atoms(a)} - consts)
        if bad:
            return "name", f"rw [{pname}]: instance '{bad[0]}' is not a declared constant"
        binding[v] = a
    src, dst = (prhs, plhs) if backward else (plhs, prhs)
    if l0 == l1:
        ok = rewrites_to(r0, r1, src, dst, binding) if r0 != r1 else (
            rewrites_to(l0, l1, src, dst, binding) or rewrites_to(r0, r1, src, dst, binding))
    elif r0 == r1:
        ok = rewrites_to(l0, l1, src, dst, binding)
    else:
        return "step", f"rw [{pname}]: both sides of the goal changed (one rewrite per step)"
    return None if ok else ("step", f"rw [{'← ' if backward else ''}{pname}]: no single rewrite gives the next goal")


def _atoms(t):
    if hasattr(t, "args"):
        for a in t.args:
            yield from _atoms(a)
    elif is_name(t.name):
        yield t


def check_certificate(text, *, trust_premises=False, lemmas=None, first_line=1) -> Verdict:
    """Check one certificate. `lemmas`: {name: [(structure, canonical statements)]} of earlier
    verified certificates (check_corpus fills it); `first_line`: the block's line in its file."""
    name, sname, steps = None, None, 0
    try:
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as e:
                return Verdict(False, False, first_line + bytes(text).count(b"\n", 0, e.start),
                               f"invalid UTF-8 at byte offset {e.start}", None, 0, kind="syntax")
        lines = [(i, s.strip()) for i, s in enumerate(text.split("\n")) if s.strip()]
        name = name_of(lines[0][1]) if lines else None
        try:
            parsed = _read(lines)
            sname, steps = parsed[4], len(parsed[9])
            premises_ok = _verify(parsed, trust_premises, lemmas)
        except _Reject as r:
            return Verdict(r.structural, False, first_line + r.index, r.reason, name, steps, sname, r.kind)
        return Verdict(True, True, None, None, name, steps, sname, None, premises_ok)
    except RecursionError:
        return Verdict(False, False, first_line, "term nested too deeply", name, steps, sname, "syntax")
    except Exception as e:  # the contract is a verdict for every input; tests assert this never happens
        return Verdict(False, False, first_line, f"internal checker error: {type(e).__name__}: {e}", name, steps,
                       sname, "internal")


@dataclass(frozen=True)
class Prompt:
    """A certificate's prompt: its lines up to and including the first `@G`, parsed."""

    lines: tuple  # the prompt's non-blank lines, stripped, as written
    name: str
    structure: str
    constants: tuple
    premises: tuple  # (name, lhs, rhs, pattern variables in order), premise terms as patterns
    goal: tuple  # (lhs, rhs) of the first @G


def read_prompt(text: str) -> Prompt:
    """Parse the prompt of a certificate (or a prompt alone); the lines after the first `@G` are
    ignored. Raises ValueError('line 3: reason') when the prompt does not read. Nothing is
    verified: premises are not compared with the axioms, nor the goal with `@T`.

        >>> read_prompt("@T t : a = a\\n@C G : group\\n@C a : G\\n@G a = a").goal
        (Atom(name='a'), Atom(name='a'))
    """
    lines = [(i, s.strip()) for i, s in enumerate(text.split("\n")) if s.strip()]
    try:
        k, name, _, structure, _, constants, premises = _read_header(lines)
        i, goal = lines[k]
        lhs, rhs, _ = _equation(goal[3:], i, "@G")
    except _Reject as r:
        raise ValueError(f"line {r.index + 1}: {r.reason}") from None
    consts = frozenset(constants)
    table = tuple((pname,) + _premise(pstmt, toks, consts)[:3] for _, pname, pstmt, toks in premises)
    return Prompt(tuple(s for _, s in lines[:k + 1]), name, structure, tuple(constants), table, (lhs, rhs))


def check_step(prompt: Prompt, goal: str, tactic: str, new_goal: str | None = None) -> str | None:
    """Is one step of a proof of `prompt` valid? None if `tactic` turns `goal` into `new_goal`
    (goal texts without '@G '; no new goal after 'rfl'), else the reason, as the checker would
    give it: the tactic and the new goal must parse, the new goal may use only the declared
    constants and the structure's operators, and the step is checked by the checker's own rule.

        >>> p = read_prompt("@T t : a * 1 = a\\n@C G : monoid\\n@C a : G\\n@P mul_one : x * 1 = x\\n@G a * 1 = a")
        >>> check_step(p, "a * 1 = a", "rw [mul_one]", "a = a"), check_step(p, "a * 1 = a", "symm", "a = a * 1")
        (None, None)
        >>> check_step(p, "a * 1 = a", "rw [← mul_one]", "a = a")
        'rw [← mul_one]: no single rewrite gives the next goal'
    """
    structure = STRUCTURES.get(prompt.structure)
    consts = frozenset(prompt.constants)
    allowed = (structure.operators if structure else OPERATORS) | _SYNTAX | consts
    try:
        parsed = _tactic(tactic.strip(), 0)
        old = _equation(goal, 0, "@G")[:2]
        new = (None, None)
        if parsed[0] != "rfl":
            if new_goal is None:
                return f"{parsed[0]}: no next goal"
            lhs, rhs, toks = _equation(new_goal, 0, "@G")
            _check_tokens(toks, allowed, 0, "@G", names_ok=False)
            new = (lhs, rhs)
    except _Reject as r:
        return r.reason
    table = {name: (lhs, rhs, order) for name, lhs, rhs, order in prompt.premises}
    err = _step_error(table, consts, old, parsed, new)
    return None if err is None else err[1]


def verdict_text(v) -> str:
    """A Verdict (or evaluate's sample record dict) as one line:
    'verified' | 'structural (not verified at line 7: ...)' | 'rejected at line 7: reason'."""
    get = v.get if isinstance(v, dict) else lambda key: getattr(v, key)
    if get("verified"):
        return "verified"
    if get("structural"):
        return f"structural (not verified at line {get('line')}: {get('reason')})"
    return f"rejected at line {get('line')}: {get('reason')}"


def check_corpus(blocks, *, trust_premises=False, progress=False) -> CorpusReport:
    """Check blocks (data.Block, or plain strings) in order; a verified theorem without hypotheses
    becomes a lemma later certificates may cite. Counts every outcome."""
    lemmas, verdicts = {}, []
    counts = {"total": 0, "structural": 0, "verified": 0, "rejected": 0, "premises_ok": 0, "by_reason": {}}
    for b in tqdm(blocks, desc="check", unit="cert", disable=not progress, mininterval=0.5):
        text, line = (b, 1) if isinstance(b, str) else (b.text, b.line)
        v = check_certificate(text, trust_premises=trust_premises, lemmas=lemmas, first_line=line)
        verdicts.append(v)
        counts["total"] += 1
        counts["structural"] += v.structural
        counts["verified"] += v.verified
        counts["premises_ok"] += v.verified and v.premises_ok
        if not v.verified:
            counts["rejected"] += 1
            counts["by_reason"][v.kind] = counts["by_reason"].get(v.kind, 0) + 1
        elif "→" not in text.partition("\n")[0]:
            lem = theorem_lemma(text)
            if lem:
                lemmas.setdefault(lem[0], []).append((lem[1], lem[2]))
    return CorpusReport(verdicts, counts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt check", description="Check proof certificates: "
                                 "structurally valid, verified (or steps verified with --trust-premises).")
    ap.add_argument("file", help="a corpus of certificates separated by blank lines")
    ap.add_argument("--trust-premises", action="store_true",
                    help="take every @P as given (for data whose axioms the package does not know)")
    ap.add_argument("--errors", type=int, default=20, help="print at most N rejections (default 20; -1: all)")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    blocks = read_corpus(args.file)
    n_chars = sum(len(b.text) + 2 for b in blocks)
    report = check_corpus(blocks, trust_premises=args.trust_premises, progress=not args.quiet and sys.stderr.isatty())
    elapsed_s = time.perf_counter() - t0
    shown = 0
    for v in report.verdicts:
        if not v.verified and not args.quiet and (args.errors < 0 or shown < args.errors):
            print(f"{args.file}:{v.line}: {v.reason}")
            shown += 1
    c = report.counts
    pct = lambda k: 100.0 * c[k] / max(1, c["total"])  # noqa: E731
    what = "steps verified" if args.trust_premises else "verified"
    print(f"{args.file}: {c['total']} certificates: {c['structural']} structurally valid ({pct('structural'):.2f}%), "
          f"{c['verified']} {what} ({pct('verified'):.2f}%), {c['rejected']} rejected")
    if args.trust_premises:
        print(f"  with premises checked too: {c['premises_ok']} verified ({pct('premises_ok'):.2f}%)")
    for kind, n in sorted(c["by_reason"].items(), key=lambda kv: -kv[1]):
        print(f"  rejected ({kind}): {n}")
    print(f"  checked {n_chars:,} chars in {elapsed_s:.1f} s ({n_chars / max(elapsed_s, 1e-9):,.0f} chars/s)")
    if args.errors >= 0 and shown < c["rejected"] and not args.quiet:
        print(f"  ({c['rejected'] - shown} more rejections not shown; --errors -1 shows all)")
    return 0 if c["rejected"] == 0 else 1
