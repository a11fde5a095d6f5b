// FollowerProcess: one `match_server --follow` child process for
// end-to-end tests of the change feed, with its MatchService, health and
// metrics clients; plus helpers those tests share.
//
//   testing_util::FollowerProcess f(dir + "/a", "127.0.0.1:5555", token);
//   ASSERT_TRUE(f.Start().ok());             // --db DIR/db, ports in files
//   ASSERT_TRUE(f.WaitServing());
//   EXPECT_TRUE(f.WaitVerdict(pdq, hashmatch::v1::VERDICT_MATCH));
//   EXPECT_EQ(f.Digest(), primary_digest);   // `hashmatch db digest`
//
// The follower runs with --catch_up_interval_ms 600000, so a change becomes
// matchable only through the catch-up after each applied batch. Requires
// MATCH_SERVER_BINARY and HASHMATCH_BINARY. Not thread-safe.
#ifndef HASHMATCH_TESTS_FOLLOWER_PROCESS_H_
#define HASHMATCH_TESTS_FOLLOWER_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace testing_util {

inline std::string RandomPdq(std::mt19937_64& rng) {
  std::string out(32, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// One match_server --follow process and its clients.
class FollowerProcess {
 public:
  // `primary`: HOST:PORT of the primary; `token`: its replica token.
  FollowerProcess(std::string dir, std::string primary, std::string token)
      : dir_(std::move(dir)),
        primary_(std::move(primary)),
        token_(std::move(token)) {}

  // More match_server flags for the next Start (e.g. --report_to).
  std::vector<std::string> extra_args;

  absl::Status Start() {
    std::filesystem::create_directories(dir_);
    std::filesystem::remove(dir_ + "/port");
    std::filesystem::remove(dir_ + "/metrics_port");
    WriteWholeFile(dir_ + "/token", token_ + "\n");
    std::vector<std::string> args = {"--db",
                                     dir_ + "/db",
                                     "--follow",
                                     primary_,
                                     "--follow_token_file",
                                     dir_ + "/token",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port_file",
                                     dir_ + "/port",
                                     "--metrics_listen",
                                     "127.0.0.1:0",
                                     "--metrics_port_file",
                                     dir_ + "/metrics_port",
                                     "--catch_up_interval_ms",
                                     "600000",
                                     "--drain_seconds",
                                     "1"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::Status s = process_.Start(MATCH_SERVER_BINARY, args, dir_);
    if (!s.ok()) return s;
    absl::StatusOr<int> port = process_.WaitForPortFile(dir_ + "/port");
    if (!port.ok()) return port.status();
    absl::StatusOr<int> metrics =
        process_.WaitForPortFile(dir_ + "/metrics_port");
    if (!metrics.ok()) return metrics.status();
    metrics_port_ = *metrics;
    address_ = absl::StrCat("127.0.0.1:", *port);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port),
                                   grpc::InsecureChannelCredentials());
    match_ = hashmatch::v1::MatchService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
    return absl::OkStatus();
  }

  bool Serving() {
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(2));
    return health_
               ->Check(&context, grpc::health::v1::HealthCheckRequest(),
                       &response)
               .ok() &&
           response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  bool WaitServing() {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end) {
      if (Serving()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // MatchHashes for one raw PDQ hash; false on an RPC error.
  bool Match(const std::string& pdq, hashmatch::v1::MatchResponse* response) {
    hashmatch::v1::MatchHashesRequest request;
    hashmatch::v1::QueryHash* q = request.add_hashes();
    q->set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
    q->set_raw(pdq);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    return match_->MatchHashes(&context, request, response).ok();
  }

  // The verdict of MatchHashes for one raw PDQ hash; UNSPECIFIED on error.
  hashmatch::v1::Verdict Verdict(const std::string& pdq,
                                 uint64_t* entry_id = nullptr) {
    hashmatch::v1::MatchResponse response;
    if (!Match(pdq, &response)) return hashmatch::v1::VERDICT_UNSPECIFIED;
    if (entry_id != nullptr && response.matches_size() > 0) {
      *entry_id = response.matches(0).entry_id();
    }
    return response.verdict();
  }

  // Polls until the first match of `pdq` has `classification` (10 s).
  bool WaitClassification(const std::string& pdq,
                          const std::string& classification) {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      hashmatch::v1::MatchResponse r;
      if (Match(pdq, &r) && r.matches_size() > 0 &&
          r.matches(0).classification() == classification) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  // Polls until `pdq` has verdict `want` (10 s at most).
  bool WaitVerdict(const std::string& pdq, hashmatch::v1::Verdict want) {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      if (Verdict(pdq) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  // The sum of `family`'s samples with label what="`what`" (every sample
  // when `what` is empty); -1 when /metrics cannot be read.
  double Metric(const std::string& what,
                const std::string& family = "hashmatch_follow") {
    absl::StatusOr<std::string> text = HttpGet(metrics_port_, "/metrics");
    if (!text.ok()) return -1;
    if (what.empty()) return PrometheusSum(*text, family);
    return PrometheusSum(*text, family, {{"what", what}});
  }

  // Waits until the follower applied `sequence` (metrics, 20 s at most).
  bool WaitApplied(uint64_t sequence) {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
      if (Metric("applied_sequence") == static_cast<double>(sequence)) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string Digest() {
    RunResult r = RunBinary(HASHMATCH_BINARY, {"db", "digest", dir_ + "/db"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  ServerProcess& process() { return process_; }
  // The match server's HOST:PORT once started, and its channel.
  const std::string& address() const { return address_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  const std::string& db() const { return dir_; }

 private:
  std::string dir_;
  std::string primary_;
  std::string token_;
  ServerProcess process_;
  int metrics_port_ = 0;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hashmatch::v1::MatchService::Stub> match_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Every sequence in a follower's change log once, consecutive, from `first`
// to `last` (its last sequence).
inline void ExpectNoGapNoDuplicate(const std::string& db, uint64_t first,
                                   uint64_t last) {
  StoreOptions options;
  options.create_if_missing = false;
  options.read_only = true;
  auto store = HashStore::Open(options, db);
  ASSERT_TRUE(store.ok()) << store.status();
  auto changes = (*store)->ChangesSince(0, 100000);
  ASSERT_TRUE(changes.ok());
  ASSERT_FALSE(changes->empty());
  EXPECT_EQ(changes->front().sequence(), first);
  for (size_t i = 1; i < changes->size(); ++i) {
    ASSERT_EQ((*changes)[i].sequence(), (*changes)[i - 1].sequence() + 1);
  }
  EXPECT_EQ(changes->back().sequence(), last);
  EXPECT_EQ((*store)->LastSequence(), last);
}

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_FOLLOWER_PROCESS_H_
