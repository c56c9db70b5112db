"""One exception type for problems with what the user gave us.

A `UserError` is printed by the CLI as one line (`proofgpt: error: <message>`) with exit
code 2, never as a traceback. Messages name the file (and line or byte offset) first:

    UserError("data/training.txt:12: expected '@G' after tactic, got 'qed'")
"""


class UserError(Exception):
    """Bad input, config or request; the message is one line and names what is wrong."""
