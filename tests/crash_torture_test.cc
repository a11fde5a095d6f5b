// Crash torture (issue 14, item 4): SIGKILL in a loop under streaming
// submits, of the primary (ingest_server) and, separately, of a follower
// (match_server --follow). After every restart of the primary, every
// acknowledged request is wholly present and no request is half there; at
// the end `hashmatch db verify` and `hashmatch audit verify` pass on its
// data, and a follower killed again and again converges to the primary's
// `hashmatch db digest`.
//
// Cycles: HASHMATCH_TORTURE_CYCLES (default 10, what CI runs);
// deploy/crash_torture.sh runs 100 of each and prints the figures.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::ServerProcess;
using testing_util::TempDir;

constexpr int kPerRequest = 20;

int Cycles() {
  const char* env = std::getenv("HASHMATCH_TORTURE_CYCLES");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 10;
}

std::string HashOf(int request, int item) {
  std::string h(32, '\0');
  uint64_t x = static_cast<uint64_t>(request) * 1000003u +
               static_cast<uint64_t>(item) * 7919u + 1;
  for (char& c : h) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x & 0xff);
  }
  return h;
}

v1::SubmitRequest Request(int request) {
  v1::SubmitRequest r;
  for (int i = 0; i < kPerRequest; ++i) {
    v1::Submission* s = r.add_submissions();
    s->set_external_id(absl::StrCat("r", request, "-", i));
    s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    s->mutable_hash()->set_raw(HashOf(request, i));
    s->set_classification("test");
  }
  return r;
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                         int seconds = 30) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() +
                  std::chrono::seconds(seconds));
  c->AddMetadata("authorization", "Bearer " + token);
  return c;
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureChannelCredentials());
}

class CrashTortureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    testing_util::RunResult key = testing_util::RunBinary(
        HASHMATCH_BINARY, {"audit", "keygen", "--out", dir_.path() + "/audit"});
    ASSERT_EQ(key.exit_code, 0) << key.err;
  }

  // Starts (or restarts) ingest_server on DIR/data; returns its port.
  int StartPrimary(ServerProcess* server) {
    const std::string port_file = absl::StrCat(dir_.path(), "/port", ++runs_);
    absl::Status s = server->Start(
        INGEST_SERVER_BINARY,
        {"--data", dir_.path() + "/data", "--listen", "127.0.0.1:0",
         "--port_file", port_file, "--metrics_listen", "", "--audit_key",
         dir_.path() + "/audit.key", "--bootstrap_admin", "admin",
         "--bootstrap_token_file", dir_.path() + "/admin.token"},
        dir_.path());
    EXPECT_TRUE(s.ok()) << s;
    absl::StatusOr<int> port = server->WaitForPortFile(port_file);
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }

  // A new principal with `role`; its token.
  std::string AddPrincipal(int port, const std::string& name, v1::Role role) {
    const std::string admin_token(absl::StripAsciiWhitespace(
        testing_util::ReadWholeFile(dir_.path() + "/admin.token")));
    v1::AddPrincipalRequest add;
    add.mutable_principal()->set_name(name);
    add.mutable_principal()->add_roles(role);
    add.set_issue_token(true);
    v1::AddPrincipalResponse added;
    grpc::Status st = v1::AdminService::NewStub(Channel(port))
                          ->AddPrincipal(Ctx(admin_token).get(), add, &added);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return added.token();
  }

  // Requests present in the export, by number, with their entry counts.
  std::map<int, int> Present(int port, const std::string& token) {
    std::map<int, int> per_request;
    auto ctx = Ctx(token, 120);
    auto reader = v1::IngestService::NewStub(Channel(port))
                      ->ExportEntries(ctx.get(), v1::ExportEntriesRequest());
    v1::Entry e;
    while (reader->Read(&e)) {
      const std::string& ext = e.external_id();
      ++per_request[std::stoi(ext.substr(1, ext.find('-') - 1))];
    }
    grpc::Status st = reader->Finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    return per_request;
  }

  // Streams requests from `first` on; each acknowledged one is recorded in
  // `acked` and counted. Ends when the stream breaks or `stop` is set.
  void Stream(int port, const std::string& token, int first,
              std::atomic<int>* acked, std::atomic<bool>* stop,
              int pause_ms = 0) {
    auto ctx = Ctx(token, 600);
    auto stream =
        v1::IngestService::NewStub(Channel(port))->SubmitStream(ctx.get());
    for (int k = first; !stop->load(); ++k) {
      if (!stream->Write(Request(k))) break;
      v1::SubmitResponse r;
      if (!stream->Read(&r)) break;
      EXPECT_EQ(r.entries_size(), kPerRequest);
      acked->store(k + 1);
      if (pause_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      }
    }
    if (stop->load()) stream->WritesDone();
    stream->Finish();
  }

  TempDir dir_{"crash_torture"};
  int runs_ = 0;
  std::mt19937 rng_{std::random_device()()};
};

TEST_F(CrashTortureTest, PrimaryKilledInALoopKeepsEveryAcknowledgedRequest) {
  const int cycles = Cycles();
  std::string token;
  int acked_total = 0;  // Requests 0..acked_total-1 were acknowledged.
  for (int cycle = 0; cycle < cycles; ++cycle) {
    ServerProcess server;
    const int port = StartPrimary(&server);
    ASSERT_GT(port, 0);
    if (cycle == 0) token = AddPrincipal(port, "hotline-a", v1::ROLE_AGENCY);
    ASSERT_FALSE(token.empty());
    // After a kill: every acknowledged request whole; at most the one in
    // flight at the kill beyond them, whole or absent.
    const std::map<int, int> present = Present(port, token);
    for (const auto& [k, count] : present) {
      ASSERT_EQ(count, kPerRequest)
          << "cycle " << cycle << ": request " << k << " is half there";
      ASSERT_LE(k, acked_total) << "request " << k << " was never sent";
    }
    for (int k = 0; k < acked_total; ++k) {
      ASSERT_TRUE(present.count(k))
          << "acknowledged request " << k << " lost in cycle " << cycle;
    }
    // Stream on from the first unacknowledged request (a resend of one
    // already written is idempotent), kill after 3..20 more
    // acknowledgements and a random 0..20 ms.
    std::atomic<int> acked{acked_total};
    std::atomic<bool> stop{false};
    const int target = acked_total + 3 + static_cast<int>(rng_() % 18);
    std::thread client(
        [&] { Stream(port, token, acked_total, &acked, &stop); });
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (acked.load() < target &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 20000));
    ASSERT_TRUE(server.Signal(SIGKILL));
    EXPECT_EQ(server.Wait(), 128 + SIGKILL);
    client.join();
    ASSERT_GE(acked.load(), target);
    acked_total = acked.load();
  }
  // A last start: everything checked once more, then a clean stop and the
  // offline checks of the store and the audit chain.
  ServerProcess server;
  const int port = StartPrimary(&server);
  ASSERT_GT(port, 0);
  const std::map<int, int> present = Present(port, token);
  for (int k = 0; k < acked_total; ++k) ASSERT_TRUE(present.count(k)) << k;
  for (const auto& [k, count] : present) ASSERT_EQ(count, kPerRequest) << k;
  ASSERT_EQ(server.Stop(SIGTERM), 0) << server.Stderr();
  testing_util::RunResult verify = testing_util::RunBinary(
      HASHMATCH_BINARY, {"db", "verify", dir_.path() + "/data/store"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  testing_util::RunResult audit = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"audit", "verify", "--log", dir_.path() + "/data/audit", "--public_key",
       dir_.path() + "/audit.pub"});
  EXPECT_EQ(audit.exit_code, 0) << audit.out << audit.err;
  std::printf(
      "primary torture: %d SIGKILL cycles, %d requests (%d entries) "
      "acknowledged, all present and none half there after every restart; "
      "db verify and audit verify passed\n",
      cycles, acked_total, acked_total * kPerRequest);
}

TEST_F(CrashTortureTest, FollowerKilledInALoopConvergesToThePrimary) {
  const int cycles = Cycles();
  ServerProcess primary;
  const int port = StartPrimary(&primary);
  ASSERT_GT(port, 0);
  const std::string token = AddPrincipal(port, "hotline-a", v1::ROLE_AGENCY);
  const std::string replica = AddPrincipal(port, "replica-1", v1::ROLE_REPLICA);
  ASSERT_TRUE(
      testing_util::WriteWholeFile(dir_.path() + "/replica.token", replica));
  std::atomic<int> acked{0};
  std::atomic<bool> stop{false};
  // A steady trickle (a request of 20 entries every 5 ms at most), so the
  // store stays small however many cycles run.
  std::thread client([&] { Stream(port, token, 0, &acked, &stop, 5); });

  const std::vector<std::string> follower_flags = {
      "--db",
      dir_.path() + "/follower",
      "--listen",
      "127.0.0.1:0",
      "--metrics_listen",
      "127.0.0.1:0",
      "--metrics_port_file",
      dir_.path() + "/fmetrics",
      "--follow",
      absl::StrCat("127.0.0.1:", port),
      "--follow_token_file",
      dir_.path() + "/replica.token"};
  for (int cycle = 0; cycle < cycles; ++cycle) {
    ServerProcess follower;
    ASSERT_TRUE(
        follower.Start(MATCH_SERVER_BINARY, follower_flags, dir_.path()).ok());
    // Let it apply some of the stream (20..300 ms), then kill it.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(20 + static_cast<int>(rng_() % 280)));
    ASSERT_TRUE(follower.Signal(SIGKILL));
    EXPECT_EQ(follower.Wait(), 128 + SIGKILL);
  }
  stop = true;
  client.join();
  ASSERT_GT(acked.load(), 0);

  // A last follower, until it has caught up with the (now idle) primary.
  ServerProcess follower;
  std::remove((dir_.path() + "/fmetrics").c_str());
  ASSERT_TRUE(
      follower.Start(MATCH_SERVER_BINARY, follower_flags, dir_.path()).ok());
  absl::StatusOr<int> metrics =
      follower.WaitForPortFile(dir_.path() + "/fmetrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  auto gauge = [&](const std::string& what) {
    absl::StatusOr<std::string> text =
        testing_util::HttpGet(*metrics, "/metrics");
    return text.ok() ? testing_util::PrometheusSum(*text, "hashmatch_follow",
                                                   {{"what", what}})
                     : -1;
  };
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool caught_up = false;
  while (!caught_up && std::chrono::steady_clock::now() < deadline) {
    caught_up = gauge("connected") == 1 && gauge("lag_sequences") == 0 &&
                gauge("applied_sequence") > 0;
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(caught_up) << follower.Stderr();
  ASSERT_EQ(follower.Stop(SIGTERM), 0) << follower.Stderr();
  ASSERT_EQ(primary.Stop(SIGTERM), 0) << primary.Stderr();
  testing_util::RunResult a = testing_util::RunBinary(
      HASHMATCH_BINARY, {"db", "digest", dir_.path() + "/data/store"});
  testing_util::RunResult b = testing_util::RunBinary(
      HASHMATCH_BINARY, {"db", "digest", dir_.path() + "/follower"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  testing_util::RunResult verify = testing_util::RunBinary(
      HASHMATCH_BINARY, {"db", "verify", dir_.path() + "/follower"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  std::printf(
      "follower torture: %d SIGKILL cycles under a stream of %d requests (%d "
      "entries); converged, digests equal (%s)\n",
      cycles, acked.load(), acked.load() * kPerRequest,
      std::string(absl::StripAsciiWhitespace(a.out)).c_str());
}

}  // namespace
}  // namespace hashmatch
