#include "tools/admin_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/file_util.h"
#include "tools/client_flags.h"
#include "tools/commands.h"
#include "tools/flags.h"
#include "tools/output.h"

namespace hashmatch {
namespace cli {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr char kAdminUsage[] =
    "Usage:\n"
    "  hashmatch admin principal add NAME --role ROLE[,ROLE...] "
    "[--certificate]\n"
    "      [--no_token | --out FILE] [--may_submit_media] [--note TEXT] "
    "CLIENT_FLAGS\n"
    "  hashmatch admin principal list [--include_revoked] CLIENT_FLAGS\n"
    "  hashmatch admin principal revoke NAME --reason TEXT CLIENT_FLAGS\n"
    "Roles: agency, platform, replica, auditor, admin.\n"
    "CLIENT_FLAGS: --server ADDR [--token_file F | --token T | "
    "$HASHMATCH_TOKEN]\n"
    "      [--tls_ca F [--tls_cert F --tls_key F] [--tls_server_name N]] "
    "[--timeout_ms N] [--json]\n"
    "add prints the new token once on stdout (the server keeps only its "
    "SHA-256),\n"
    "or with --out FILE writes it to FILE, a new file of mode 0600 (an "
    "existing\n"
    "FILE is refused before the principal is added).\n"
    "Exit codes: 0 done, 1 the RPC failed, 2 usage error.\n";

int Usage(std::ostream& err, absl::string_view message) {
  err << "hashmatch: admin: " << message << "\n" << kAdminUsage;
  return kExitUsage;
}

int RpcFailed(std::ostream& err, const grpc::Status& status) {
  err << "hashmatch: admin: "
      << absl::StatusCodeToString(
             static_cast<absl::StatusCode>(status.error_code()))
      << ": " << status.error_message() << "\n";
  return kExitFailure;
}

absl::StatusOr<v1::Role> ParseRole(absl::string_view text) {
  const std::string name = absl::StrCat(
      "ROLE_", absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text)));
  v1::Role role;
  if (!v1::Role_Parse(name, &role) || role == v1::ROLE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown role \"", text,
        "\" (expected agency, platform, replica, auditor or admin)"));
  }
  return role;
}

std::string RoleNames(const v1::Principal& p) {
  std::vector<std::string> names;
  for (int r : p.roles()) {
    std::string n = v1::Role_Name(static_cast<v1::Role>(r));
    if (absl::StartsWith(n, "ROLE_")) n = n.substr(5);
    names.push_back(absl::AsciiStrToLower(n));
  }
  return absl::StrJoin(names, ",");
}

std::string PrincipalLine(const v1::Principal& p) {
  std::vector<std::string> auth;
  if (p.has_token()) auth.push_back("token");
  if (p.allow_certificate()) auth.push_back("certificate");
  std::string note = p.note();
  for (char& c : note) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return absl::StrCat(
      p.name(), "\t", RoleNames(p), "\t", absl::StrJoin(auth, ","), "\t",
      FormatUtcSeconds(p.created_at_micros()), "\t",
      FormatUtcSeconds(p.revoked_at_micros()), "\t", note, "\n");
}

}  // namespace

int RunAdmin(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    if (args.empty()) return Usage(err, "no admin command given");
    out << kAdminUsage;
    return kExitOk;
  }
  if (args[0] != "principal") {
    return Usage(err, absl::StrCat("unknown admin command '", args[0], "'"));
  }
  if (args.size() < 2) return Usage(err, "principal: add, list or revoke?");
  const std::string verb = args[1];
  if (verb != "add" && verb != "list" && verb != "revoke") {
    return Usage(err, absl::StrCat("unknown principal command '", verb, "'"));
  }
  FlagParser parser;
  AddClientFlags(parser);
  parser.AddBool("json");
  if (verb == "add") {
    parser.AddValue("role");
    parser.AddValue("note");
    parser.AddBool("certificate");
    parser.AddBool("no_token");
    parser.AddBool("may_submit_media");
    parser.AddValue("out");
  } else if (verb == "list") {
    parser.AddBool("include_revoked");
  } else {
    parser.AddValue("reason");
  }
  absl::StatusOr<ParsedFlags> flags =
      parser.Parse(std::vector<std::string>(args.begin() + 2, args.end()));
  if (!flags.ok()) return Usage(err, flags.status().message());
  absl::StatusOr<ClientFlags> client = ClientFlagsFrom(*flags);
  if (!client.ok()) return Usage(err, client.status().message());
  const bool json = flags->Has("json");
  const size_t want_positional = verb == "list" ? 0 : 1;
  if (flags->positional().size() != want_positional) {
    return Usage(err, want_positional == 0
                          ? "list takes no NAME"
                          : absl::StrCat(verb, " needs exactly one NAME"));
  }

  v1::AddPrincipalRequest add;
  v1::RevokePrincipalRequest revoke;
  if (verb == "add") {
    v1::Principal* p = add.mutable_principal();
    p->set_name(flags->positional()[0]);
    const std::string roles = flags->Get("role").value_or("");
    if (roles.empty()) return Usage(err, "add needs --role");
    for (absl::string_view r : absl::StrSplit(roles, ',')) {
      absl::StatusOr<v1::Role> role = ParseRole(r);
      if (!role.ok()) return Usage(err, role.status().message());
      p->add_roles(*role);
    }
    p->set_allow_certificate(flags->Has("certificate"));
    p->set_may_submit_media(flags->Has("may_submit_media"));
    p->set_note(flags->Get("note").value_or(""));
    add.set_issue_token(!flags->Has("no_token"));
  } else if (verb == "revoke") {
    revoke.set_name(flags->positional()[0]);
    revoke.set_reason(flags->Get("reason").value_or(""));
    if (revoke.reason().empty()) return Usage(err, "revoke needs --reason");
  }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(*client);
  if (!channel.ok()) {
    return Usage(err, absl::StrCat("TLS files: ", channel.status().message()));
  }
  // --out: the token file is created (empty, 0600) before the principal
  // exists, so an existing or unwritable FILE fails before a token that
  // could only be lost is issued.
  const std::string out_path = flags->Get("out").value_or("");
  if (flags->Get("out").has_value() && out_path.empty()) {
    return Usage(err, "--out needs a FILE");
  }
  if (!out_path.empty() && !add.issue_token()) {
    return Usage(err, "--out writes the token; --no_token issues none");
  }
  int out_fd = -1;
  if (!out_path.empty()) {
    absl::StatusOr<int> fd = CreateNewPrivateFile(out_path);
    if (!fd.ok()) {
      return Usage(err, absl::StrCat("--out: ", fd.status().message()));
    }
    out_fd = *fd;
  }
  std::unique_ptr<v1::AdminService::Stub> stub =
      v1::AdminService::NewStub(*channel);
  grpc::ClientContext context;
  PrepareContext(*client, /*deadline=*/true, &context);

  if (verb == "add") {
    v1::AddPrincipalResponse response;
    grpc::Status s = stub->AddPrincipal(&context, add, &response);
    if (out_fd >= 0) {
      absl::Status written =
          s.ok() ? WriteAndSync(out_fd, response.token() + "\n", out_path)
                 : absl::OkStatus();
      if (::close(out_fd) != 0 && written.ok()) {
        written = absl::InternalError(absl::StrCat("cannot close ", out_path,
                                                   ": ", std::strerror(errno)));
      }
      if (!s.ok() || !written.ok()) ::unlink(out_path.c_str());
      if (!s.ok()) return RpcFailed(err, s);
      if (!written.ok()) {
        err << "hashmatch: admin: added principal "
            << response.principal().name()
            << " but its token could not be written (" << written.message()
            << "); revoke it and add it again\n";
        return kExitFailure;
      }
      response.clear_token();  // Only in the file, never on stdout.
      if (json) {
        out << ProtoJson(response) << "\n";
      } else {
        err << "hashmatch: admin: added principal "
            << response.principal().name() << " ("
            << RoleNames(response.principal()) << "); its token is in "
            << out_path << " (mode 0600) and cannot be shown again\n";
      }
      return kExitOk;
    }
    if (!s.ok()) return RpcFailed(err, s);
    if (json) {
      out << ProtoJson(response) << "\n";
    } else {
      if (!response.token().empty()) out << response.token() << "\n";
      err << "hashmatch: admin: added principal " << response.principal().name()
          << " (" << RoleNames(response.principal()) << ")"
          << (response.token().empty()
                  ? "; no token (certificate only)"
                  : "; its token is printed above and cannot be shown again")
          << "\n";
    }
    return kExitOk;
  }
  if (verb == "list") {
    v1::ListPrincipalsRequest request;
    request.set_include_revoked(flags->Has("include_revoked"));
    v1::ListPrincipalsResponse response;
    grpc::Status s = stub->ListPrincipals(&context, request, &response);
    if (!s.ok()) return RpcFailed(err, s);
    if (json) {
      out << ProtoJson(response) << "\n";
    } else {
      for (const v1::Principal& p : response.principals()) {
        out << PrincipalLine(p);
      }
    }
    return kExitOk;
  }
  v1::Principal response;
  grpc::Status s = stub->RevokePrincipal(&context, revoke, &response);
  if (!s.ok()) return RpcFailed(err, s);
  out << (json ? ProtoJson(response) + "\n" : PrincipalLine(response));
  return kExitOk;
}

}  // namespace cli
}  // namespace hashmatch
