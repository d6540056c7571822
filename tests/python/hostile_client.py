#!/usr/bin/env python3
"""Hostile requests from a stock grpcio client (default channel options, so
its default limits on received headers apply), for the integration tests.

    python3 tests/python/hostile_client.py --target 127.0.0.1:50051

Prints one JSON object per case: {"case": ..., "code": "INVALID_ARGUMENT",
"details": "..."}; "OK" when the call succeeded. The caller checks the codes
and that the abandoned imports left nothing behind.
"""

import argparse
import json
import os
import sys
import threading
import time

import grpc

# The example client's stub loader, so both build their stubs one way.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from partnermatch_stubs import load_stubs  # noqa: E402


def report(case, call):
    try:
        call()
        code, details = "OK", ""
    except grpc.FutureCancelledError:
        code, details = "CANCELLED", "cancelled by the client"
    except grpc.RpcError as error:
        code, details = error.code().name, error.details() or ""
    print(json.dumps({"case": case, "code": code, "details": details}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--seeker", required=True, help="an existing school id")
    args = parser.parse_args()
    school_pb2, registry_pb2, registry_grpc, matcher_pb2, matcher_grpc = load_stubs(
        "school_pb2", "registry_pb2", "registry_pb2_grpc", "matcher_pb2", "matcher_pb2_grpc"
    )

    def school(school_id, needs=()):
        return school_pb2.School(
            id=school_id,
            name=f"School {school_id}",
            phase=school_pb2.PHASE_PRIMARY,
            latitude=51.48,
            longitude=-3.18,
            needs=list(needs),
        )

    with grpc.insecure_channel(args.target) as channel:
        matcher = matcher_grpc.PartnerMatcherStub(channel)
        registry = registry_grpc.SchoolRegistryStub(channel)

        for count in (50, 5000):
            request = matcher_pb2.MatchRequest(
                school_id=args.seeker, mode=matcher_pb2.MATCH_MODE_SUPPORT, focus=[0] * count
            )
            report(f"match_focus_{count}", lambda request=request: matcher.Match(request, timeout=30))

        upsert = registry_pb2.UpsertSchoolRequest(school=school("py-needs", needs=[0] * 1_000_000))
        report("upsert_needs_1000000", lambda: registry.UpsertSchool(upsert, timeout=30))

        # An import cancelled after 3,000 messages.
        sent = threading.Event()
        stop = threading.Event()

        def three_thousand_then_wait():
            for i in range(3000):
                yield registry_pb2.ImportSchoolsRequest(school=school(f"py-cancel-{i:05}"))
            sent.set()
            stop.wait(30)

        future = registry.ImportSchools.future(three_thousand_then_wait(), timeout=60)
        sent.wait(30)
        time.sleep(0.5)
        future.cancel()
        report("import_cancelled", lambda: future.result())

        # An import whose 2 s deadline passes mid-stream.
        def fifty_then_stall():
            for i in range(50):
                yield registry_pb2.ImportSchoolsRequest(school=school(f"py-late-{i:05}"))
            stop.wait(5)

        report("import_deadline", lambda: registry.ImportSchools(fifty_then_stall(), timeout=2))
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
