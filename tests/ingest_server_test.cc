// ingest_server end to end: a real server process on loopback, started with
// --bootstrap_admin; the admin adds one principal per role with `hashmatch
// admin` and AdminService, then every registered ingestion RPC is called
// with every role and without credentials through grpc::GenericStub (one
// table drives every RPC, unary or streaming): allowed roles are never
// UNAUTHENTICATED/PERMISSION_DENIED (OK where a valid request is cheap), the
// other roles get PERMISSION_DENIED, no credentials UNAUTHENTICATED. Also:
// revocation, mTLS certificate identities (openssl-made certificates),
// metrics, health, SIGTERM drain, startup errors, and that no token ever
// reaches the server's logs.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/hashing/test_util.h"
#include "src/ingest/authz.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"
#include "tests/tls_files.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ingest::IngestRpc;

std::shared_ptr<grpc::Channel> Insecure(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& d,
                                          const std::string& client_stem) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing_util::ReadWholeFile(d + "/ca.pem");
  if (!client_stem.empty()) {
    ssl.pem_cert_chain =
        testing_util::ReadWholeFile(d + "/" + client_stem + ".pem");
    ssl.pem_private_key =
        testing_util::ReadWholeFile(d + "/" + client_stem + ".key");
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::SslCredentials(ssl), args);
}

void Prepare(grpc::ClientContext* context, const std::string& token,
             int timeout_ms = 30000) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(timeout_ms));
  if (!token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
}

struct RawResult {
  grpc::Status status;
  bool got_message = false;   // The server sent at least one message.
  std::string first_message;  // Its bytes.
};

// Calls "/hashmatch.v1.<RpcName(rpc)>" with `request` through the generic
// (byte) API: one request message, half-close, read the responses; a stream
// still open 3 s after its first message is cancelled by the client
// (status CANCELLED with got_message).
RawResult CallMethod(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& request,
                     const std::string& token) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  Prepare(&context, token, 10000);
  auto wait = [&cq](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  wait(1);
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  wait(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  wait(3);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  RawResult result;
  result.got_message = wait(4);
  if (result.got_message) {
    grpc::Slice first;
    if (response.DumpToSingleSlice(&first).ok()) {
      result.first_message.assign(reinterpret_cast<const char*>(first.begin()),
                                  first.size());
    }
  }
  if (result.got_message) {
    // Read on: a finite stream (or a unary call) ends by itself; one still
    // open after 3 s (a watch) is cancelled.
    const auto end = std::chrono::system_clock::now() + std::chrono::seconds(3);
    while (true) {
      grpc::ByteBuffer more;
      call->Read(&more, reinterpret_cast<void*>(5));
      void* tag = nullptr;
      bool ok = false;
      if (cq.AsyncNext(&tag, &ok, end) == grpc::CompletionQueue::TIMEOUT) {
        context.TryCancel();
        wait(5);
        break;
      }
      if (!ok) break;
    }
  }
  call->Finish(&result.status, reinterpret_cast<void*>(6));
  wait(6);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

RawResult CallRaw(const std::shared_ptr<grpc::Channel>& channel, IngestRpc rpc,
                  const std::string& request, const std::string& token) {
  return CallMethod(channel,
                    absl::StrCat("/hashmatch.v1.", ingest::RpcName(rpc)),
                    request, token);
}

class IngestServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::vector<std::string>& extra = {}) {
    ASSERT_FALSE(dir_.path().empty());
    const std::string& d = dir_.path();
    // A restart must not read the previous run's ports.
    unlink((d + "/port").c_str());
    unlink((d + "/metrics_port").c_str());
    std::vector<std::string> args = {"--data",
                                     d + "/data",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port_file",
                                     d + "/port",
                                     "--metrics_listen",
                                     "127.0.0.1:0",
                                     "--metrics_port_file",
                                     d + "/metrics_port",
                                     "--bootstrap_admin",
                                     "root",
                                     "--bootstrap_token_file",
                                     d + "/root.token",
                                     "--drain_seconds",
                                     "5"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(server_.Start(INGEST_SERVER_BINARY, args, d).ok());
    absl::StatusOr<int> port = server_.WaitForPortFile(d + "/port");
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    absl::StatusOr<int> metrics = server_.WaitForPortFile(d + "/metrics_port");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_port_ = *metrics;
    root_token_ = std::string(absl::StripAsciiWhitespace(
        testing_util::ReadWholeFile(d + "/root.token")));
    ASSERT_FALSE(root_token_.empty());
    tokens_.push_back(root_token_);
  }

  // Adds a principal with AdminService as root; returns its token.
  std::string AddPrincipal(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& name, v1::Role role,
                           bool issue_token = true, bool certificate = false,
                           const std::string& admin_token = "") {
    v1::AddPrincipalRequest request;
    request.mutable_principal()->set_name(name);
    request.mutable_principal()->add_roles(role);
    request.mutable_principal()->set_allow_certificate(certificate);
    request.set_issue_token(issue_token);
    v1::AddPrincipalResponse response;
    grpc::ClientContext context;
    Prepare(&context, admin_token.empty() ? root_token_ : admin_token);
    grpc::Status s = v1::AdminService::NewStub(channel)->AddPrincipal(
        &context, request, &response);
    EXPECT_TRUE(s.ok()) << name << ": " << s.error_message();
    EXPECT_EQ(response.token().empty(), !issue_token);
    if (!response.token().empty()) tokens_.push_back(response.token());
    return response.token();
  }

  // The services the server logged as registered ("serving" line).
  std::set<std::string> RegisteredServices() {
    const std::string log = server_.Stderr();
    const size_t at = log.find("\"event\":\"serving\"");
    EXPECT_NE(at, std::string::npos) << log;
    const size_t key = log.find("\"services\":\"", at);
    const size_t start = key + 12;
    const size_t end = log.find('"', start);
    std::set<std::string> out;
    for (absl::string_view s :
         absl::StrSplit(log.substr(start, end - start), ',')) {
      out.insert(std::string(s));
    }
    return out;
  }

  // No token (nor its random part) in anything the server wrote.
  void ExpectNoTokenInLogs() {
    const std::string all = server_.Stderr() + server_.Stdout();
    for (const std::string& t : tokens_) {
      EXPECT_EQ(all.find(t), std::string::npos) << "token in the log";
      EXPECT_EQ(all.find(t.substr(3)), std::string::npos);
    }
  }

  testing_util::TempDir dir_{"ingest_server_test"};
  testing_util::ServerProcess server_;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string root_token_;
  std::vector<std::string> tokens_;
};

TEST_F(IngestServerTest, AuthorizationMatrixOverRealRpcs) {
  StartServer();
  std::shared_ptr<grpc::Channel> channel = Insecure(port_);
  const std::map<v1::Role, std::string> role_tokens = {
      {v1::ROLE_AGENCY, AddPrincipal(channel, "agency-a", v1::ROLE_AGENCY)},
      {v1::ROLE_PLATFORM,
       AddPrincipal(channel, "platform-a", v1::ROLE_PLATFORM)},
      {v1::ROLE_REPLICA, AddPrincipal(channel, "replica-a", v1::ROLE_REPLICA)},
      {v1::ROLE_AUDITOR, AddPrincipal(channel, "auditor-a", v1::ROLE_AUDITOR)},
      {v1::ROLE_ADMIN, AddPrincipal(channel, "admin-b", v1::ROLE_ADMIN)},
  };
  AddPrincipal(channel, "victim", v1::ROLE_PLATFORM);

  // Valid requests where they are cheap; the RPC must then be OK for an
  // allowed role.
  std::map<IngestRpc, std::string> valid;
  {
    v1::AddPrincipalRequest add;
    add.mutable_principal()->set_name("added-by-matrix");
    add.mutable_principal()->add_roles(v1::ROLE_AUDITOR);
    add.set_issue_token(true);
    valid[IngestRpc::kAddPrincipal] = add.SerializeAsString();
    valid[IngestRpc::kListPrincipals] =
        v1::ListPrincipalsRequest().SerializeAsString();
    v1::RevokePrincipalRequest revoke;
    revoke.set_name("victim");
    revoke.set_reason("matrix");
    valid[IngestRpc::kRevokePrincipal] = revoke.SerializeAsString();
    // IngestService: agency-a submits (unary, then stream) and reads back.
    for (auto [rpc, id] : {std::pair{IngestRpc::kSubmit, "matrix-1"},
                           std::pair{IngestRpc::kSubmitStream, "matrix-2"}}) {
      v1::SubmitRequest submit;
      v1::Submission* item = submit.add_submissions();
      item->set_external_id(id);
      item->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
      item->mutable_hash()->set_hex(std::string(rpc == IngestRpc::kSubmit
                                                    ? "0f1e2d3c4b5a6978"
                                                    : "8796a5b4c3d2e1f0") +
                                    std::string(48, 'a'));
      valid[rpc] = submit.SerializeAsString();
    }
    v1::GetEntryRequest get;
    get.mutable_external()->set_agency("agency-a");
    get.mutable_external()->set_external_id("matrix-1");
    valid[IngestRpc::kGetEntry] = get.SerializeAsString();
    // An empty page, an export of the two entries.
    valid[IngestRpc::kListEntries] =
        v1::ListEntriesRequest().SerializeAsString();
    valid[IngestRpc::kExportEntries] =
        v1::ExportEntriesRequest().SerializeAsString();
    // ReportService: a replica delivers one report (on entry 1, agency-a's
    // "matrix-1", submitted earlier in the table's order); a page of
    // reports.
    v1::SubmitReportsRequest reports;
    v1::MatchReport* report = reports.add_reports();
    report->set_report_key("matrix-report");
    v1::ReportedMatch* match = report->add_matches();
    match->set_entry_id(1);
    match->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    match->set_source_agency("agency-a");
    valid[IngestRpc::kSubmitReports] = reports.SerializeAsString();
    valid[IngestRpc::kListReports] =
        v1::ListReportsRequest().SerializeAsString();
  }

  const std::set<std::string> services = RegisteredServices();
  ASSERT_EQ(services.count("hashmatch.v1.AdminService"), 1u);
  int checked_rpcs = 0;
  for (IngestRpc rpc : ingest::AllIngestRpcs()) {
    const std::string name(ingest::RpcName(rpc));
    const std::string service =
        "hashmatch.v1." + name.substr(0, name.find('/'));
    const std::string request =
        valid.count(rpc) > 0 ? valid[rpc] : std::string();
    if (services.count(service) == 0) {
      // Not registered (its part has not landed): not served at all.
      EXPECT_EQ(CallRaw(channel, rpc, request, "").status.error_code(),
                grpc::StatusCode::UNIMPLEMENTED)
          << name;
      continue;
    }
    ++checked_rpcs;
    RawResult none = CallRaw(channel, rpc, request, "");
    EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << name << ": " << none.status.error_message();
    const std::vector<v1::Role>& allowed = ingest::AllowedRoles(rpc);
    for (const auto& [role, token] : role_tokens) {
      const bool is_allowed =
          std::find(allowed.begin(), allowed.end(), role) != allowed.end();
      RawResult r = CallRaw(channel, rpc, request, token);
      const std::string what =
          absl::StrCat(name, " as ", v1::Role_Name(role), ": ",
                       r.status.error_code(), " ", r.status.error_message());
      if (!is_allowed) {
        EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << what;
        continue;
      }
      EXPECT_NE(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << what;
      EXPECT_NE(r.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << what;
      EXPECT_NE(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << what;
      if (valid.count(rpc) > 0) {
        EXPECT_TRUE(r.status.ok()) << what;
      }
      if (r.status.error_code() == grpc::StatusCode::CANCELLED) {
        // Cancelled by us: the stream had started sending.
        EXPECT_TRUE(r.got_message) << what;
      }
    }
  }
  EXPECT_GE(checked_rpcs, 3);

  // The matrix's own effects: victim revoked, one principal added.
  v1::ListPrincipalsRequest all;
  all.set_include_revoked(true);
  v1::ListPrincipalsResponse listed;
  grpc::ClientContext context;
  Prepare(&context, root_token_);
  ASSERT_TRUE(v1::AdminService::NewStub(channel)
                  ->ListPrincipals(&context, all, &listed)
                  .ok());
  std::map<std::string, v1::Principal> by_name;
  for (const v1::Principal& p : listed.principals()) by_name[p.name()] = p;
  ASSERT_EQ(by_name.size(), 8u);
  EXPECT_NE(by_name["victim"].revoked_at_micros(), 0);
  EXPECT_EQ(by_name["added-by-matrix"].roles(0), v1::ROLE_AUDITOR);

  // Metrics count by RPC and code.
  absl::StatusOr<std::string> metrics =
      testing_util::HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_GE(
      testing_util::PrometheusSum(*metrics, "hashmatch_rpc_requests_total",
                                  {{"rpc", "AdminService/ListPrincipals"},
                                   {"code", "PERMISSION_DENIED"}}),
      4);
  EXPECT_GE(testing_util::PrometheusSum(
                *metrics, "hashmatch_rpc_latency_seconds_count",
                {{"rpc", "AdminService/AddPrincipal"}, {"code", "OK"}}),
            7);

  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  const std::string log = server_.Stderr();
  EXPECT_NE(log.find("\"event\":\"drained\""), std::string::npos);
  EXPECT_NE(log.find("\"rpc\":\"AdminService/RevokePrincipal\""),
            std::string::npos);
  ExpectNoTokenInLogs();
}

TEST_F(IngestServerTest, RevokedPrincipalIsUnauthenticatedAndCliWorks) {
  StartServer();
  const std::string server = absl::StrCat("127.0.0.1:", port_);
  const std::string root_file = dir_.path() + "/root.token";
  struct stat st;
  ASSERT_EQ(stat(root_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Health SERVING for the server and each registered service.
  for (const std::string& service :
       {std::string(""), std::string("hashmatch.v1.AdminService")}) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::ClientContext context;
    Prepare(&context, "");
    ASSERT_TRUE(Health::NewStub(Insecure(port_))
                    ->Check(&context, request, &response)
                    .ok());
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
  }

  // Reflection lists the services: ServerReflectionRequest{list_services:
  // ""} is field 7, an empty string (bytes 0x3a 0x00).
  RawResult reflection = CallMethod(
      Insecure(port_),
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      std::string("\x3a\x00", 2), "");
  EXPECT_TRUE(reflection.got_message) << reflection.status.error_message();
  for (const char* service :
       {"hashmatch.v1.AdminService", "hashmatch.v1.IngestService",
        "hashmatch.v1.ReportService", "grpc.health.v1.Health"}) {
    EXPECT_NE(reflection.first_message.find(service), std::string::npos)
        << service;
  }

  testing_util::RunResult add = testing_util::RunBinary(
      HASHMATCH_BINARY, {"admin", "principal", "add", "auditor-x", "--role",
                         "auditor,admin", "--note", "from the CLI", "--server",
                         server, "--token_file", root_file});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::string token(absl::StripAsciiWhitespace(add.out));
  EXPECT_EQ(add.out, token + "\n");  // The token alone, once.
  EXPECT_TRUE(absl::StartsWith(token, "hm_")) << token;
  tokens_.push_back(token);

  const std::string token_file = dir_.path() + "/x.token";
  ASSERT_TRUE(testing_util::WriteWholeFile(token_file, token + "\n"));
  testing_util::RunResult list = testing_util::RunBinary(
      HASHMATCH_BINARY, {"admin", "principal", "list", "--server", server,
                         "--token_file", token_file});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("auditor-x\tauditor,admin\ttoken\t"),
            std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("\tfrom the CLI\n"), std::string::npos);
  EXPECT_NE(list.out.find("root\tadmin\ttoken\t"), std::string::npos);

  testing_util::RunResult revoke = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"admin", "principal", "revoke", "auditor-x", "--reason", "rotated",
       "--server", server, "--token_file", root_file});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;

  // The revoked token: UNAUTHENTICATED, naming the principal.
  v1::ListPrincipalsResponse response;
  grpc::ClientContext context;
  Prepare(&context, token);
  grpc::Status s = v1::AdminService::NewStub(Insecure(port_))
                       ->ListPrincipals(&context, {}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "principal \"auditor-x\" is revoked");
  list = testing_util::RunBinary(
      HASHMATCH_BINARY, {"admin", "principal", "list", "--server", server,
                         "--token_file", token_file});
  EXPECT_EQ(list.exit_code, 1);
  EXPECT_NE(list.err.find("UNAUTHENTICATED: principal \"auditor-x\" is "
                          "revoked"),
            std::string::npos)
      << list.err;
  // Usage errors exit 2.
  EXPECT_EQ(
      testing_util::RunBinary(HASHMATCH_BINARY, {"admin", "principal", "add",
                                                 "x", "--server", server})
          .exit_code,
      2);
  EXPECT_EQ(testing_util::RunBinary(HASHMATCH_BINARY,
                                    {"admin", "principal", "add", "x", "--role",
                                     "king", "--server", server})
                .exit_code,
            2);

  // Restart: the principals persist and the bootstrap is skipped (the
  // token file is left alone).
  EXPECT_EQ(server_.Stop(SIGTERM), 0);
  ExpectNoTokenInLogs();
  StartServer();
  EXPECT_EQ(root_token_, tokens_.front());
  EXPECT_NE(server_.Stderr().find("bootstrap_skipped"), std::string::npos);
  grpc::ClientContext again;
  Prepare(&again, root_token_);
  v1::ListPrincipalsRequest all;
  all.set_include_revoked(true);
  ASSERT_TRUE(v1::AdminService::NewStub(Insecure(port_))
                  ->ListPrincipals(&again, all, &response)
                  .ok());
  ASSERT_EQ(response.principals_size(), 2);
  EXPECT_NE(response.principals(0).revoked_at_micros(), 0);
  EXPECT_EQ(server_.Stop(SIGTERM), 0);
  ExpectNoTokenInLogs();
}

TEST_F(IngestServerTest, MutualTlsCertificateNamesThePrincipal) {
  const std::string& d = dir_.path();
  ASSERT_TRUE(testing_util::MakeTlsFiles(d, {{"root", "root"},
                                             {"certagency", "cert-agency"},
                                             {"stranger", "stranger"}}));
  StartServer({"--tls_cert", d + "/server.pem", "--tls_key", d + "/server.key",
               "--tls_client_ca", d + "/ca.pem"});
  // root presents its own certificate plus its token.
  std::shared_ptr<grpc::Channel> root = TlsChannel(port_, d, "root");
  const std::string none = AddPrincipal(root, "cert-agency", v1::ROLE_AGENCY,
                                        /*issue_token=*/false,
                                        /*certificate=*/true);
  EXPECT_TRUE(none.empty());
  const std::string agency_token =
      AddPrincipal(root, "token-agency", v1::ROLE_AGENCY);

  auto list = [&](const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& token) {
    v1::ListPrincipalsResponse response;
    grpc::ClientContext context;
    Prepare(&context, token);
    return v1::AdminService::NewStub(channel)->ListPrincipals(&context, {},
                                                              &response);
  };
  // Certificate alone: authenticated as cert-agency (an agency: denied
  // the admin RPC, by name).
  grpc::Status s = list(TlsChannel(port_, d, "certagency"), "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("principal \"cert-agency\""),
            std::string::npos)
      << s.error_message();
  // A CN that names no principal.
  s = list(TlsChannel(port_, d, "stranger"), "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("\"stranger\" names no principal"),
            std::string::npos)
      << s.error_message();
  // root's certificate without a token: root may not use certificates.
  s = list(root, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("may not authenticate with a client"),
            std::string::npos);
  // Token and certificate naming different principals.
  s = list(TlsChannel(port_, d, "certagency"), root_token_);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("must agree"), std::string::npos);
  s = list(root, agency_token);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // No client certificate at all: the TLS handshake fails.
  s = list(TlsChannel(port_, d, ""), root_token_);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(list(root, root_token_).ok());

  // The CLI's TLS flags.
  testing_util::RunResult cli = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"admin", "principal", "list", "--server",
       absl::StrCat("127.0.0.1:", port_), "--token_file", d + "/root.token",
       "--tls_ca", d + "/ca.pem", "--tls_cert", d + "/root.pem", "--tls_key",
       d + "/root.key", "--tls_server_name", "localhost"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("cert-agency\tagency\tcertificate\t"),
            std::string::npos)
      << cli.out;
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  ExpectNoTokenInLogs();
}

TEST_F(IngestServerTest, SigtermWithAWatchStreamOpenExitsPromptly) {
  StartServer();
  std::shared_ptr<grpc::Channel> channel = Insecure(port_);
  const std::string replica =
      AddPrincipal(channel, "replica-a", v1::ROLE_REPLICA);
  grpc::ClientContext context;
  Prepare(&context, replica);
  v1::WatchChangesRequest request;
  request.set_follower("test");
  std::unique_ptr<grpc::ClientReader<v1::WatchChangesResponse>> stream =
      v1::ReplicationService::NewStub(channel)->WatchChanges(&context, request);
  v1::WatchChangesResponse first;
  ASSERT_TRUE(stream->Read(&first)) << stream->Finish().error_message();

  // The open watch stream does not hold the drain (--drain_seconds 5).
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 4.0);
  v1::WatchChangesResponse more;
  while (stream->Read(&more)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
  const std::string log = server_.Stderr();
  EXPECT_NE(log.find("\"cancelled_at_deadline\":false"), std::string::npos)
      << log;
  ExpectNoTokenInLogs();
}

// Issue 14, defect 3 on the ingestion side: an agency's image whose PNG
// iCCP profile name is a forged log line. libpng's warning quotes the name;
// the server logs it as one escaped library_message line, so the log holds
// only the server's own JSON lines and no forged event.
TEST_F(IngestServerTest, LibraryWarningsCannotForgeLogLines) {
  StartServer({"--log_file", dir_.path() + "/ingest.log"});
  std::shared_ptr<grpc::Channel> channel = Insecure(port_);
  v1::AddPrincipalRequest add;
  add.mutable_principal()->set_name("agency-media");
  add.mutable_principal()->add_roles(v1::ROLE_AGENCY);
  add.mutable_principal()->set_may_submit_media(true);
  add.set_issue_token(true);
  v1::AddPrincipalResponse added;
  {
    grpc::ClientContext context;
    Prepare(&context, root_token_);
    ASSERT_TRUE(v1::AdminService::NewStub(channel)
                    ->AddPrincipal(&context, add, &added)
                    .ok());
  }
  tokens_.push_back(added.token());
  const std::string forged = "FAKE_INJECTED_INGEST";
  v1::SubmitRequest submit;
  v1::Submission* item = submit.add_submissions();
  item->set_external_id("png-with-forged-profile-name");
  item->set_image(testing_util::PngWithBadIccProfile(
      absl::StrCat("\n{\"level\":\"info\",\"event\":\"", forged, "\"}\n")));
  v1::SubmitResponse submitted;
  grpc::ClientContext context;
  Prepare(&context, added.token());
  const grpc::Status s =
      v1::IngestService::NewStub(channel)->Submit(&context, submit, &submitted);
  EXPECT_TRUE(s.ok()) << s.error_message();  // The image itself decodes.
  EXPECT_EQ(submitted.entries_size(), 3);
  ASSERT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  // With --log_file the log is there, stderr has nothing but what the
  // server wrote before the file was open.
  struct stat st;
  ASSERT_EQ(stat((dir_.path() + "/ingest.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string log =
      testing_util::ReadWholeFile(dir_.path() + "/ingest.log");
  EXPECT_FALSE(absl::StrContains(log + server_.Stderr(), forged)) << log;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{\"ts\":")) << line;
  }
  EXPECT_TRUE(absl::StrContains(
      log, "\"event\":\"library_message\",\"library\":\"libpng\""))
      << log;
  ExpectNoTokenInLogs();
}

TEST_F(IngestServerTest, StartupErrorsExitTwo) {
  const std::string& d = dir_.path();
  testing_util::ServerProcess bad;
  ASSERT_TRUE(bad.Start(INGEST_SERVER_BINARY,
                        {"--data", d + "/data", "--bootstrap_admin", "root"}, d)
                  .ok());
  EXPECT_EQ(bad.Wait(), 2);
  EXPECT_NE(bad.Stderr().find("--bootstrap_token_file"), std::string::npos);

  StartServer();
  // A second server on the same data directory: the store is taken.
  testing_util::ServerProcess second;
  ASSERT_TRUE(second
                  .Start(INGEST_SERVER_BINARY,
                         {"--data", d + "/data", "--listen", "127.0.0.1:0",
                          "--metrics_listen", ""},
                         d)
                  .ok());
  EXPECT_EQ(second.Wait(), 2);
  EXPECT_NE(second.Stderr().find("startup_error"), std::string::npos)
      << second.Stderr();
  EXPECT_EQ(server_.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace hashmatch
