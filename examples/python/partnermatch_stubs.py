"""partnermatch's Python stubs, generated at import time from the
repository's protos with grpcio-tools: no generated code is committed, so the
stubs never go stale.

    from partnermatch_stubs import load_stubs
    school_pb2, matcher_pb2, matcher_grpc = load_stubs("school_pb2", "matcher_pb2", "matcher_pb2_grpc")
"""

import importlib
import importlib.resources
import os
import sys
import tempfile

from grpc_tools import protoc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
PROTO_FILES = [
    "partnermatch/v1/school.proto",
    "partnermatch/v1/registry.proto",
    "partnermatch/v1/matcher.proto",
    "partnermatch/v1/partnership.proto",
]


def load_stubs(*modules):
    """Compiles the protos into a temporary directory and imports the named
    modules of package partnermatch.v1 (e.g. "matcher_pb2_grpc")."""
    out = tempfile.mkdtemp(prefix="partnermatch-py-")
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}"]
        + PROTO_FILES
    )
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    sys.path.insert(0, out)
    return [importlib.import_module(f"partnermatch.v1.{name}") for name in modules]
