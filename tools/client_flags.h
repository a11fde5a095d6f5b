// The client flags shared by every `hashmatch` subcommand that talks to a
// server (match, import, export): address, bearer token, TLS/mTLS files and
// the RPC timeout, and the channel and per-call context they imply.
//
//   FlagParser parser;
//   AddClientFlags(parser);        // --server --token --tls_ca --tls_cert
//                                  // --tls_key --tls_server_name --timeout_ms
//   ASSIGN_OR_RETURN(ParsedFlags flags, parser.Parse(args));
//   ASSIGN_OR_RETURN(ClientFlags c, ClientFlagsFrom(flags));
//   ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
//                    NewClientChannel(c));
//   grpc::ClientContext context;
//   PrepareContext(c, /*deadline=*/true, &context);
//
// The token is --token, or the first line of --token_file (e.g. the file
// ingest_server --bootstrap_token_file wrote; the two flags are exclusive),
// else $HASHMATCH_TOKEN, and is sent as
// "authorization: Bearer TOKEN". TLS is on when --tls_ca is given;
// --tls_cert/--tls_key (together, and only with --tls_ca) add a client
// certificate for mTLS.
//
// Thread safety: value types and pure functions.
#ifndef HASHMATCH_TOOLS_CLIENT_FLAGS_H_
#define HASHMATCH_TOOLS_CLIENT_FLAGS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "tools/flags.h"

namespace hashmatch {
namespace cli {

inline constexpr int64_t kDefaultTimeoutMs = 30000;

struct ClientFlags {
  std::string server;
  std::string token;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  // Per RPC; default kDefaultTimeoutMs. timeout_given: --timeout_ms was set.
  int64_t timeout_ms = kDefaultTimeoutMs;
  bool timeout_given = false;
};

void AddClientFlags(FlagParser& parser);

// INVALID_ARGUMENT for a missing --server, half a client certificate, a
// client certificate without --tls_ca or a bad --timeout_ms.
absl::StatusOr<ClientFlags> ClientFlagsFrom(const ParsedFlags& flags);

// A channel to c.server with the credentials the flags ask for (PEM files
// are read here: their errors are returned) and no send-size limit.
absl::StatusOr<std::shared_ptr<grpc::Channel>> NewClientChannel(
    const ClientFlags& c);

// Adds the bearer token and, when `deadline`, the deadline now + timeout_ms.
void PrepareContext(const ClientFlags& c, bool deadline,
                    grpc::ClientContext* context);

// "INVALID_ARGUMENT", "UNAVAILABLE", ...
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_CLIENT_FLAGS_H_
