// AuditServiceImpl over a real AuditLog and a gRPC server on loopback, read
// through the generated stub.
#include "src/ingest/audit_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/audit/audit_record.h"
#include "tests/fake_authenticator.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

class AuditServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auth_.Add("auditor-token", "auditor-1", v1::ROLE_AUDITOR);
    auth_.Add("admin-token", "admin-1", v1::ROLE_ADMIN);
    auth_.Add("platform-token", "platform-1", v1::ROLE_PLATFORM);
    key_.emplace(*audit::SigningKey::Generate());
    audit::AuditLogOptions options;
    options.signing_key = *key_;
    options.checkpoint_interval = 50;
    options.sync = false;
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
        audit::AuditLog::Open(options, dir_.path());
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    std::vector<AuditEvent> events;
    for (int i = 1; i <= 300; ++i) {
      AuditEvent& e = events.emplace_back();
      e.actor = "hotline-a";
      e.action = "submit";
      e.target = absl::StrCat("entry:", i);
      e.store_sequence = i;
    }
    ASSERT_TRUE(log_->Append(events).ok());  // + one checkpoint: 301

    service_ = std::make_unique<AuditServiceImpl>(log_.get(), &auth_,
                                                  AuditServiceOptions());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::AuditService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  grpc::Status Read(uint64_t from, const std::string& token,
                    std::vector<v1::AuditRecord>* records) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::ReadAuditLogRequest request;
    request.set_from_index(from);
    std::unique_ptr<grpc::ClientReader<v1::AuditRecord>> reader =
        stub_->ReadAuditLog(&context, request);
    v1::AuditRecord r;
    while (reader->Read(&r)) records->push_back(r);
    return reader->Finish();
  }

  testing_util::TempDir dir_{"audit_service_test"};
  testing_util::FakeAuthenticator auth_;
  std::optional<audit::SigningKey> key_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<AuditServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::AuditService::Stub> stub_;
};

TEST_F(AuditServiceTest, AuditorReadsTheWholeLogAndItVerifies) {
  std::vector<v1::AuditRecord> records;
  grpc::Status status = Read(0, "auditor-token", &records);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(records.size(), 301u);
  audit::ChainVerifierOptions options;
  options.public_keys = {key_->public_key()};
  options.max_unsigned_tail = 0;
  audit::ChainVerifier verifier(options);
  for (const v1::AuditRecord& r : records) {
    ASSERT_TRUE(verifier.Add(r)) << verifier.error().message;
  }
  EXPECT_TRUE(verifier.Finish()) << verifier.error().message;
  EXPECT_EQ(verifier.checkpoints_verified(), 1u);
}

TEST_F(AuditServiceTest, FromAnIndexToTheHead) {
  std::vector<v1::AuditRecord> records;
  ASSERT_TRUE(Read(290, "admin-token", &records).ok());
  ASSERT_EQ(records.size(), 12u);
  EXPECT_EQ(records.front().index(), 290u);
  EXPECT_EQ(records.front().target(), "entry:290");
  EXPECT_EQ(records.back().index(), 301u);
  EXPECT_EQ(records.back().action(), "checkpoint");
  records.clear();
  EXPECT_TRUE(Read(302, "auditor-token", &records).ok());
  EXPECT_TRUE(records.empty());
  grpc::Status past = Read(303, "auditor-token", &records);
  EXPECT_EQ(past.error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << past.error_message();
}

TEST_F(AuditServiceTest, OnlyAuditorsAndAdmins) {
  std::vector<v1::AuditRecord> records;
  grpc::Status status = Read(1, "platform-token", &records);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
  status = Read(1, "", &records);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  status = Read(1, "wrong", &records);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(records.empty());
}

TEST_F(AuditServiceTest, CancelledStreamEnds) {
  // About 1.2 MB of records: more than HTTP/2 lets the server send before
  // the client reads, so the stream is still open when it is cancelled.
  std::vector<AuditEvent> big(300);
  for (AuditEvent& e : big) {
    e.actor = "hotline-a";
    e.action = "retract";
    e.detail = std::string(4000, 'r');
  }
  ASSERT_TRUE(log_->Append(big).ok());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer auditor-token");
  v1::ReadAuditLogRequest request;
  request.set_from_index(1);
  std::unique_ptr<grpc::ClientReader<v1::AuditRecord>> reader =
      stub_->ReadAuditLog(&context, request);
  v1::AuditRecord r;
  ASSERT_TRUE(reader->Read(&r));
  context.TryCancel();
  while (reader->Read(&r)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server side ends too.
  for (int i = 0; i < 200 && service_->active_streams() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->active_streams(), 0);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
