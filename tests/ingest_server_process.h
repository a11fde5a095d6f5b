// IngestServerProcess: one real ingest_server child process for end-to-end
// tests (a bootstrap admin "root", principals through AdminService, hashes
// through IngestService), restartable on the same port.
//
//   testing_util::IngestServerProcess ingest(dir);
//   ASSERT_TRUE(ingest.Start().ok());
//   std::string agency = ingest.AddPrincipal("agency-a", v1::ROLE_AGENCY);
//   uint64_t id = ingest.Submit(agency, "e1", pdq_bytes);
//
// Requires INGEST_SERVER_BINARY and HASHMATCH_BINARY. Not thread-safe.
#ifndef HASHMATCH_TESTS_INGEST_SERVER_PROCESS_H_
#define HASHMATCH_TESTS_INGEST_SERVER_PROCESS_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace testing_util {

class IngestServerProcess {
 public:
  explicit IngestServerProcess(std::string dir) : dir_(std::move(dir)) {}

  // `port` 0 picks a free one (then kept for restarts). `extra_args` are
  // more ingest_server flags (e.g. {"--quorum", "2"}).
  absl::Status Start(int port = 0,
                     const std::vector<std::string>& extra_args = {}) {
    std::filesystem::remove(dir_ + "/port");
    std::vector<std::string> args = {"--data",
                                     dir_ + "/data",
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", port),
                                     "--port_file",
                                     dir_ + "/port",
                                     "--metrics_listen",
                                     "",
                                     "--bootstrap_admin",
                                     "root",
                                     "--bootstrap_token_file",
                                     dir_ + "/root.token",
                                     "--drain_seconds",
                                     "2"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::Status s = process_.Start(INGEST_SERVER_BINARY, args, dir_);
    if (!s.ok()) return s;
    absl::StatusOr<int> bound = process_.WaitForPortFile(dir_ + "/port");
    if (!bound.ok()) return bound.status();
    port_ = *bound;
    channel_ =
        grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
    root_token_ = std::string(
        absl::StripAsciiWhitespace(ReadWholeFile(dir_ + "/root.token")));
    return absl::OkStatus();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }
  ServerProcess& process() { return process_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::string store_dir() const { return dir_ + "/data/store"; }

  std::string AddPrincipal(const std::string& name, hashmatch::v1::Role role) {
    hashmatch::v1::AddPrincipalRequest request;
    request.mutable_principal()->set_name(name);
    request.mutable_principal()->add_roles(role);
    request.set_issue_token(true);
    hashmatch::v1::AddPrincipalResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + root_token_);
    grpc::Status s =
        hashmatch::v1::AdminService::NewStub(channel_)->AddPrincipal(
            &context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.token();
  }

  // Submits one raw PDQ hash as `external_id`; the stored entry's id.
  uint64_t Submit(const std::string& token, const std::string& external_id,
                  const std::string& pdq,
                  const std::string& classification = "A1",
                  hashmatch::v1::VettingState expected_state =
                      hashmatch::v1::VETTING_STATE_ACTIVE) {
    hashmatch::v1::SubmitRequest request;
    hashmatch::v1::Submission* sub = request.add_submissions();
    sub->set_external_id(external_id);
    sub->set_classification(classification);
    sub->mutable_hash()->set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
    sub->mutable_hash()->set_raw(pdq);
    hashmatch::v1::SubmitResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    grpc::Status s = hashmatch::v1::IngestService::NewStub(channel_)->Submit(
        &context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok() || response.entries_size() != 1) return 0;
    EXPECT_EQ(response.entries(0).state(), expected_state);
    return response.entries(0).id();
  }

  void Retract(const std::string& token, uint64_t id) {
    hashmatch::v1::RetractRequest request;
    request.set_entry_id(id);
    request.set_reason("test retraction");
    hashmatch::v1::RetractResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    grpc::Status s = hashmatch::v1::IngestService::NewStub(channel_)->Retract(
        &context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  std::string Digest() {
    RunResult r = RunBinary(HASHMATCH_BINARY, {"db", "digest", store_dir()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  uint64_t LastSequence() {
    const std::string d = Digest();
    const size_t at = d.find("last_sequence\t");
    if (at == std::string::npos) return 0;
    return std::stoull(d.substr(at + sizeof("last_sequence\t") - 1));
  }

 private:
  std::string dir_;
  ServerProcess process_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::string root_token_;
};

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_INGEST_SERVER_PROCESS_H_
