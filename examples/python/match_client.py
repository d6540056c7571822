#!/usr/bin/env python3
"""Ask partnermatch for a school's partners with grpcio and print a table.

The stubs are generated at run time from the repository's protos with
grpcio-tools (partnermatch_stubs.py, beside this file), so no generated code
is committed and they never go stale.

    pip install -r examples/python/requirements.txt
    python3 examples/python/match_client.py --target 127.0.0.1:50051 \
        --school 6602018 --mode support --limit 5 --explain

Exit status: 0 on success, 2 if the server answers with an error (the gRPC
status code and message are printed to stderr).
"""

import argparse
import os
import sys

import grpc

from partnermatch_stubs import load_stubs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="server address (default %(default)s)")
    parser.add_argument("--school", required=True, help="id of the school seeking partners")
    parser.add_argument("--mode", choices=["support", "lead", "peer"], default="support")
    parser.add_argument("--phase-relation", choices=["same", "cross", "any"], default="same")
    parser.add_argument("--limit", type=int, default=10, help="partners to return, 1-100")
    parser.add_argument("--max-distance-km", type=float, help="only partners within this distance")
    parser.add_argument("--explain", action="store_true", help="print each component's reason")
    parser.add_argument(
        "--token",
        default=os.environ.get("PARTNERMATCH_TOKEN"),
        help="bearer token (reader role or above); default $PARTNERMATCH_TOKEN; none for a --no-auth server",
    )
    args = parser.parse_args()

    school_pb2, matcher_pb2, matcher_grpc = load_stubs("school_pb2", "matcher_pb2", "matcher_pb2_grpc")
    request = matcher_pb2.MatchRequest(
        school_id=args.school,
        mode=matcher_pb2.MatchMode.Value(f"MATCH_MODE_{args.mode.upper()}"),
        phase_relation=matcher_pb2.PhaseRelation.Value(
            {"same": "PHASE_RELATION_SAME_PHASE", "cross": "PHASE_RELATION_CROSS_PHASE", "any": "PHASE_RELATION_ANY_PHASE"}[
                args.phase_relation
            ]
        ),
        limit=args.limit,
        explain=args.explain,
    )
    if args.max_distance_km is not None:
        request.max_distance_km = args.max_distance_km

    with grpc.insecure_channel(args.target) as channel:
        stub = matcher_grpc.PartnerMatcherStub(channel)
        try:
            metadata = [("authorization", f"Bearer {args.token}")] if args.token else None
            response = stub.Match(request, timeout=10, metadata=metadata)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 2

    seeker = response.seeker
    print(
        f"Partners for {seeker.id} {seeker.name} "
        f"({school_pb2.Stage.Name(seeker.stage).removeprefix('STAGE_').lower()}, "
        f"{school_pb2.Phase.Name(seeker.phase).removeprefix('PHASE_').lower()}), mode {args.mode}; "
        f"{response.considered} schools considered"
    )
    print(f"{'rank':>4}  {'school':<10} {'stage':<8} {'km':>6}  {'score':>6}  name")
    for candidate in response.candidates:
        stage = school_pb2.Stage.Name(candidate.stage).removeprefix("STAGE_").lower()
        print(
            f"{candidate.rank:>4}  {candidate.school_id:<10} {stage:<8} "
            f"{candidate.distance_km:>6.1f}  {candidate.score:>6.3f}  {candidate.name}"
        )
        for component in candidate.components:
            factor = matcher_pb2.Factor.Name(component.factor).removeprefix("FACTOR_").lower()
            print(f"{'':>6}{factor:<10} {component.contribution:>6.3f}  {component.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
