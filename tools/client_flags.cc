#include "tools/client_flags.h"

#include <chrono>
#include <cstdlib>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_util.h"

namespace hashmatch {
namespace cli {
namespace {

constexpr int64_t kMaxTimeoutMs = int64_t{24} * 3600 * 1000;
constexpr size_t kMaxPemBytes = 1 << 20;
constexpr size_t kMaxTokenFileBytes = 64 << 10;

}  // namespace

void AddClientFlags(FlagParser& parser) {
  parser.AddValue("server");
  parser.AddValue("token");
  parser.AddValue("token_file");
  parser.AddValue("tls_ca");
  parser.AddValue("tls_cert");
  parser.AddValue("tls_key");
  parser.AddValue("tls_server_name");
  parser.AddValue("timeout_ms");
}

absl::StatusOr<ClientFlags> ClientFlagsFrom(const ParsedFlags& flags) {
  ClientFlags c;
  c.server = flags.Get("server").value_or("");
  if (c.server.empty()) {
    return absl::InvalidArgumentError("--server is required");
  }
  std::optional<std::string> token_file = flags.Get("token_file");
  if (std::optional<std::string> t = flags.Get("token")) {
    if (token_file) {
      return absl::InvalidArgumentError(
          "--token and --token_file are exclusive");
    }
    c.token = *t;
  } else if (token_file) {
    absl::StatusOr<std::string> text =
        ReadFileToString(*token_file, kMaxTokenFileBytes);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token_file ", *token_file, ": ", text.status().message()));
    }
    absl::string_view line = *text;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('\n')));
    if (line.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token_file ", *token_file, ": the first line is empty"));
    }
    c.token = std::string(line);
  } else if (const char* env = std::getenv("HASHMATCH_TOKEN")) {
    c.token = env;
  }
  c.tls_ca = flags.Get("tls_ca").value_or("");
  c.tls_cert = flags.Get("tls_cert").value_or("");
  c.tls_key = flags.Get("tls_key").value_or("");
  c.tls_server_name = flags.Get("tls_server_name").value_or("");
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together (client certificate for mTLS)");
  }
  if (!c.tls_cert.empty() && c.tls_ca.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert needs --tls_ca (the CA that signed the server)");
  }
  absl::StatusOr<int64_t> timeout =
      flags.GetInt("timeout_ms", 1, kMaxTimeoutMs, kDefaultTimeoutMs);
  if (!timeout.ok()) return timeout.status();
  c.timeout_ms = *timeout;
  c.timeout_given = flags.Has("timeout_ms");
  return c;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> NewClientChannel(
    const ClientFlags& c) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (c.tls_ca.empty()) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadFileToString(c.tls_ca, kMaxPemBytes);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!c.tls_cert.empty()) {
      absl::StatusOr<std::string> cert =
          ReadFileToString(c.tls_cert, kMaxPemBytes);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key =
          ReadFileToString(c.tls_key, kMaxPemBytes);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  if (!c.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(c.tls_server_name);
  }
  return grpc::CreateCustomChannel(c.server, creds, args);
}

void PrepareContext(const ClientFlags& c, bool deadline,
                    grpc::ClientContext* context) {
  if (deadline) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(c.timeout_ms));
  }
  if (!c.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", c.token));
  }
}

std::string GrpcCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace cli
}  // namespace hashmatch
