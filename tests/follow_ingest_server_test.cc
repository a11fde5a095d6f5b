// The change feed end to end with real processes only: one ingest_server
// (principals added through AdminService, hashes through IngestService) and
// two `match_server --follow` followers with a replica principal's token.
// Submissions, a resubmission that updates an entry, and retractions reach
// both; a follower SIGKILLed and restarted resumes with no gap and no
// duplicate; the ingest_server restarted (SIGTERM, same port) is followed
// again; the followers' store digests equal the ingest_server's. And the
// ingest_server SIGKILLed in the middle of a SubmitStream: after its restart
// every acknowledged entry is there and both followers converge on its
// digest.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/follower_process.h"
#include "tests/ingest_server_process.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::FollowerProcess;
using testing_util::IngestServerProcess;
using testing_util::RandomPdq;

TEST(FollowIngestServerTest, TwoFollowersOfARealIngestServerConverge) {
  testing_util::TempDir dir("follow_ingest_server_test");
  ASSERT_FALSE(dir.path().empty());
  std::filesystem::create_directories(dir.path() + "/ingest");
  IngestServerProcess ingest(dir.path() + "/ingest");
  ASSERT_TRUE(ingest.Start().ok()) << ingest.process().Stderr();
  const std::string agency = ingest.AddPrincipal("hotline-a", v1::ROLE_AGENCY);
  const std::string replica =
      ingest.AddPrincipal("replica-1", v1::ROLE_REPLICA);
  ASSERT_FALSE(agency.empty());
  ASSERT_FALSE(replica.empty());

  std::mt19937_64 rng(11);
  std::vector<std::string> h;
  for (int i = 0; i < 8; ++i) h.push_back(RandomPdq(rng));
  const uint64_t e0 = ingest.Submit(agency, "e0", h[0]);
  const uint64_t e1 = ingest.Submit(agency, "e1", h[1]);
  const uint64_t e2 = ingest.Submit(agency, "e2", h[2]);
  ingest.Retract(agency, e2);

  FollowerProcess a(dir.path() + "/a", ingest.address(), replica);
  FollowerProcess b(dir.path() + "/b", ingest.address(), replica);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(a.WaitServing()) << a.process().Stderr();
  ASSERT_TRUE(b.WaitServing()) << b.process().Stderr();
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_EQ(f->Verdict(h[0]), v1::VERDICT_MATCH);
    EXPECT_EQ(f->Verdict(h[2]), v1::VERDICT_NO_MATCH);
  }

  // Submit; resubmit e1 with a new classification (an update of the same
  // entry); retract e0.
  ingest.Submit(agency, "e3", h[3]);
  EXPECT_EQ(ingest.Submit(agency, "e1", h[1], "B2"), e1);
  ingest.Retract(agency, e0);
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_TRUE(f->WaitVerdict(h[3], v1::VERDICT_MATCH));
    EXPECT_TRUE(f->WaitClassification(h[1], "B2"));
    EXPECT_TRUE(f->WaitVerdict(h[0], v1::VERDICT_NO_MATCH));
  }
  const uint64_t before_kill = ingest.LastSequence();
  ASSERT_TRUE(a.WaitApplied(before_kill));

  // Follower a is killed; the ingest_server moves on, then restarts.
  a.process().Signal(SIGKILL);
  EXPECT_EQ(a.process().Wait(), 128 + SIGKILL);
  ingest.Submit(agency, "e5", h[5]);
  ingest.Retract(agency, e1);
  EXPECT_TRUE(b.WaitVerdict(h[5], v1::VERDICT_MATCH));
  const int port = ingest.port();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
  ASSERT_TRUE(ingest.Start(port).ok()) << ingest.process().Stderr();
  // The drain ended b's stream with UNAVAILABLE, not a cancellation.
  EXPECT_TRUE(absl::StrContains(b.process().Stderr(), "server draining"))
      << b.process().Stderr();
  ingest.Submit(agency, "e6", h[6]);
  ASSERT_TRUE(a.Start().ok());  // Same --db: resumes.
  ASSERT_TRUE(a.WaitServing()) << a.process().Stderr();
  EXPECT_FALSE(
      absl::StrContains(a.process().Stderr(), "follow_snapshot_loaded"));
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_TRUE(f->WaitVerdict(h[6], v1::VERDICT_MATCH));
    EXPECT_TRUE(f->WaitVerdict(h[1], v1::VERDICT_NO_MATCH));
  }

  const uint64_t last = ingest.LastSequence();
  ASSERT_TRUE(a.WaitApplied(last));
  ASSERT_TRUE(b.WaitApplied(last));
  const std::string want = ingest.Digest();
  EXPECT_EQ(a.Digest(), want);
  EXPECT_EQ(b.Digest(), want);
  // The snapshot was at sequence 4 (3 submits, 1 retraction).
  testing_util::ExpectNoGapNoDuplicate(dir.path() + "/a/db", 5, last);
  testing_util::ExpectNoGapNoDuplicate(dir.path() + "/b/db", 5, last);

  EXPECT_EQ(a.process().Stop(SIGTERM), 0) << a.process().Stderr();
  EXPECT_EQ(b.process().Stop(SIGTERM), 0) << b.process().Stderr();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
}

TEST(FollowIngestServerTest,
     IngestServerKilledMidSubmitStreamFollowersConverge) {
  testing_util::TempDir dir("follow_ingest_server_kill_test");
  ASSERT_FALSE(dir.path().empty());
  std::filesystem::create_directories(dir.path() + "/ingest");
  IngestServerProcess ingest(dir.path() + "/ingest");
  ASSERT_TRUE(ingest.Start().ok()) << ingest.process().Stderr();
  const std::string agency = ingest.AddPrincipal("hotline-a", v1::ROLE_AGENCY);
  const std::string replica =
      ingest.AddPrincipal("replica-1", v1::ROLE_REPLICA);
  ASSERT_FALSE(agency.empty());
  FollowerProcess a(dir.path() + "/a", ingest.address(), replica);
  FollowerProcess b(dir.path() + "/b", ingest.address(), replica);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(a.WaitServing()) << a.process().Stderr();
  ASSERT_TRUE(b.WaitServing()) << b.process().Stderr();

  // A stream of requests of kPerRequest random hashes, one in flight.
  constexpr int kPerRequest = 50;
  std::mt19937_64 rng(29);
  std::vector<std::vector<std::string>> hashes(400);
  for (auto& request : hashes) {
    for (int i = 0; i < kPerRequest; ++i) request.push_back(RandomPdq(rng));
  }
  std::mutex mu;
  std::vector<v1::SubmitResponse> acked;
  std::atomic<int> acked_count{0};
  std::thread client([&] {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + agency);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    auto stream =
        v1::IngestService::NewStub(ingest.channel())->SubmitStream(&context);
    for (size_t k = 0; k < hashes.size(); ++k) {
      v1::SubmitRequest request;
      for (int i = 0; i < kPerRequest; ++i) {
        v1::Submission* sub = request.add_submissions();
        sub->set_external_id(absl::StrCat("r", k, "-", i));
        sub->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
        sub->mutable_hash()->set_raw(hashes[k][i]);
      }
      if (!stream->Write(request)) break;
      v1::SubmitResponse response;
      if (!stream->Read(&response)) break;
      std::lock_guard<std::mutex> lock(mu);
      acked.push_back(response);
      ++acked_count;
    }
    stream->Finish().ok();
  });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (acked_count.load() < 10 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(ingest.process().Signal(SIGKILL));
  EXPECT_EQ(ingest.process().Wait(), 128 + SIGKILL);
  client.join();
  const size_t n_acked = acked.size();
  ASSERT_GE(n_acked, 10u);
  ASSERT_LT(n_acked, hashes.size()) << "the stream ended before the kill";

  const int port = ingest.port();
  ASSERT_TRUE(ingest.Start(port).ok()) << ingest.process().Stderr();
  // Every acknowledged entry is there after the restart, with its id.
  auto stub = v1::IngestService::NewStub(ingest.channel());
  for (size_t k = 0; k < n_acked; ++k) {
    ASSERT_EQ(acked[k].entries_size(), kPerRequest);
    for (int i = 0; i < kPerRequest; i += 7) {
      v1::GetEntryRequest get;
      get.set_entry_id(acked[k].entries(i).id());
      v1::Entry entry;
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + agency);
      grpc::Status s = stub->GetEntry(&context, get, &entry);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(entry.hash(), hashes[k][i]);
      EXPECT_EQ(entry.external_id(), absl::StrCat("r", k, "-", i));
      EXPECT_EQ(entry.state(), v1::VETTING_STATE_ACTIVE);
    }
  }
  // The followers reconnect (counted: issue 14, defect 7b) and converge on
  // the restarted server's store.
  for (FollowerProcess* f : {&a, &b}) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until &&
           f->Metric("", "hashmatch_follow_reconnects_total") < 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(f->Metric("", "hashmatch_follow_reconnects_total"), 1)
        << f->process().Stderr();
  }
  const uint64_t last = ingest.LastSequence();
  ASSERT_GE(last, n_acked * kPerRequest);
  ASSERT_TRUE(a.WaitApplied(last)) << a.process().Stderr();
  ASSERT_TRUE(b.WaitApplied(last)) << b.process().Stderr();
  const std::string want = ingest.Digest();
  EXPECT_EQ(a.Digest(), want);
  EXPECT_EQ(b.Digest(), want);
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_EQ(f->Verdict(hashes[n_acked - 1][kPerRequest - 1]),
              v1::VERDICT_MATCH);
  }
  EXPECT_EQ(a.process().Stop(SIGTERM), 0) << a.process().Stderr();
  EXPECT_EQ(b.process().Stop(SIGTERM), 0) << b.process().Stderr();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
}

}  // namespace
}  // namespace hashmatch
