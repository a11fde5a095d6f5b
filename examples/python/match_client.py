#!/usr/bin/python3
"""A minimal MatchService client using Debian's python3-grpcio.

The Python stubs are generated at run time from the repository's proto/
folder into a temporary directory (no generated code is committed or
installed): with python3-grpc-tools (`python3 -m grpc_tools.protoc`) when
its protoc is new enough for proto3 `optional`, otherwise with Debian's
protoc and grpc_python_plugin (see protoc_command).

    examples/python/match_client.py --server 127.0.0.1:50051 \
        [--token T] [--tls_ca ca.pem] [--wait_serving SECONDS] \
        [--pdq HEX]... [FILE...]

With --wait_serving, first polls the standard health service
(grpc.health.v1.Health/Check) until it says SERVING. Then prints the
server's index info, and one line per FILE (MatchImage) and per
--pdq hash (MatchHashes): NAME, VERDICT, RULE, best match, tab-separated, or
NAME, ERROR, CODE, message. Exit status: 0 if every request was answered,
1 otherwise, 2 on bad arguments.
"""

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTOS = ["hashmatch/v1/entry.proto", "hashmatch/v1/match.proto"]
# grpc.health.v1: compiled from a copy at another path, because a module
# "grpc.health.v1.health_pb2" would be looked up inside the installed
# `grpc` package. The proto package (the service's wire name) is unchanged.
HEALTH_PROTO = os.path.join(PROTO_ROOT, "grpc", "health", "v1",
                            "health.proto")
HEALTH_MODULE_DIR = "hashmatch_health"


def protoc_command():
    """The protoc invocation that can compile our protos, as an argv prefix.

    python3-grpc-tools is the first choice, but Debian 12's bundles protoc
    3.5.1, which predates proto3 `optional` (match.proto uses it; protoc
    3.15+ accepts it). Then Debian's own protoc (protobuf-compiler 3.21)
    with the gRPC Python plugin (protobuf-compiler-grpc) does the same job.
    """
    tools = [sys.executable, "-m", "grpc_tools.protoc"]
    try:
        out = subprocess.run(tools + ["--version"], capture_output=True,
                             text=True, check=True).stdout
        version = tuple(int(x) for x in out.split()[-1].split(".")[:2])
        if version >= (3, 15):
            return tools
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        pass
    plugin = "/usr/bin/grpc_python_plugin"
    if not os.path.exists(plugin):
        sys.exit("match_client: grpc_tools' protoc is too old for proto3 "
                 "optional and %s is missing (apt-get install "
                 "protobuf-compiler protobuf-compiler-grpc)" % plugin)
    return ["protoc", "--plugin=protoc-gen-grpc_python=" + plugin]


def generate_stubs(out_dir):
    """Compiles PROTOS (and health.proto) to Python modules in out_dir and
    imports the MatchService ones."""
    health_src = os.path.join(out_dir, "proto_copy")
    os.makedirs(os.path.join(health_src, HEALTH_MODULE_DIR))
    shutil.copy(HEALTH_PROTO, os.path.join(health_src, HEALTH_MODULE_DIR))
    for root, protos in ((PROTO_ROOT, PROTOS),
                         (health_src, [HEALTH_MODULE_DIR + "/health.proto"])):
        subprocess.run(
            protoc_command() + ["-I", root, "--python_out=" + out_dir,
                                "--grpc_python_out=" + out_dir] + protos,
            check=True)
    sys.path.insert(0, out_dir)
    match_pb2 = importlib.import_module("hashmatch.v1.match_pb2")
    match_pb2_grpc = importlib.import_module("hashmatch.v1.match_pb2_grpc")
    entry_pb2 = importlib.import_module("hashmatch.v1.entry_pb2")
    return match_pb2, match_pb2_grpc, entry_pb2


def wait_serving(out_dir, channel, seconds):
    """Polls grpc.health.v1.Health/Check until SERVING; True if it was."""
    import grpc
    health_pb2 = importlib.import_module(HEALTH_MODULE_DIR + ".health_pb2")
    health_pb2_grpc = importlib.import_module(HEALTH_MODULE_DIR +
                                              ".health_pb2_grpc")
    stub = health_pb2_grpc.HealthStub(channel)
    start = time.monotonic()
    status = "UNREACHABLE"
    while time.monotonic() - start < seconds:
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(
                response.status)
            if status == "SERVING":
                print("health: SERVING after %.1f s" %
                      (time.monotonic() - start))
                return True
        except grpc.RpcError as e:
            status = e.code().name
        time.sleep(0.1)
    print("health: not SERVING after %.0f s (last: %s)" % (seconds, status))
    return False


def enum_suffix(enum_type, value, prefix):
    name = enum_type.Name(value) if value in enum_type.values() else str(value)
    return name[len(prefix):] if name.startswith(prefix) else name


def describe(pb, entry_pb2, response):
    verdict = enum_suffix(pb.Verdict, response.verdict, "VERDICT_")
    rule = enum_suffix(pb.DecisionRule, response.rule,
                       "DECISION_RULE_").lower()
    best = "-"
    if response.matches:
        m = response.matches[0]
        signal = enum_suffix(entry_pb2.SignalType, m.signal_type,
                             "SIGNAL_TYPE_").lower()
        best = "entry=%d signal=%s distance=%d" % (m.entry_id, signal,
                                                   m.distance)
        if m.dihedral:
            best += " variant=" + enum_suffix(
                pb.DihedralVariant, m.dihedral, "DIHEDRAL_VARIANT_").lower()
    return "%s\t%s\t%s\tindex_sequence=%d" % (verdict, rule, best,
                                              response.index_sequence)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="host:port")
    parser.add_argument("--token", default=os.environ.get("HASHMATCH_TOKEN"),
                        help="API token (default: $HASHMATCH_TOKEN)")
    parser.add_argument("--tls_ca", help="CA certificate (PEM): use TLS")
    parser.add_argument("--pdq", action="append", default=[],
                        help="a PDQ hash (64 hex digits) to MatchHashes")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds per RPC")
    parser.add_argument("--wait_serving", type=float, default=0,
                        metavar="SECONDS",
                        help="first wait up to SECONDS for grpc.health.v1 "
                        "SERVING (exit 1 if it never comes)")
    parser.add_argument("files", nargs="*", help="images to MatchImage")
    args = parser.parse_args()
    if not args.files and not args.pdq and not args.wait_serving:
        parser.error("give at least one FILE, --pdq HEX or --wait_serving")

    import grpc  # python3-grpcio

    with tempfile.TemporaryDirectory(prefix="hashmatch_stubs_") as stubs:
        pb, pb_grpc, entry_pb2 = generate_stubs(stubs)
        if args.tls_ca:
            with open(args.tls_ca, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            channel = grpc.secure_channel(args.server, creds)
        else:
            channel = grpc.insecure_channel(args.server)
        if args.wait_serving and not wait_serving(stubs, channel,
                                                  args.wait_serving):
            return 1
        if not args.files and not args.pdq:
            return 0
        stub = pb_grpc.MatchServiceStub(channel)
        metadata = []
        if args.token:
            metadata.append(("authorization", "Bearer " + args.token))

        failed = False
        try:
            info = stub.GetIndexInfo(pb.GetIndexInfoRequest(),
                                     timeout=args.timeout, metadata=metadata)
            counts = ", ".join(
                "%s=%d" % (enum_suffix(entry_pb2.SignalType, c.signal_type,
                                       "SIGNAL_TYPE_").lower(), c.entries)
                for c in info.counts)
            print("index: sequence=%d %s pdq_threshold=%d server=%s" %
                  (info.sequence, counts, info.pdq_threshold,
                   info.server_version))
        except grpc.RpcError as e:
            print("index\tERROR\t%s\t%s" % (e.code().name, e.details()))
            failed = True

        requests = []
        for path in args.files:
            with open(path, "rb") as f:
                image = f.read()
            requests.append((path, stub.MatchImage,
                             pb.MatchImageRequest(image=image,
                                                  content_ref=os.path.basename(
                                                      path))))
        for hex_hash in args.pdq:
            query = pb.QueryHash(signal_type=entry_pb2.SIGNAL_TYPE_PDQ,
                                 hex=hex_hash)
            requests.append(("pdq:" + hex_hash, stub.MatchHashes,
                             pb.MatchHashesRequest(hashes=[query])))
        for name, rpc, request in requests:
            try:
                response = rpc(request, timeout=args.timeout,
                               metadata=metadata)
                print("%s\t%s" % (name, describe(pb, entry_pb2, response)))
            except grpc.RpcError as e:
                print("%s\tERROR\t%s\t%s" % (name, e.code().name, e.details()))
                failed = True
        channel.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
