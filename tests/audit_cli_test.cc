// `hashmatch audit keygen|verify` end to end: the real binary against logs
// written by AuditLog (and tampered with here), offline and through an
// in-process AuditService on loopback.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_log.h"
#include "src/audit/audit_test_util.h"
#include "src/audit/ed25519_key.h"
#include "src/ingest/audit_service.h"
#include "tests/fake_authenticator.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

using ::testing::HasSubstr;
using testing_util::RunBinary;
using testing_util::RunResult;

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    prefix_ = dir_.path() + "/signer";
    RunResult r =
        RunBinary(HASHMATCH_BINARY, {"audit", "keygen", "--out", prefix_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("key id: "));
    log_dir_ = dir_.path() + "/audit";
  }

  // Writes `events` events (checkpoint every 10) with the key from keygen.
  void WriteLog(int events, bool clean_close) {
    audit::AuditLogOptions options;
    absl::StatusOr<audit::SigningKey> key =
        audit::LoadSigningKey(prefix_ + ".key");
    ASSERT_TRUE(key.ok()) << key.status();
    options.signing_key = *key;
    options.checkpoint_interval = 10;
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
        audit::AuditLog::Open(options, log_dir_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    for (int i = 1; i <= events; ++i) {
      ingest::AuditEvent e;
      e.actor = "hotline-a";
      e.action = "submit";
      e.target = absl::StrCat("entry:", i);
      e.store_sequence = i;
      ASSERT_TRUE(log_->Append({e}).ok());
    }
    if (clean_close) {
      ASSERT_TRUE(log_->Close().ok());
      log_.reset();
    }
  }

  RunResult Verify(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "audit", "verify", "--log", log_dir_, "--public_key", prefix_ + ".pub"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunBinary(HASHMATCH_BINARY, args);
  }

  testing_util::TempDir dir_{"audit_cli_test"};
  std::string prefix_;
  std::string log_dir_;
  std::unique_ptr<audit::AuditLog> log_;
};

TEST_F(AuditCliTest, KeygenWritesAPrivateKeyAndNeverOverwrites) {
  struct stat st;
  ASSERT_EQ(::stat((prefix_ + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((prefix_ + ".pub").c_str(), &st), 0);
  RunResult again =
      RunBinary(HASHMATCH_BINARY, {"audit", "keygen", "--out", prefix_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("ALREADY_EXISTS"));
  EXPECT_EQ(RunBinary(HASHMATCH_BINARY, {"audit", "keygen"}).exit_code, 2);
}

TEST_F(AuditCliTest, ValidLogAndEachKindOfTampering) {
  WriteLog(25, /*clean_close=*/true);  // checkpoints 11, 22, close at 26
  RunResult r = Verify({"--max_unsigned_tail", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("records checked: 28\n"));
  EXPECT_THAT(r.out, HasSubstr("checkpoints verified: 3\n"));
  EXPECT_THAT(r.out, HasSubstr("unsigned tail: 0\n"));
  EXPECT_THAT(r.out, HasSubstr("valid\n"));
  const std::string path = audit::testing::LogPath(log_dir_);
  std::vector<v1::AuditRecord> records = audit::testing::ReadLogRecords(path);
  ASSERT_EQ(records.size(), 28u);
  const std::string anchor =
      absl::StrCat("28:", absl::BytesToHexString(records[27].record_hash()));
  EXPECT_THAT(r.out, HasSubstr("last checkpoint: " + anchor + "\n"));

  std::vector<v1::AuditRecord> altered = records;
  altered[4].set_detail("edited");
  audit::testing::WriteLogRecords(path, altered);
  r = Verify({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("INVALID at record 5: hash mismatch"));

  std::vector<v1::AuditRecord> removed = records;
  removed.erase(removed.begin() + 6);
  audit::testing::WriteLogRecords(path, removed);
  r = Verify({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("INVALID at record 7: index gap"));

  std::vector<v1::AuditRecord> truncated(records.begin(), records.begin() + 15);
  audit::testing::WriteLogRecords(path, truncated);
  r = Verify({"--expect_checkpoint", anchor});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("INVALID at record 28: anchor mismatch"));
  r = Verify({"--max_unsigned_tail", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("INVALID at record 12: unsigned tail"));

  // Verified with another key.
  audit::testing::WriteLogRecords(path, records);
  const std::string other = dir_.path() + "/other";
  ASSERT_EQ(RunBinary(HASHMATCH_BINARY, {"audit", "keygen", "--out", other})
                .exit_code,
            0);
  r = RunBinary(HASHMATCH_BINARY, {"audit", "verify", "--log", log_dir_,
                                   "--public_key", other + ".pub"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("INVALID at record 11: bad signature"));
  // Both keys (after a rotation): valid.
  r = RunBinary(HASHMATCH_BINARY,
                {"audit", "verify", "--log", log_dir_, "--public_key",
                 other + ".pub," + prefix_ + ".pub"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_F(AuditCliTest, UsageErrors) {
  EXPECT_EQ(RunBinary(HASHMATCH_BINARY, {"audit"}).exit_code, 2);
  EXPECT_EQ(RunBinary(HASHMATCH_BINARY, {"audit", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunBinary(HASHMATCH_BINARY,
                      {"audit", "verify", "--public_key", prefix_ + ".pub"})
                .exit_code,
            2);
  EXPECT_EQ(
      RunBinary(HASHMATCH_BINARY, {"audit", "verify", "--log", "x"}).exit_code,
      2);
  RunResult r = RunBinary(HASHMATCH_BINARY, {"audit", "verify", "--log", "x",
                                             "--public_key", prefix_ + ".key"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("not a PEM public key"));
  r = Verify({"--expect_checkpoint", "12:zz"});
  EXPECT_EQ(r.exit_code, 2);
  // A missing log is not a usage error.
  r = Verify({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(AuditCliTest, VerifyThroughTheAuditService) {
  WriteLog(25, /*clean_close=*/false);  // 27 records, the last 3 unsigned
  testing_util::FakeAuthenticator auth;
  auth.Add("auditor-token", "auditor-1", v1::ROLE_AUDITOR);
  auth.Add("agency-token", "agency-1", v1::ROLE_AGENCY);
  ingest::AuditServiceImpl service(log_.get(), &auth,
                                   ingest::AuditServiceOptions());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string addr = absl::StrCat("127.0.0.1:", port);

  RunResult r = RunBinary(HASHMATCH_BINARY,
                          {"audit", "verify", "--server", addr, "--token",
                           "auditor-token", "--public_key", prefix_ + ".pub"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("records checked: 27\n"));
  EXPECT_THAT(r.out, HasSubstr("checkpoints verified: 2\n"));
  EXPECT_THAT(r.out, HasSubstr("unsigned tail: 5\n"));

  r = RunBinary(HASHMATCH_BINARY,
                {"audit", "verify", "--server", addr, "--token", "agency-token",
                 "--public_key", prefix_ + ".pub"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace hashmatch
