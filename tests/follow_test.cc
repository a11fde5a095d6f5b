// End-to-end test of the change feed: two real match_server processes run
// with --follow against a primary, and the test changes the primary's store
// and watches the followers through MatchHashes, health, metrics and
// `hashmatch db digest`.
//
// The primary is tests/fake_primary.h (a test fake hosting the real
// ReplicationServiceImpl over a real store in this process) until
// ingest_server is the primary in these tests. Entries are random PDQ hashes
// so that a MATCH on a follower proves its index (not only its store) caught
// up; the followers run with --catch_up_interval_ms 600000 so only the
// catch-up after each applied batch can do that.
#include <signal.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "tests/fake_primary.h"
#include "tests/follower_process.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::ExpectNoGapNoDuplicate;
using testing_util::FollowerProcess;
using testing_util::RandomPdq;
using testing_util::ServerProcess;
using testing_util::TempDir;

constexpr char kToken[] = "replica-secret-token";

std::string Address(int port) { return absl::StrCat("127.0.0.1:", port); }

v1::Entry PdqEntry(const std::string& hash, const std::string& ext) {
  v1::Entry e;
  e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  e.set_hash(hash);
  e.set_source_agency("agency-a");
  e.set_external_id(ext);
  e.set_state(v1::VETTING_STATE_ACTIVE);
  return e;
}

std::string DigestText(HashStore& store) {
  absl::StatusOr<StoreDigest> d = store.Digest();
  EXPECT_TRUE(d.ok()) << d.status();
  if (!d.ok()) return "";
  return absl::StrCat("digest\t", absl::BytesToHexString(d->sha256),
                      "\nlast_sequence\t", d->last_sequence, "\nentries\t",
                      d->entries, "\n");
}

TEST(FollowTest, TwoFollowersConvergeThroughUpdatesRetractionsAndARestart) {
  TempDir dir("follow_test");
  ASSERT_FALSE(dir.path().empty());
  std::mt19937_64 rng(7);
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir.path() + "/primary", kToken).ok());
  HashStore* store = primary.store();

  // Before the followers exist: 3 entries, one retracted (the snapshot
  // carries a tombstone).
  std::vector<std::string> h;
  for (int i = 0; i < 8; ++i) h.push_back(RandomPdq(rng));
  auto first = store->Put(
      {PdqEntry(h[0], "e0"), PdqEntry(h[1], "e1"), PdqEntry(h[2], "e2")});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(store->Retract((*first)[2].id(), "agency-a", "mistake").ok());
  ASSERT_EQ(store->LastSequence(), 4u);

  FollowerProcess a(dir.path() + "/a", Address(primary.port()), kToken);
  FollowerProcess b(dir.path() + "/b", Address(primary.port()), kToken);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(a.WaitServing()) << a.process().Stderr();
  ASSERT_TRUE(b.WaitServing()) << b.process().Stderr();
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_EQ(f->Verdict(h[0]), v1::VERDICT_MATCH);
    EXPECT_EQ(f->Verdict(h[2]), v1::VERDICT_NO_MATCH);  // Tombstone.
    EXPECT_EQ(f->Metric("bootstrapped"), 1);
    EXPECT_TRUE(absl::StrContains(f->process().Stderr(),
                                  "\"event\":\"follow_snapshot_loaded\""))
        << f->process().Stderr();
  }

  // Add (through IngestService.Submit), update (the hash of e1 changes),
  // retract: each reaches both.
  {
    auto ingest = v1::IngestService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", primary.port()),
                            grpc::InsecureChannelCredentials()));
    v1::SubmitRequest request;
    v1::Submission* sub = request.add_submissions();
    sub->set_external_id("e3");
    sub->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    sub->mutable_hash()->set_raw(h[3]);
    v1::SubmitResponse response;
    grpc::ClientContext context;
    context.AddMetadata(
        "authorization",
        absl::StrCat("Bearer ", testing_util::FakeIngestPrimary::kAgencyToken));
    grpc::Status submitted = ingest->Submit(&context, request, &response);
    ASSERT_TRUE(submitted.ok()) << submitted.error_message();
    ASSERT_EQ(response.entries_size(), 1);
    EXPECT_EQ(response.entries(0).state(), v1::VETTING_STATE_ACTIVE);
  }
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_TRUE(f->WaitVerdict(h[3], v1::VERDICT_MATCH));
  }
  ASSERT_TRUE(store->Put({PdqEntry(h[4], "e1")}).ok());
  for (FollowerProcess* f : {&a, &b}) {
    uint64_t id = 0;
    EXPECT_TRUE(f->WaitVerdict(h[4], v1::VERDICT_MATCH));
    EXPECT_EQ(f->Verdict(h[4], &id), v1::VERDICT_MATCH);
    EXPECT_EQ(id, (*first)[1].id());
    EXPECT_EQ(f->Verdict(h[1]), v1::VERDICT_NO_MATCH);
  }
  ASSERT_TRUE(store->Retract((*first)[0].id(), "agency-a", "withdrawn").ok());
  for (FollowerProcess* f : {&a, &b}) {
    EXPECT_TRUE(f->WaitVerdict(h[0], v1::VERDICT_NO_MATCH));
  }
  const uint64_t before_kill = store->LastSequence();
  ASSERT_TRUE(a.WaitApplied(before_kill));

  // Follower a dies hard; the primary moves on without it.
  a.process().Signal(SIGKILL);
  EXPECT_EQ(a.process().Wait(), 128 + SIGKILL);
  ASSERT_TRUE(store->Put({PdqEntry(h[5], "e5"), PdqEntry(h[6], "e6")}).ok());
  ASSERT_TRUE(store->Retract((*first)[1].id(), "agency-a", "gone").ok());
  EXPECT_TRUE(b.WaitVerdict(h[5], v1::VERDICT_MATCH));
  ASSERT_TRUE(a.Start().ok());  // Same --db.
  ASSERT_TRUE(a.WaitServing()) << a.process().Stderr();
  const std::string restart_log = a.process().Stderr();
  EXPECT_TRUE(absl::StrContains(
      restart_log, absl::StrCat("\"store_sequence\":", before_kill)))
      << restart_log;
  EXPECT_FALSE(absl::StrContains(restart_log, "follow_snapshot_loaded"))
      << "resumed, not bootstrapped again: " << restart_log;
  EXPECT_TRUE(a.WaitVerdict(h[5], v1::VERDICT_MATCH));
  EXPECT_TRUE(a.WaitVerdict(h[6], v1::VERDICT_MATCH));
  EXPECT_TRUE(a.WaitVerdict(h[4], v1::VERDICT_NO_MATCH));

  // One more live change after the restart, then everything converges.
  ASSERT_TRUE(store->Put({PdqEntry(h[7], "e7")}).ok());
  const uint64_t last = store->LastSequence();
  ASSERT_EQ(last, 11u);
  ASSERT_TRUE(a.WaitApplied(last));
  ASSERT_TRUE(b.WaitApplied(last));
  EXPECT_EQ(a.Metric("lag_sequences"), 0);
  EXPECT_EQ(a.Metric("primary_sequence"), static_cast<double>(last));
  EXPECT_EQ(a.Metric("connected"), 1);
  const std::string want = DigestText(*store);
  EXPECT_EQ(a.Digest(), want);
  EXPECT_EQ(b.Digest(), want);
  // Each follower's log: the changes after the snapshot (sequence 4), each
  // once, in order, with no gap across a's restart.
  ExpectNoGapNoDuplicate(a.db() + "/db", 5, last);
  ExpectNoGapNoDuplicate(b.db() + "/db", 5, last);

  EXPECT_EQ(a.process().Stop(SIGTERM), 0) << a.process().Stderr();
  EXPECT_EQ(b.process().Stop(SIGTERM), 0) << b.process().Stderr();
}

TEST(FollowTest, NotServingUntilBootstrappedAndWrongTokenIsRetried) {
  TempDir dir("follow_test");
  ASSERT_FALSE(dir.path().empty());
  // A primary that is not there yet: the follower serves gRPC but stays
  // NOT_SERVING, with bootstrapped 0.
  int free_port = 0;
  {
    testing_util::FakeIngestPrimary probe;
    ASSERT_TRUE(probe.Start(dir.path() + "/probe", kToken).ok());
    free_port = probe.port();
  }
  FollowerProcess f(dir.path() + "/f", Address(free_port), kToken);
  ASSERT_TRUE(f.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(f.Serving());
  EXPECT_EQ(f.Metric("bootstrapped"), 0);
  EXPECT_EQ(f.Metric("connected"), 0);

  // The primary comes up on that port: the follower reconnects, loads the
  // snapshot and serves.
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir.path() + "/primary", kToken, free_port).ok());
  std::mt19937_64 rng(9);
  const std::string hash = RandomPdq(rng);
  ASSERT_TRUE(primary.store()->Put({PdqEntry(hash, "x")}).ok());
  ASSERT_TRUE(f.WaitServing()) << f.process().Stderr();
  EXPECT_TRUE(f.WaitVerdict(hash, v1::VERDICT_MATCH));
  EXPECT_TRUE(absl::StrContains(f.process().Stderr(), "follow_stream_ended"));
  EXPECT_EQ(f.process().Stop(SIGTERM), 0) << f.process().Stderr();

  // A token the primary does not know: UNAUTHENTICATED, logged, retried;
  // the store stays untouched and the server NOT_SERVING.
  ServerProcess bad;
  testing_util::WriteWholeFile(dir.path() + "/bad_token", "wrong\n");
  ASSERT_TRUE(bad.Start(MATCH_SERVER_BINARY,
                        {"--db", dir.path() + "/bad_db", "--follow",
                         absl::StrCat("127.0.0.1:", primary.port()),
                         "--follow_token_file", dir.path() + "/bad_token",
                         "--listen", "127.0.0.1:0", "--port_file",
                         dir.path() + "/bad_port", "--metrics_listen", ""},
                        dir.path())
                  .ok());
  ASSERT_TRUE(bad.WaitForPortFile(dir.path() + "/bad_port").ok());
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end &&
         !absl::StrContains(bad.Stderr(), "UNAUTHENTICATED")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(absl::StrContains(bad.Stderr(), "UNAUTHENTICATED"))
      << bad.Stderr();
  EXPECT_EQ(bad.Stop(SIGTERM), 0) << bad.Stderr();

  // --seed_demo is refused with --follow (exit 2, nothing started).
  testing_util::RunResult r = testing_util::RunBinary(
      MATCH_SERVER_BINARY,
      {"--db", dir.path() + "/demo", "--follow", "127.0.0.1:1", "--seed_demo"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "--seed_demo cannot be used")) << r.err;
}

}  // namespace
}  // namespace hashmatch
