// PrincipalAuthenticator: the ingestion server's Authenticator (authz.h),
// over the PrincipalStore.
//
//   PrincipalAuthenticator auth(principals.get());
//   ASSIGN_OR_RETURN(v1::Principal who,
//                    Authorize(auth, CredentialsOf(*context), rpc));
//
// Rules, each failure UNAUTHENTICATED with its own message:
//   - neither a bearer token nor a verified client certificate: "missing
//     credentials ...";
//   - authorization metadata that is not "Bearer TOKEN": "malformed ...";
//   - a token: its SHA-256 is compared in constant time with every stored
//     digest (server::FindDigestConstantTime, shared with the match
//     server); unknown: "unknown bearer token"; its principal revoked:
//     "principal X is revoked";
//   - a certificate alone: its subject CN must name a principal
//     ("... names no principal"), not revoked, with allow_certificate
//     ("... may not authenticate with a client certificate");
//   - both: the token decides and the CN must be that principal's name
//     ("the bearer token is principal A but the client certificate is B").
//     With mTLS every client has a certificate, so a token holder's
//     certificate need not carry allow_certificate, only its name.
// Messages name principals, never tokens.
//
// Thread safety: Authenticate may be called concurrently; `store` is not
// owned and must outlive this object.
#ifndef HASHMATCH_SRC_INGEST_PRINCIPAL_AUTHENTICATOR_H_
#define HASHMATCH_SRC_INGEST_PRINCIPAL_AUTHENTICATOR_H_

#include "src/ingest/authz.h"
#include "src/ingest/principal_store.h"

namespace hashmatch {
namespace ingest {

class PrincipalAuthenticator final : public Authenticator {
 public:
  explicit PrincipalAuthenticator(const PrincipalStore* store)
      : store_(store) {}

  absl::StatusOr<hashmatch::v1::Principal> Authenticate(
      const CallCredentials& credentials) const override;

 private:
  const PrincipalStore* const store_;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_PRINCIPAL_AUTHENTICATOR_H_
