// Authorization for the ingestion server: who may call which RPC.
//
// Every RPC handler of every ingest_server service starts with
//
//   absl::StatusOr<v1::Principal> who =
//       Authorize(authenticator, CredentialsOf(*context), IngestRpc::kSubmit);
//   if (!who.ok()) { reactor->Finish(ToGrpcStatus(who.status())); ... }
//
// AllowedRoles() is the one table of role x RPC (ingest.proto names the same
// roles on each RPC); the authorization matrix test walks it. Rules that
// depend on the entry (an agency retracts only its own entries, confirms only
// other agencies') are checked by the service after Authorize.
//
// Thread safety: pure functions; Authenticator implementations must be safe
// for concurrent calls.
#ifndef HASHMATCH_SRC_INGEST_AUTHZ_H_
#define HASHMATCH_SRC_INGEST_AUTHZ_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/ingest.pb.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace hashmatch {
namespace ingest {

// Every RPC of the ingest_server's services.
enum class IngestRpc {
  kSubmit,
  kSubmitStream,
  kRetract,
  kConfirm,
  kDispute,
  kResolveDispute,
  kGetEntry,
  kListEntries,
  kExportEntries,
  kWatchChanges,
  kSubmitReports,
  kListReports,
  kWatchReports,
  kReadAuditLog,
  kAddPrincipal,
  kListPrincipals,
  kRevokePrincipal,
};

// All of the above, in declaration order (for table-driven tests).
const std::vector<IngestRpc>& AllIngestRpcs();

// "Service/Method", e.g. "IngestService/Submit".
absl::string_view RpcName(IngestRpc rpc);

// The roles that may call `rpc`.
const std::vector<hashmatch::v1::Role>& AllowedRoles(IngestRpc rpc);

bool HasRole(const hashmatch::v1::Principal& principal,
             hashmatch::v1::Role role);

// What a call presents: the bearer token of "authorization: Bearer TOKEN"
// metadata (empty if absent), whether authorization metadata was present at
// all, and the subject CN of a verified client certificate (empty without
// mTLS).
struct CallCredentials {
  bool has_authorization = false;
  std::string bearer_token;
  std::string certificate_cn;
};

// Reads the credentials of a call. A malformed authorization value (not
// "Bearer X") leaves bearer_token empty with has_authorization true.
CallCredentials CredentialsOf(const grpc::ServerContextBase& context);

// Maps credentials to an active principal.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // UNAUTHENTICATED with a specific message when no credentials are given,
  // the token is unknown or revoked, the certificate's CN names no principal
  // allowed to use a certificate, or token and certificate name different
  // principals.
  virtual absl::StatusOr<hashmatch::v1::Principal> Authenticate(
      const CallCredentials& credentials) const = 0;
};

// Authenticates, then checks the role table: UNAUTHENTICATED from the
// authenticator, PERMISSION_DENIED naming the RPC, the principal and the
// roles that would be allowed.
absl::StatusOr<hashmatch::v1::Principal> Authorize(
    const Authenticator& authenticator, const CallCredentials& credentials,
    IngestRpc rpc);

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_AUTHZ_H_
