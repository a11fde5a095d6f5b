// AdminServiceImpl: hashmatch.v1.AdminService (ingest.proto) on gRPC's
// callback API: admins add, list and revoke principals.
//
//   AdminServiceImpl admin(authenticator, principals.get(), audit.get());
//   builder.RegisterService(&admin);
//
// Every RPC first calls Authorize (authz.h): UNAUTHENTICATED without valid
// credentials, PERMISSION_DENIED without the admin role. Then:
//   AddPrincipal     PrincipalStore::Add (its INVALID_ARGUMENT,
//                    ALREADY_EXISTS, ...); the token is in the response only.
//   ListPrincipals   every principal in name order (revoked ones with
//                    include_revoked); never tokens or digests.
//   RevokePrincipal  `reason` required (at most 1024 bytes); NOT_FOUND,
//                    FAILED_PRECONDITION for an already revoked principal or
//                    for revoking the last active admin.
// Each change appends one AuditEvent (action "principal_add" or
// "principal_revoke", target "principal:NAME", actor the calling admin,
// states the serialized Principal before/after, which hold no token) after
// the principal table is durable. If the audit append fails the RPC fails
// with that error (UNAVAILABLE etc., saying the change was made but not
// audited): the principal stays changed, and an added principal's token is
// not returned, so it must be revoked and added under a new name.
//
// Thread safety: handlers run concurrently; the authenticator, store and
// sink are not owned, must be thread-safe and outlive the service.
#ifndef HASHMATCH_SRC_INGEST_ADMIN_SERVICE_H_
#define HASHMATCH_SRC_INGEST_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/ingest/audit_sink.h"
#include "src/ingest/authz.h"
#include "src/ingest/principal_store.h"

namespace hashmatch {
namespace ingest {

class AdminServiceImpl final
    : public hashmatch::v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(const Authenticator* authenticator,
                   PrincipalStore* principals, AuditSink* audit);

  grpc::ServerUnaryReactor* AddPrincipal(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::AddPrincipalRequest* request,
      hashmatch::v1::AddPrincipalResponse* response) override;
  grpc::ServerUnaryReactor* ListPrincipals(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ListPrincipalsRequest* request,
      hashmatch::v1::ListPrincipalsResponse* response) override;
  grpc::ServerUnaryReactor* RevokePrincipal(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::RevokePrincipalRequest* request,
      hashmatch::v1::Principal* response) override;

  // The handlers' logic without gRPC (used by them and by tests):
  // `credentials` as CredentialsOf would read them.
  absl::StatusOr<hashmatch::v1::AddPrincipalResponse> DoAddPrincipal(
      const CallCredentials& credentials,
      const hashmatch::v1::AddPrincipalRequest& request);
  absl::StatusOr<hashmatch::v1::ListPrincipalsResponse> DoListPrincipals(
      const CallCredentials& credentials,
      const hashmatch::v1::ListPrincipalsRequest& request);
  absl::StatusOr<hashmatch::v1::Principal> DoRevokePrincipal(
      const CallCredentials& credentials,
      const hashmatch::v1::RevokePrincipalRequest& request);

 private:
  const Authenticator* const authenticator_;
  PrincipalStore* const principals_;
  AuditSink* const audit_;
  // Serializes revocations so two concurrent ones cannot both pass the
  // last-admin check.
  std::mutex revoke_mu_;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_ADMIN_SERVICE_H_
