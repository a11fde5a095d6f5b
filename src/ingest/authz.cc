#include "src/ingest/authz.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

struct RpcInfo {
  IngestRpc rpc;
  absl::string_view name;
  std::vector<v1::Role> roles;
};

const std::vector<RpcInfo>& Table() {
  static const auto* table = new std::vector<RpcInfo>{
      {IngestRpc::kSubmit, "IngestService/Submit", {v1::ROLE_AGENCY}},
      {IngestRpc::kSubmitStream,
       "IngestService/SubmitStream",
       {v1::ROLE_AGENCY}},
      {IngestRpc::kRetract, "IngestService/Retract", {v1::ROLE_AGENCY}},
      {IngestRpc::kConfirm, "IngestService/Confirm", {v1::ROLE_AGENCY}},
      {IngestRpc::kDispute, "IngestService/Dispute", {v1::ROLE_PLATFORM}},
      {IngestRpc::kResolveDispute,
       "IngestService/ResolveDispute",
       {v1::ROLE_AGENCY, v1::ROLE_ADMIN}},
      {IngestRpc::kGetEntry,
       "IngestService/GetEntry",
       {v1::ROLE_AGENCY, v1::ROLE_AUDITOR, v1::ROLE_ADMIN}},
      {IngestRpc::kListEntries,
       "IngestService/ListEntries",
       {v1::ROLE_AGENCY, v1::ROLE_AUDITOR, v1::ROLE_ADMIN}},
      {IngestRpc::kExportEntries,
       "IngestService/ExportEntries",
       {v1::ROLE_AGENCY, v1::ROLE_AUDITOR, v1::ROLE_ADMIN}},
      {IngestRpc::kWatchChanges,
       "ReplicationService/WatchChanges",
       {v1::ROLE_REPLICA}},
      {IngestRpc::kSubmitReports,
       "ReportService/SubmitReports",
       {v1::ROLE_REPLICA}},
      {IngestRpc::kListReports,
       "ReportService/ListReports",
       {v1::ROLE_AGENCY, v1::ROLE_AUDITOR, v1::ROLE_ADMIN}},
      {IngestRpc::kWatchReports,
       "ReportService/WatchReports",
       {v1::ROLE_AGENCY, v1::ROLE_AUDITOR, v1::ROLE_ADMIN}},
      {IngestRpc::kReadAuditLog,
       "AuditService/ReadAuditLog",
       {v1::ROLE_AUDITOR, v1::ROLE_ADMIN}},
      {IngestRpc::kAddPrincipal, "AdminService/AddPrincipal", {v1::ROLE_ADMIN}},
      {IngestRpc::kListPrincipals,
       "AdminService/ListPrincipals",
       {v1::ROLE_ADMIN}},
      {IngestRpc::kRevokePrincipal,
       "AdminService/RevokePrincipal",
       {v1::ROLE_ADMIN}},
  };
  return *table;
}

const RpcInfo& InfoOf(IngestRpc rpc) {
  // The table is in enum order (checked by authz_test).
  return Table()[static_cast<size_t>(rpc)];
}

std::string RoleName(v1::Role role) {
  std::string name = v1::Role_Name(role);
  if (absl::StartsWith(name, "ROLE_")) name = name.substr(5);
  return absl::AsciiStrToLower(name);
}

}  // namespace

const std::vector<IngestRpc>& AllIngestRpcs() {
  static const auto* all = [] {
    auto* v = new std::vector<IngestRpc>;
    for (const RpcInfo& info : Table()) v->push_back(info.rpc);
    return v;
  }();
  return *all;
}

absl::string_view RpcName(IngestRpc rpc) { return InfoOf(rpc).name; }

const std::vector<v1::Role>& AllowedRoles(IngestRpc rpc) {
  return InfoOf(rpc).roles;
}

bool HasRole(const v1::Principal& principal, v1::Role role) {
  return std::find(principal.roles().begin(), principal.roles().end(), role) !=
         principal.roles().end();
}

CallCredentials CredentialsOf(const grpc::ServerContextBase& context) {
  CallCredentials out;
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    out.has_authorization = true;
    absl::string_view value(it->second.data(), it->second.size());
    value = absl::StripAsciiWhitespace(value);
    constexpr absl::string_view kScheme = "bearer ";
    if (value.size() > kScheme.size() &&
        absl::StartsWithIgnoreCase(value, kScheme)) {
      out.bearer_token = std::string(
          absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size())));
    }
  }
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> cns =
        auth->FindPropertyValues("x509_common_name");
    if (!cns.empty()) out.certificate_cn.assign(cns[0].data(), cns[0].size());
  }
  return out;
}

absl::StatusOr<v1::Principal> Authorize(const Authenticator& authenticator,
                                        const CallCredentials& credentials,
                                        IngestRpc rpc) {
  absl::StatusOr<v1::Principal> principal =
      authenticator.Authenticate(credentials);
  if (!principal.ok()) return principal.status();
  const std::vector<v1::Role>& allowed = AllowedRoles(rpc);
  for (v1::Role role : allowed) {
    if (HasRole(*principal, role)) return principal;
  }
  std::vector<std::string> names;
  for (v1::Role role : allowed) names.push_back(RoleName(role));
  return absl::PermissionDeniedError(
      absl::StrCat(RpcName(rpc), " needs role ", absl::StrJoin(names, " or "),
                   "; principal \"", principal->name(), "\" has none of them"));
}

}  // namespace ingest
}  // namespace hashmatch
