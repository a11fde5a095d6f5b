#include "src/ingest/admin_service.h"

#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_util.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr size_t kMaxReasonBytes = 1024;

absl::Status NotAudited(const absl::Status& status, absl::string_view what) {
  return absl::Status(
      status.code(),
      absl::StrCat(what, " but its audit record could not be written: ",
                   status.message()));
}

// Finishes `reactor` with `result`, copying the value into `response`.
template <typename T>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                absl::StatusOr<T> result, T* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!result.ok()) {
    reactor->Finish(ToGrpcStatus(result.status()));
    return reactor;
  }
  *response = *std::move(result);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace

AdminServiceImpl::AdminServiceImpl(const Authenticator* authenticator,
                                   PrincipalStore* principals, AuditSink* audit)
    : authenticator_(authenticator), principals_(principals), audit_(audit) {}

absl::StatusOr<v1::AddPrincipalResponse> AdminServiceImpl::DoAddPrincipal(
    const CallCredentials& credentials,
    const v1::AddPrincipalRequest& request) {
  absl::StatusOr<v1::Principal> admin =
      Authorize(*authenticator_, credentials, IngestRpc::kAddPrincipal);
  if (!admin.ok()) return admin.status();
  absl::StatusOr<PrincipalStore::Added> added =
      principals_->Add(request.principal(), request.issue_token());
  if (!added.ok()) return added.status();
  AuditEvent event;
  event.actor = admin->name();
  event.action = "principal_add";
  event.target = absl::StrCat("principal:", added->principal.name());
  event.state_after = added->principal.SerializeAsString();
  event.detail = added->principal.note();
  absl::Status s = audit_->Append({event});
  if (!s.ok()) {
    return NotAudited(s, absl::StrCat("principal \"", added->principal.name(),
                                      "\" was added"));
  }
  v1::AddPrincipalResponse response;
  *response.mutable_principal() = added->principal;
  response.set_token(added->token);
  return response;
}

absl::StatusOr<v1::ListPrincipalsResponse> AdminServiceImpl::DoListPrincipals(
    const CallCredentials& credentials,
    const v1::ListPrincipalsRequest& request) {
  absl::StatusOr<v1::Principal> admin =
      Authorize(*authenticator_, credentials, IngestRpc::kListPrincipals);
  if (!admin.ok()) return admin.status();
  v1::ListPrincipalsResponse response;
  for (v1::Principal& p : principals_->List(request.include_revoked())) {
    *response.add_principals() = std::move(p);
  }
  return response;
}

absl::StatusOr<v1::Principal> AdminServiceImpl::DoRevokePrincipal(
    const CallCredentials& credentials,
    const v1::RevokePrincipalRequest& request) {
  absl::StatusOr<v1::Principal> admin =
      Authorize(*authenticator_, credentials, IngestRpc::kRevokePrincipal);
  if (!admin.ok()) return admin.status();
  absl::Status s = ValidatePrincipalName(request.name());
  if (!s.ok()) return s;
  if (request.reason().empty()) {
    return absl::InvalidArgumentError(
        "a reason is required to revoke a principal (it goes to the audit "
        "log)");
  }
  if (request.reason().size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason is ", request.reason().size(), " bytes; at most ",
                     kMaxReasonBytes));
  }
  std::lock_guard<std::mutex> lock(revoke_mu_);
  std::optional<v1::Principal> before = principals_->Find(request.name());
  if (!before) {
    return absl::NotFoundError(
        absl::StrCat("no principal named \"", request.name(), "\""));
  }
  if (before->revoked_at_micros() == 0 && HasRole(*before, v1::ROLE_ADMIN)) {
    int active_admins = 0;
    for (const v1::Principal& p : principals_->List(false)) {
      if (HasRole(p, v1::ROLE_ADMIN)) ++active_admins;
    }
    if (active_admins <= 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("principal \"", request.name(),
                       "\" is the last active admin; add another admin first"));
    }
  }
  absl::StatusOr<v1::Principal> revoked = principals_->Revoke(request.name());
  if (!revoked.ok()) return revoked.status();
  AuditEvent event;
  event.actor = admin->name();
  event.action = "principal_revoke";
  event.target = absl::StrCat("principal:", revoked->name());
  event.state_before = before->SerializeAsString();
  event.state_after = revoked->SerializeAsString();
  event.detail = request.reason();
  s = audit_->Append({event});
  if (!s.ok()) {
    return NotAudited(
        s, absl::StrCat("principal \"", revoked->name(), "\" was revoked"));
  }
  return revoked;
}

grpc::ServerUnaryReactor* AdminServiceImpl::AddPrincipal(
    grpc::CallbackServerContext* context,
    const v1::AddPrincipalRequest* request,
    v1::AddPrincipalResponse* response) {
  return Reply(context, DoAddPrincipal(CredentialsOf(*context), *request),
               response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListPrincipals(
    grpc::CallbackServerContext* context,
    const v1::ListPrincipalsRequest* request,
    v1::ListPrincipalsResponse* response) {
  return Reply(context, DoListPrincipals(CredentialsOf(*context), *request),
               response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokePrincipal(
    grpc::CallbackServerContext* context,
    const v1::RevokePrincipalRequest* request, v1::Principal* response) {
  return Reply(context, DoRevokePrincipal(CredentialsOf(*context), *request),
               response);
}

}  // namespace ingest
}  // namespace hashmatch
