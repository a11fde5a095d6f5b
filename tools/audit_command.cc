#include "tools/audit_command.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/audit/audit_log.h"
#include "src/audit/audit_record.h"
#include "src/audit/ed25519_key.h"
#include "tools/client_flags.h"
#include "tools/commands.h"
#include "tools/flags.h"

namespace hashmatch {
namespace cli {
namespace {

namespace v1 = ::hashmatch::v1;

// Without --timeout_ms, reading a whole log from a server may take this long.
constexpr int64_t kVerifyTimeoutMs = 600000;

void PrintAuditUsage(std::ostream& os) {
  os << "usage:\n"
        "  hashmatch audit keygen --out PREFIX\n"
        "  hashmatch audit verify (--log DIR | --server ADDR [--token T]\n"
        "                          [--tls_ca CA [--tls_cert C --tls_key K]])\n"
        "                         --public_key FILE[,FILE...]\n"
        "                         [--max_unsigned_tail N]\n"
        "                         [--expect_checkpoint INDEX:HEX]\n"
        "                         [--timeout_ms MS]\n"
        "exit: 0 valid, 1 tampered/invalid or unreadable, 2 usage\n";
}

int UsageError(std::ostream& err, absl::string_view message) {
  err << "hashmatch: audit: " << message << "\n";
  PrintAuditUsage(err);
  return kExitUsage;
}

int RunKeygen(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err) {
  FlagParser parser;
  parser.AddValue("out");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) return UsageError(err, flags.status().message());
  const std::string prefix = flags->Get("out").value_or("");
  if (prefix.empty()) return UsageError(err, "keygen: --out is required");
  if (!flags->positional().empty()) {
    return UsageError(err, "keygen takes no positional arguments");
  }
  absl::StatusOr<audit::SigningKey> key = audit::SigningKey::Generate();
  absl::Status status =
      key.ok() ? audit::WriteKeyPair(*key, prefix) : key.status();
  if (!status.ok()) {
    err << "hashmatch: audit keygen: " << status << "\n";
    return kExitFailure;
  }
  out << "wrote " << prefix << ".key (private, mode 0600) and " << prefix
      << ".pub\nkey id: " << absl::BytesToHexString(key->public_key().key_id())
      << "\n";
  return kExitOk;
}

absl::StatusOr<audit::TrustedCheckpoint> ParseCheckpoint(
    absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  audit::TrustedCheckpoint cp;
  std::string hash;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &cp.index) ||
      cp.index == 0 || parts[1].size() != 64) {
    return absl::InvalidArgumentError(
        "--expect_checkpoint wants INDEX:HEX (64 hex digits), as printed by "
        "verify");
  }
  for (char c : parts[1]) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "--expect_checkpoint: the hash is not hex");
    }
  }
  cp.record_hash = absl::HexStringToBytes(parts[1]);
  return cp;
}

// Streams the log from a server into `verifier`; a gRPC error is returned.
absl::Status ReadFromServer(const ClientFlags& client,
                            audit::ChainVerifier* verifier) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(client);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<v1::AuditService::Stub> stub =
      v1::AuditService::NewStub(*channel);
  grpc::ClientContext context;
  PrepareContext(client, /*deadline=*/false, &context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(client.timeout_given
                                                     ? client.timeout_ms
                                                     : kVerifyTimeoutMs));
  v1::ReadAuditLogRequest request;
  request.set_from_index(1);
  std::unique_ptr<grpc::ClientReader<v1::AuditRecord>> reader =
      stub->ReadAuditLog(&context, request);
  v1::AuditRecord record;
  while (reader->Read(&record)) {
    if (!verifier->Add(record)) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!verifier->ok()) return absl::OkStatus();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("ReadAuditLog: ", status.error_message()));
  }
  return absl::OkStatus();
}

int RunVerify(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err) {
  FlagParser parser;
  parser.AddValue("log");
  parser.AddValue("public_key");
  parser.AddValue("max_unsigned_tail");
  parser.AddValue("expect_checkpoint");
  AddClientFlags(parser);
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) return UsageError(err, flags.status().message());
  if (!flags->positional().empty()) {
    return UsageError(err, "verify takes no positional arguments");
  }
  const std::string log_dir = flags->Get("log").value_or("");
  const bool from_server = flags->Has("server");
  if (log_dir.empty() == !from_server) {
    return UsageError(err, "verify needs exactly one of --log and --server");
  }
  std::optional<ClientFlags> client;
  if (from_server) {
    absl::StatusOr<ClientFlags> c = ClientFlagsFrom(*flags);
    if (!c.ok()) return UsageError(err, c.status().message());
    client = *c;
  }
  const std::string keys = flags->Get("public_key").value_or("");
  if (keys.empty()) {
    return UsageError(err, "verify: --public_key is required");
  }
  audit::ChainVerifierOptions options;
  for (absl::string_view path : absl::StrSplit(keys, ',')) {
    absl::StatusOr<audit::PublicKey> key =
        audit::LoadPublicKey(std::string(path));
    if (!key.ok()) return UsageError(err, key.status().message());
    options.public_keys.push_back(*key);
  }
  absl::StatusOr<int64_t> tail =
      flags->GetInt("max_unsigned_tail", 0, int64_t{1} << 40, -1);
  if (!tail.ok()) return UsageError(err, tail.status().message());
  options.max_unsigned_tail = *tail;
  if (std::optional<std::string> cp = flags->Get("expect_checkpoint")) {
    absl::StatusOr<audit::TrustedCheckpoint> anchor = ParseCheckpoint(*cp);
    if (!anchor.ok()) return UsageError(err, anchor.status().message());
    options.anchor = *anchor;
  }

  audit::VerifyLogResult result;
  if (from_server) {
    audit::ChainVerifier verifier(options);
    absl::Status status = ReadFromServer(*client, &verifier);
    if (!status.ok()) {
      err << "hashmatch: audit verify: " << status << "\n";
      return kExitFailure;
    }
    verifier.Finish();
    result.records_checked = verifier.records_checked();
    result.checkpoints_verified = verifier.checkpoints_verified();
    result.unsigned_tail = verifier.unsigned_tail();
    result.head_hash = verifier.head_hash();
    result.last_verified_checkpoint = verifier.last_verified_checkpoint();
    result.error = verifier.error();
  } else {
    absl::StatusOr<audit::VerifyLogResult> r =
        audit::VerifyAuditLogDir(log_dir, options);
    if (!r.ok()) {
      err << "hashmatch: audit verify: " << r.status() << "\n";
      return kExitFailure;
    }
    result = *r;
  }
  out << "records checked: " << result.records_checked << "\n"
      << "checkpoints verified: " << result.checkpoints_verified << "\n"
      << "unsigned tail: " << result.unsigned_tail << "\n";
  if (result.last_verified_checkpoint.index > 0) {
    out << "last checkpoint: " << result.last_verified_checkpoint.index << ":"
        << absl::BytesToHexString(result.last_verified_checkpoint.record_hash)
        << "\n";
  } else {
    out << "last checkpoint: none\n";
  }
  if (result.torn_bytes > 0) {
    out << "torn final frame: " << result.torn_bytes
        << " bytes (an unacknowledged write cut by a crash; ingest_server "
           "removes it at its next start)\n";
  }
  if (result.error.failure != audit::VerifyFailure::kNone) {
    out << "INVALID at record " << result.error.index << ": "
        << audit::VerifyFailureName(result.error.failure) << ": "
        << result.error.message << "\n";
    return kExitFailure;
  }
  out << "valid\n";
  return kExitOk;
}

}  // namespace

int RunAudit(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  if (args.empty()) return UsageError(err, "no audit subcommand given");
  const std::string& sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "keygen") return RunKeygen(rest, out, err);
  if (sub == "verify") return RunVerify(rest, out, err);
  if (sub == "help" || sub == "--help") {
    PrintAuditUsage(out);
    return kExitOk;
  }
  return UsageError(err, absl::StrCat("unknown audit subcommand '", sub, "'"));
}

}  // namespace cli
}  // namespace hashmatch
