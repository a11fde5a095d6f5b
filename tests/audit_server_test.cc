// The audit log with a real ingest_server process: its key from `hashmatch
// audit keygen`, mutations recorded as they happen, `hashmatch audit verify
// --server` while it runs and `--log` after SIGTERM (the close checkpoint
// signs the head), a tampered log refused at the next start, and the
// incremental verification at start (--audit_verify).
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/audit/audit_test_util.h"
#include "src/hashing/crypto_hash.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using ::testing::HasSubstr;
using testing_util::RunBinary;
using testing_util::RunResult;

class AuditServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    key_prefix_ = dir_.path() + "/audit_signer";
    RunResult r =
        RunBinary(HASHMATCH_BINARY, {"audit", "keygen", "--out", key_prefix_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    data_ = dir_.path() + "/data";
  }

  void StartServer(testing_util::ServerProcess* server,
                   const std::vector<std::string>& extra = {}) {
    const std::string& d = dir_.path();
    unlink((d + "/port").c_str());
    std::vector<std::string> args = {"--data",
                                     data_,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port_file",
                                     d + "/port",
                                     "--metrics_listen",
                                     "",
                                     "--bootstrap_admin",
                                     "root",
                                     "--bootstrap_token_file",
                                     d + "/root.token",
                                     "--audit_key",
                                     key_prefix_ + ".key",
                                     "--audit_checkpoint_interval",
                                     "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(server->Start(INGEST_SERVER_BINARY, args, d).ok());
    absl::StatusOr<int> port = server->WaitForPortFile(d + "/port");
    ASSERT_TRUE(port.ok()) << port.status() << server->Stderr();
    addr_ = absl::StrCat("127.0.0.1:", *port);
    channel_ = grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials());
    root_token_ = std::string(absl::StripAsciiWhitespace(
        testing_util::ReadWholeFile(d + "/root.token")));
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  std::string AddPrincipal(const std::string& name, v1::Role role) {
    v1::AddPrincipalRequest request;
    request.mutable_principal()->set_name(name);
    request.mutable_principal()->add_roles(role);
    request.set_issue_token(true);
    v1::AddPrincipalResponse response;
    grpc::Status s = v1::AdminService::NewStub(channel_)->AddPrincipal(
        Context(root_token_).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.token();
  }

  RunResult VerifyLog(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"audit",        "verify",
                                     "--log",        data_ + "/audit",
                                     "--public_key", key_prefix_ + ".pub"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunBinary(HASHMATCH_BINARY, args);
  }

  testing_util::TempDir dir_{"audit_server_test"};
  std::string key_prefix_;
  std::string data_;
  std::string addr_;
  std::string root_token_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AuditServerTest, MutationsAreAuditedSignedAndVerified) {
  testing_util::ServerProcess server;
  StartServer(&server);
  const std::string agency = AddPrincipal("agency-a", v1::ROLE_AGENCY);
  const std::string auditor = AddPrincipal("auditor-a", v1::ROLE_AUDITOR);

  v1::SubmitRequest submit;
  for (int i = 0; i < 3; ++i) {
    v1::Submission* s = submit.add_submissions();
    s->set_external_id(absl::StrCat("x", i));
    s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    s->mutable_hash()->set_raw(std::string(32, static_cast<char>(0x11 * i)));
  }
  v1::SubmitResponse submitted;
  auto ingest = v1::IngestService::NewStub(channel_);
  grpc::Status s = ingest->Submit(Context(agency).get(), submit, &submitted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(submitted.entries_size(), 3);
  v1::RetractRequest retract;
  retract.set_entry_id(submitted.entries(1).id());
  retract.set_reason("submitted by mistake");
  v1::RetractResponse retracted;
  s = ingest->Retract(Context(agency).get(), retract, &retracted);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // While it runs, through AuditService as the auditor.
  RunResult r = RunBinary(HASHMATCH_BINARY,
                          {"audit", "verify", "--server", addr_, "--token",
                           auditor, "--public_key", key_prefix_ + ".pub"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("valid\n"));
  r = RunBinary(HASHMATCH_BINARY,
                {"audit", "verify", "--server", addr_, "--token", agency,
                 "--public_key", key_prefix_ + ".pub"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));

  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Stderr();

  // After a clean stop: nothing unsigned.
  r = VerifyLog({"--max_unsigned_tail", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string path = audit::testing::LogPath(data_ + "/audit");
  std::vector<v1::AuditRecord> records = audit::testing::ReadLogRecords(path);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().action(), "checkpoint");
  EXPECT_EQ(records.back().detail(), "close");
  // The retraction is there, by the agency, with the tombstone's digest.
  const v1::AuditRecord* retraction = nullptr;
  int submits = 0;
  for (const v1::AuditRecord& rec : records) {
    if (rec.action() == "retract") retraction = &rec;
    if (rec.action() == "submit") ++submits;
  }
  EXPECT_EQ(submits, 3);
  ASSERT_NE(retraction, nullptr);
  EXPECT_EQ(retraction->actor(), "agency-a");
  EXPECT_EQ(retraction->target(),
            absl::StrCat("entry:", submitted.entries(1).id()));
  EXPECT_EQ(retraction->store_sequence(), retracted.sequence());
  EXPECT_EQ(retraction->digest_after(),
            Sha256(retracted.entry().SerializeAsString()));

  // Someone edits the retraction's reason in the file.
  const uint64_t edited = retraction->index();
  std::vector<v1::AuditRecord> tampered = records;
  tampered[edited - 1].set_detail("routine cleanup");
  audit::testing::WriteLogRecords(path, tampered);
  r = VerifyLog();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("INVALID at record ", edited,
                                            ": hash mismatch")));
  // A full verification at start refuses it rather than append to it. (The
  // record is before the close checkpoint, which the default incremental
  // start does not re-read: IncrementalStartVerifiesTheRecordsSinceTheLast
  // below.)
  testing_util::ServerProcess again;
  const std::string& d = dir_.path();
  unlink((d + "/port").c_str());
  ASSERT_TRUE(
      again
          .Start(INGEST_SERVER_BINARY,
                 {"--data", data_, "--listen", "127.0.0.1:0", "--port_file",
                  d + "/port", "--metrics_listen", "", "--audit_key",
                  key_prefix_ + ".key", "--audit_verify", "full"},
                 d)
          .ok());
  EXPECT_NE(again.Wait(), 0);
  EXPECT_THAT(again.Stderr(), HasSubstr("DATA_LOSS"));
  EXPECT_THAT(again.Stderr(),
              HasSubstr(absl::StrCat("record ", edited, ": hash mismatch")));
}

// The default start verifies only what was appended since the signed
// checkpoint the previous start (or stop) recorded: after a clean stop
// nothing; after a SIGKILL the records since. Tampering with those fails
// the start; tampering before the checkpoint is left to --audit_verify full
// and `hashmatch audit verify` (docs/ingestion.md).
TEST_F(AuditServerTest, IncrementalStartVerifiesTheRecordsSinceTheLast) {
  testing_util::ServerProcess first;
  StartServer(&first);
  const std::string agency = AddPrincipal("agency-a", v1::ROLE_AGENCY);
  auto ingest = v1::IngestService::NewStub(channel_);
  auto submit = [&](int n) {
    v1::SubmitRequest request;
    v1::Submission* s = request.add_submissions();
    s->set_external_id(absl::StrCat("x", n));
    s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    s->mutable_hash()->set_raw(std::string(32, static_cast<char>(n)));
    v1::SubmitResponse response;
    grpc::Status status =
        ingest->Submit(Context(agency).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  };
  for (int i = 1; i <= 5; ++i) submit(i);
  EXPECT_EQ(first.Stop(SIGTERM), 0) << first.Stderr();
  EXPECT_THAT(first.Stderr(),
              HasSubstr("\"event\":\"audit_verified\",\"verify\":\"full\""));
  EXPECT_THAT(first.Stderr(), HasSubstr("\"full_reason\":\"no verified "
                                        "state yet\""));
  const std::string path = audit::testing::LogPath(data_ + "/audit");
  const size_t closed = audit::testing::ReadLogRecords(path).size();

  // After a clean stop: nothing to verify but the close checkpoint.
  testing_util::ServerProcess second;
  StartServer(&second);
  EXPECT_THAT(
      second.Stderr(),
      HasSubstr(absl::StrCat(
          "\"event\":\"audit_verified\",\"verify\":\"incremental\","
          "\"records\":",
          closed, ",\"records_verified\":0,\"verified_from\":", closed)));
  channel_ = grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials());
  ingest = v1::IngestService::NewStub(channel_);
  for (int i = 6; i <= 15; ++i) submit(i);
  second.Signal(SIGKILL);
  second.Wait();
  const std::vector<v1::AuditRecord> records =
      audit::testing::ReadLogRecords(path);
  ASSERT_GT(records.size(), closed + 10);

  // A record after the checkpoint (the last submit) edited: the start
  // fails.
  std::vector<v1::AuditRecord> tampered = records;
  size_t edited = records.size();
  while (tampered[edited - 1].action() != "submit") --edited;
  ASSERT_GT(edited, closed);
  tampered[edited - 1].set_actor("agency-b");
  audit::testing::WriteLogRecords(path, tampered);
  testing_util::ServerProcess refused;
  const std::string& d = dir_.path();
  unlink((d + "/port").c_str());
  ASSERT_TRUE(refused
                  .Start(INGEST_SERVER_BINARY,
                         {"--data", data_, "--listen", "127.0.0.1:0",
                          "--port_file", d + "/port", "--metrics_listen", "",
                          "--audit_key", key_prefix_ + ".key"},
                         d)
                  .ok());
  EXPECT_EQ(refused.Wait(), 2);
  EXPECT_THAT(refused.Stderr(), HasSubstr("DATA_LOSS"));
  EXPECT_THAT(refused.Stderr(),
              HasSubstr(absl::StrCat("record ", edited, ": hash mismatch")));

  // Untouched, the start verifies the records since the checkpoint.
  audit::testing::WriteLogRecords(path, records);
  testing_util::ServerProcess third;
  StartServer(&third);
  EXPECT_THAT(third.Stderr(),
              HasSubstr(absl::StrCat(
                  "\"verify\":\"incremental\",\"records\":", records.size(),
                  ",\"records_verified\":", records.size() - closed,
                  ",\"verified_from\":", closed)));
  EXPECT_EQ(third.Stop(SIGTERM), 0) << third.Stderr();

  // --audit_verify full reads every record.
  testing_util::ServerProcess full;
  StartServer(&full, {"--audit_verify", "full"});
  EXPECT_THAT(full.Stderr(), HasSubstr("\"event\":\"audit_verified\","
                                       "\"verify\":\"full\""));
  EXPECT_EQ(full.Stop(SIGTERM), 0) << full.Stderr();
  RunResult r = VerifyLog({"--max_unsigned_tail", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace hashmatch
