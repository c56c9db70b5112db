"""Certificates as text: reading a corpus file, and the parts of one certificate.

A corpus is UTF-8 text of certificates separated by blank lines (README.md, "Certificate
format"). `read_corpus` accepts any such file, the user's own included; CRLF line ends and a
leading BOM are normalised with a warning, everything else that is wrong is a one-line
`UserError` naming the file and the line or byte offset.

    >>> blocks = split_blocks("@T a : x = x\\n@G x = x\\nrfl\\nqed\\n\\n@T b : ...\\n")
    >>> [(b.line, b.text.splitlines()[0]) for b in blocks]
    [(1, '@T a : x = x'), (6, '@T b : ...')]

The header readers here (`name_of`, `statement_of`, `structure_of`, `prompt_of`,
`theorem_prompt_of`, `proof_of`, `strip_name`, `theorem_lemma`) are lenient: they read what a certificate says without judging it. Whether
it is a proof is the checker's business (check.py), which parses strictly.

Who wrote a corpus file is recorded beside it: the generator writes `<stem>.manifest.json`
with the file's sha256, so `corpus_owner` tells a generated corpus ("ours": proofgpt may
replace it) from a user's ("user": never written to).
"""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from proofgpt.algebra import canonical_statement, statement_class
from proofgpt.errors import UserError
from proofgpt.io import sha256_file
from proofgpt.paths import manifest_path, meta_path
from proofgpt.terms import parse_equation, parse_equation_tokens, to_pattern, tokenize

# ---------------------------------------------------------------------------------------------
# reading a corpus file


@dataclass(frozen=True)
class Block:
    """One certificate as it stands in the file: its text (no trailing newline) and first line number."""

    text: str
    line: int


# The longest line a corpus may hold. Certificate lines are short; a line of a megabyte is a
# file that is not a corpus (or a corrupted one), refused before the checker spends time on it.
MAX_LINE_BYTES = 1 << 20


def longest_line(raw: bytes) -> tuple[int, int]:
    """(length in bytes, 1-based line number) of the longest line: b"ab\\nabcd\\n" -> (4, 2)."""
    if len(raw) <= MAX_LINE_BYTES:  # cannot exceed the limit: skip the scan
        return 0, 1
    b = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero((b == 10) | (b == 13))  # CR alone ends a line too (normalised later)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(raw)]))
    i = int(np.argmax(ends - starts))
    return int(ends[i] - starts[i]), raw.count(b"\n", 0, int(starts[i])) + 1


def read_text(path) -> str:
    """Read a corpus file as normalised text ('\\n' line ends, no BOM), or raise a one-line UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a text file of certificates")
    raw = path.read_bytes()
    n_bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # offsets below count from the file's first byte
    longest, line = longest_line(raw)
    if longest > MAX_LINE_BYTES:  # refused before any per-line work
        raise UserError(f"{path}:{line}: a line of {longest:,} bytes (certificate lines are short; the limit is "
                        f"{MAX_LINE_BYTES:,}); is this a certificate corpus?")
    if n_bom:
        warnings.warn(f"{path}: removed a leading UTF-8 byte-order mark")
        raw = raw[n_bom:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}:{line}: invalid UTF-8 at byte offset {e.start + n_bom}") from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise UserError(f"{path}:{line}: NUL byte at byte offset {nul + n_bom}")
    if "\r" in text:
        warnings.warn(f"{path}: normalised CRLF/CR line ends to LF")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UserError(f"{path}: file is empty" if not text else f"{path}: file holds only whitespace")
    return text


def split_blocks(text: str) -> list[Block]:
    """Split text into blank-line separated blocks, remembering each block's first line (1-based)."""
    blocks, cur, start = [], [], 0
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not cur:
                start = i
            cur.append(line)
        elif cur:
            blocks.append(Block("\n".join(cur), start))
            cur = []
    if cur:
        blocks.append(Block("\n".join(cur), start))
    return blocks


def read_corpus(path) -> list[Block]:
    """All certificate blocks of a corpus file; a file without any '@T' line is refused."""
    blocks = split_blocks(read_text(path))
    if not any(b.text.startswith("@T") for b in blocks):
        raise UserError(f"{path}: no '@T' theorem markers found; is this a certificate corpus?")
    return blocks


def read_texts(path) -> list[str]:
    """The certificates of a corpus file as plain strings."""
    return [b.text for b in read_corpus(path)]


def read_meta(corpus_path) -> list[dict] | None:
    """The generator's sidecar for `corpus_path` (one JSON object per certificate), or None."""
    path = meta_path(corpus_path)
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_manifest(corpus) -> dict | None:
    """The generator's manifest beside `corpus` ({"generator", "version", "seed", "chars", "sha256", ...}), or None."""
    try:
        m = json.loads(manifest_path(corpus).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def corpus_owner(corpus) -> str:
    """'absent', 'ours' (sha256 equals the generator's manifest) or 'user' (anything else)."""
    corpus = Path(corpus)
    if not corpus.exists():
        return "absent"
    manifest = read_manifest(corpus)
    # "replaces_sha256": the file a write in progress (generate.write_corpus) is replacing
    if manifest and manifest.get("generator") == "proofgpt" and sha256_file(corpus) in (
            manifest.get("sha256"), manifest.get("replaces_sha256") or manifest.get("sha256")):
        return "ours"
    return "user"


# ---------------------------------------------------------------------------------------------
# the parts of one certificate


def text_of(cert) -> str:
    """A certificate given as text or as a Block -> its text."""
    return cert if isinstance(cert, str) else cert.text


def name_of(cert: str) -> str | None:
    """'@T left_cancel : ...' -> 'left_cancel'; None without an '@T name : ' first line."""
    first = cert.split("\n", 1)[0]
    if not first.startswith("@T ") or " : " not in first:
        return None
    return first[3:].split(" : ", 1)[0].strip() or None


def statement_of(cert: str) -> str:
    """The theorem statement: '@T foo : a * 1 = a\\n...' -> 'a * 1 = a'.

    A block without an '@T name : ' first line is its own statement (its whole text).
    """
    first = cert.split("\n", 1)[0]
    if first.startswith("@T") and " : " in first:
        return first.split(" : ", 1)[1].strip()
    return cert


def structure_of(cert: str) -> str:
    """The structure from the '@C S : structure' line: '...\\n@C G : group\\n...' -> 'group' ('?' if none)."""
    for line in cert.split("\n"):
        if line.startswith("@C ") and " : " in line:
            names, what = line[3:].split(" : ", 1)
            if len(names.split()) == 1 and not what.strip()[:1].isupper():
                return what.strip()
    return "?"


def statement_class_of(cert: str) -> tuple:
    """algebra.statement_class of a certificate's theorem and structure: equal for two certificates
    whose statements are the same up to renaming, swapped sides and hypothesis order.

    '@T t : a * 1 = a\n@C G : group\n...' -> ('group', 'v0 * 1 = v0'). ValueError when the '@T'
    line is missing or does not parse.
    """
    if name_of(cert) is None:
        raise ValueError("no '@T name : statement' line")
    eqs = [parse_equation(s) for s in statement_of(cert).split("→")]
    structure = structure_of(cert)
    return statement_class(None if structure == "?" else structure, eqs[:-1], eqs[-1])


def class_key(cert: str):
    """statement_class_of(cert), or its statement text when that does not parse (a user's own
    certificates): what the split groups by and what no two sides of a split may share."""
    try:
        return statement_class_of(cert)
    except ValueError:
        return statement_of(cert)


def prompt_of(cert: str) -> str:
    """A certificate up to and including its first @G line, plus "\\n": the theorem to prove.

    prompt_of("@T t : a = a\\n@C M : monoid\\n@C a : M\\n@G a = a\\nrfl\\nqed") ->
    "@T t : a = a\\n@C M : monoid\\n@C a : M\\n@G a = a\\n"
    """
    lines = cert.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("@G"):
            return "\n".join(lines[:i + 1]) + "\n"
    raise ValueError(f"certificate has no @G line: {cert[:60]!r}")


def theorem_prompt_of(cert: str) -> str:
    """A certificate's @T and @C lines plus "\\n": the theorem alone, for a prover that writes the
    premises, the first goal and the proof itself.

    theorem_prompt_of("@T t : a = a\\n@C M : monoid\\n@C a : M\\n@G a = a\\nrfl\\nqed") ->
    "@T t : a = a\\n@C M : monoid\\n@C a : M\\n"
    """
    lines = cert.split("\n")
    n = 1
    while n < len(lines) and lines[n].startswith("@C"):
        n += 1
    return "\n".join(lines[:n]) + "\n"


def proof_of(cert: str) -> str:
    """What follows the first @G line: "@T t : a = a\\n...\\n@G a = a\\nrfl\\nqed" -> "rfl\\nqed"."""
    return cert[len(prompt_of(cert)):]


def strip_name(cert: str) -> str:
    """The certificate with its theorem's name blanked, for comparing texts whatever they are called:
    "@T walk_123 : a = a\\n..." and "@T walk : a = a\\n..." -> "@T _ : a = a\\n..."."""
    first, sep, rest = cert.partition("\n")
    if first.startswith("@T ") and " : " in first:
        first = "@T _ : " + first.split(" : ", 1)[1]
    return first + sep + rest


def theorem_lemma(cert: str):
    """(name, structure, canonical statements) of a certificate's theorem, for citing it later;
    None when it has hypotheses or does not read. Its constants become pattern variables."""
    lines = [s.strip() for s in cert.split("\n") if s.strip()]
    try:
        name, stmt = lines[0][3:].split(" : ", 1)
        if "→" in stmt:
            return None
        structure = lines[1][3:].partition(":")[2].strip()
        lhs, rhs = parse_equation_tokens(stmt, tokenize(stmt))
    except (IndexError, ValueError):
        return None
    return name.strip(), structure, canonical_statement(to_pattern(lhs, ()), to_pattern(rhs, ()))


def lemma_table(certs) -> dict:
    """{name: [(structure, statement)]} of every hypothesis-free theorem in certs, for checking
    certificates that cite lemmas (check_certificate's `lemmas`). Assumes the certs verified."""
    table = {}
    for c in certs:
        lem = theorem_lemma(text_of(c))
        if lem:
            table.setdefault(lem[0], []).append((lem[1], lem[2]))
    return table
