"""The merge-request workflow, around the pipeline: a base revision and the working tree
in; what a change reaches, what it does to the output, and hydrated branches out.

    revisions.py  a base revision read from git objects (never the checkout)
    affected.py   two catalogs -> changed entities -> the scope of instances they reach
    diff.py       two sets of rendered files -> object-by-object changes, as text/markdown/json
    publish.py    one environment's bytes -> a commit on a hydrated branch

It reads the catalog and render stages; nothing below imports it.
"""

from compiler.review import diff, publish, revisions
from compiler.review.affected import (
    Affected,
    Scope,
    folder_fingerprint,
    resolve_scope,
    scope_of,
    summarize,
)
from compiler.review.diff import Diff, Rendered, compare
from compiler.review.revisions import revision_tree

__all__ = [
    "Affected",
    "Diff",
    "Rendered",
    "Scope",
    "compare",
    "diff",
    "folder_fingerprint",
    "publish",
    "resolve_scope",
    "revision_tree",
    "revisions",
    "scope_of",
    "summarize",
]
