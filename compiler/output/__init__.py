"""The output wing (the write stage): rendered `OutputFile`s in; deterministic bytes
and the output folder, replaced in one atomic step, out.

The catalog wing's emitter (`to_yaml`, `to_json`, re-exported here) turns objects into
exact YAML/JSON text; `layout.py` decides which objects share a file (one
multi-document `manifests.yaml` per Kubernetes folder, or one object per file);
`writer.py` is the only code that writes compiled output (atomic folder swap or
journalled in-place update, index, drift comparison); `guard.py` makes runs into one
folder take turns and words the file system's refusals. It reads the render stage's `OutputFile` and
nothing from check or review.
"""

from compiler.catalog import to_json, to_yaml
from compiler.output.guard import output_lock, real_path
from compiler.output.layout import (
    MANIFESTS,
    Document,
    apply_order,
    holds_documents,
    identity,
    pack,
    shown_names,
    units,
)
from compiler.output.writer import (
    DOCUMENT_HEADER,
    HEADER,
    MARKER,
    MARKER_BYTES,
    KeptEntry,
    Listing,
    Staged,
    check_output_folder,
    differences,
    documents_of,
    read_tree,
    recover,
    render_tree,
    serialize,
    stage_part,
    staging,
    without_header,
    write_file_atomically,
    write_tree,
)

__all__ = [
    "DOCUMENT_HEADER",
    "HEADER",
    "MANIFESTS",
    "MARKER",
    "MARKER_BYTES",
    "Document",
    "KeptEntry",
    "Listing",
    "Staged",
    "apply_order",
    "check_output_folder",
    "differences",
    "documents_of",
    "holds_documents",
    "identity",
    "output_lock",
    "pack",
    "read_tree",
    "real_path",
    "recover",
    "render_tree",
    "serialize",
    "shown_names",
    "stage_part",
    "staging",
    "to_json",
    "to_yaml",
    "units",
    "without_header",
    "write_file_atomically",
    "write_tree",
]
