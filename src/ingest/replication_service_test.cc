// ReplicationServiceImpl against an in-process primary: a real HashStore
// and a gRPC server on loopback, read through the generated stub.
#include "src/ingest/replication_service.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/fake_authenticator.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;
using ::testing::HasSubstr;

std::string Bytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  std::mt19937_64 rng(seed);
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

v1::Entry Pdq(uint64_t seed) {
  v1::Entry e;
  e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  e.set_hash(Bytes(32, seed));
  e.set_source_agency("ag");
  e.set_external_id(absl::StrCat("x", seed));
  e.set_state(v1::VETTING_STATE_ACTIVE);
  return e;
}

template <typename T>
std::vector<T> ToVector(const google::protobuf::RepeatedPtrField<T>& items) {
  return std::vector<T>(items.begin(), items.end());
}

class ReplicationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(::testing::TempDir(), "/replication_test_", getpid(),
                        "_", info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auth_.Add("replica-token", "replica-1", v1::ROLE_REPLICA);
    auth_.Add("agency-token", "agency-1", v1::ROLE_AGENCY);
    options_.now_micros = [] { return int64_t{1234567}; };
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    service_.reset();
    primary_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Opens the primary store (at `name`) and serves it.
  void StartPrimary(const std::string& name = "primary") {
    StoreOptions store_options;
    store_options.sync = false;
    store_options.on_commit = [this](uint64_t s) {
      if (ReplicationServiceImpl* f = feed_.load()) f->NotifyCommitted(s);
    };
    auto store = HashStore::Open(store_options, dir_ + "/" + name);
    ASSERT_TRUE(store.ok()) << store.status();
    primary_ = *std::move(store);
    service_ = std::make_unique<ReplicationServiceImpl>(primary_.get(), &auth_,
                                                        options_);
    feed_.store(service_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    server_address_ = absl::StrCat("127.0.0.1:", port);
    stub_ = v1::ReplicationService::NewStub(grpc::CreateChannel(
        server_address_, grpc::InsecureChannelCredentials()));
  }

  struct Watch {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::WatchChangesResponse>> reader;
  };
  Watch Open(uint64_t after, bool snapshot,
             const std::string& token = "replica-token") {
    Watch w;
    w.context = std::make_unique<grpc::ClientContext>();
    w.context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(20));
    if (!token.empty()) {
      w.context->AddMetadata("authorization", "Bearer " + token);
    }
    v1::WatchChangesRequest request;
    request.set_after_sequence(after);
    request.set_snapshot(snapshot);
    request.set_follower("test");
    w.reader = stub_->WatchChanges(w.context.get(), request);
    return w;
  }
  // Reads until a message of kind `kind` (skipping heartbeats unless asked
  // for), collecting changes on the way.
  grpc::Status FinishOf(Watch& w) {
    v1::WatchChangesResponse r;
    while (w.reader->Read(&r)) {
    }
    return w.reader->Finish();
  }

  std::string dir_;
  testing_util::FakeAuthenticator auth_;
  ReplicationServiceOptions options_;
  std::atomic<ReplicationServiceImpl*> feed_{nullptr};
  std::unique_ptr<HashStore> primary_;
  std::unique_ptr<ReplicationServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string server_address_;
  std::unique_ptr<v1::ReplicationService::Stub> stub_;
};

TEST_F(ReplicationServiceTest, CredentialsAndRoleAreChecked) {
  StartPrimary();
  Watch none = Open(0, false, "");
  grpc::Status s = FinishOf(none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Watch agency = Open(0, false, "agency-token");
  s = FinishOf(agency);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("WatchChanges"));
}

TEST_F(ReplicationServiceTest, AheadOfThePrimaryIsOutOfRange) {
  StartPrimary();
  ASSERT_TRUE(primary_->Put({Pdq(1)}).ok());
  Watch w = Open(2, false);
  grpc::Status s = FinishOf(w);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(s.error_message(), HasSubstr("after_sequence 2"));
  EXPECT_THAT(s.error_message(), HasSubstr("last sequence 1"));
}

TEST_F(ReplicationServiceTest, ChangesInOrderThenLiveChangesPushedAtOnce) {
  options_.max_batch_changes = 2;
  options_.heartbeat_interval_ms = 60000;  // Live changes must not wait.
  StartPrimary();
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(primary_->Put({Pdq(i)}).ok());
  Watch w = Open(1, false);
  std::vector<uint64_t> got;
  v1::WatchChangesResponse r;
  while (got.size() < 4 && w.reader->Read(&r)) {
    ASSERT_EQ(r.kind_case(), v1::WatchChangesResponse::kChanges);
    EXPECT_LE(r.changes().changes_size(), 2);
    EXPECT_EQ(r.primary_sequence(), 5u);
    EXPECT_EQ(r.primary_time_micros(), 1234567);
    for (const v1::Change& c : r.changes().changes()) {
      got.push_back(c.sequence());
    }
  }
  EXPECT_EQ(got, (std::vector<uint64_t>{2, 3, 4, 5}));
  // A write after the backlog is pushed by the commit listener, long before
  // the (one minute) heartbeat tick.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(primary_->Retract(3, "ag", "mistake").ok());
  ASSERT_TRUE(w.reader->Read(&r));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_EQ(r.kind_case(), v1::WatchChangesResponse::kChanges);
  ASSERT_EQ(r.changes().changes_size(), 1);
  EXPECT_EQ(r.changes().changes(0).sequence(), 6u);
  EXPECT_EQ(r.changes().changes(0).kind(), v1::Change::KIND_RETRACT);
  EXPECT_EQ(r.primary_sequence(), 6u);
  EXPECT_LT(seconds, 1.0);
  w.context->TryCancel();
  EXPECT_EQ(FinishOf(w).error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ReplicationServiceTest, SnapshotWhenAskedThenChangesAfterIt) {
  options_.max_snapshot_entries = 2;
  StartPrimary();
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(primary_->Put({Pdq(i)}).ok());
  ASSERT_TRUE(primary_->Retract(2, "ag", "r").ok());

  StoreOptions follower_options;
  follower_options.sync = false;
  auto follower = HashStore::Open(follower_options, dir_ + "/follower");
  ASSERT_TRUE(follower.ok());
  Watch w = Open(0, true);
  v1::WatchChangesResponse r;
  std::vector<int> sizes;
  bool began = false;
  while (w.reader->Read(&r)) {
    if (r.has_snapshot_entries()) {
      EXPECT_EQ(r.snapshot_entries().sequence(), 6u);
      if (!began) {
        ASSERT_TRUE((*follower)->BeginSnapshot(6).ok());
      }
      began = true;
      sizes.push_back(r.snapshot_entries().entries_size());
      ASSERT_TRUE(
          (*follower)
              ->AddSnapshotEntries(ToVector(r.snapshot_entries().entries()))
              .ok());
      // A write during the snapshot is not in it: it comes as a change.
      if (sizes.size() == 1) {
        ASSERT_TRUE(primary_->Put({Pdq(6)}).ok());
      }
      continue;
    }
    ASSERT_TRUE(r.has_snapshot_end());
    EXPECT_EQ(r.snapshot_end().sequence(), 6u);
    EXPECT_EQ(r.snapshot_end().entry_count(), 5u);
    ASSERT_TRUE((*follower)->FinishSnapshot(6, 5).ok());
    break;
  }
  EXPECT_EQ(sizes, (std::vector<int>{2, 2, 1}));
  ASSERT_TRUE(w.reader->Read(&r));
  ASSERT_EQ(r.kind_case(), v1::WatchChangesResponse::kChanges);
  ASSERT_EQ(r.changes().changes_size(), 1);
  EXPECT_EQ(r.changes().changes(0).sequence(), 7u);
  ASSERT_TRUE((*follower)->ApplyChanges(ToVector(r.changes().changes())).ok());
  auto a = primary_->Digest();
  auto b = (*follower)->Digest();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sha256, b->sha256);
  EXPECT_EQ(b->last_sequence, 7u);
  w.context->TryCancel();
  FinishOf(w);
}

TEST_F(ReplicationServiceTest, SnapshotWhenTheLogCannotServeTheRequest) {
  // A primary that itself started from a snapshot at sequence 10: its log
  // begins at 11, so a follower at 3 must get a snapshot.
  {
    StoreOptions o;
    o.sync = false;
    auto seeded = HashStore::Open(o, dir_ + "/primary");
    ASSERT_TRUE(seeded.ok());
    v1::Entry e = Pdq(1);
    e.set_id(4);
    ASSERT_TRUE((*seeded)->BeginSnapshot(10).ok());
    ASSERT_TRUE((*seeded)->AddSnapshotEntries({e}).ok());
    ASSERT_TRUE((*seeded)->FinishSnapshot(10, 1).ok());
  }
  StartPrimary();
  Watch w = Open(3, false);
  v1::WatchChangesResponse r;
  ASSERT_TRUE(w.reader->Read(&r));
  ASSERT_TRUE(r.has_snapshot_entries());
  EXPECT_EQ(r.snapshot_entries().sequence(), 10u);
  ASSERT_EQ(r.snapshot_entries().entries_size(), 1);
  EXPECT_EQ(r.snapshot_entries().entries(0).id(), 4u);
  ASSERT_TRUE(w.reader->Read(&r));
  ASSERT_TRUE(r.has_snapshot_end());
  w.context->TryCancel();
  FinishOf(w);
}

TEST_F(ReplicationServiceTest, HeartbeatsCarryThePrimarySequenceWhenIdle) {
  options_.heartbeat_interval_ms = 50;
  StartPrimary();
  ASSERT_TRUE(primary_->Put({Pdq(1)}).ok());
  Watch w = Open(1, false);
  v1::WatchChangesResponse r;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(w.reader->Read(&r));
    EXPECT_TRUE(r.has_heartbeat());
    EXPECT_EQ(r.primary_sequence(), 1u);
    EXPECT_EQ(r.primary_time_micros(), 1234567);
  }
  w.context->TryCancel();
  FinishOf(w);
}

TEST_F(ReplicationServiceTest, MessageBytesLimitSplitsBatches) {
  options_.max_message_bytes = 1;  // One change per message.
  StartPrimary();
  ASSERT_TRUE(primary_->Put({Pdq(1), Pdq(2), Pdq(3)}).ok());
  Watch w = Open(0, false);
  v1::WatchChangesResponse r;
  for (uint64_t s = 1; s <= 3; ++s) {
    ASSERT_TRUE(w.reader->Read(&r));
    ASSERT_EQ(r.changes().changes_size(), 1);
    EXPECT_EQ(r.changes().changes(0).sequence(), s);
  }
  w.context->TryCancel();
  FinishOf(w);
}

TEST_F(ReplicationServiceTest, StreamsOverTheLimitAreResourceExhausted) {
  options_.max_streams = 1;
  StartPrimary();
  Watch first = Open(0, false);
  // Make sure the first stream is open on the server.
  for (int i = 0; i < 200 && service_->active_streams() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(service_->active_streams(), 1);
  Watch second = Open(0, false);
  grpc::Status s = FinishOf(second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  first.context->TryCancel();
  FinishOf(first);
  for (int i = 0; i < 200 && service_->active_streams() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->active_streams(), 0);
}

TEST_F(ReplicationServiceTest, DrainingEndsStreamsAndRefusesNewOnes) {
  options_.heartbeat_interval_ms = 60000;
  StartPrimary();
  ASSERT_TRUE(primary_->Put({Pdq(1)}).ok());
  Watch w = Open(0, false);
  v1::WatchChangesResponse r;
  ASSERT_TRUE(w.reader->Read(&r));  // Change 1; then idle.
  const auto start = std::chrono::steady_clock::now();
  service_->StartDraining();
  grpc::Status s = FinishOf(w);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("draining"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  Watch late = Open(0, false);
  EXPECT_EQ(FinishOf(late).error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A follower that stops reading: once the flow-control windows are full
// the server's write cannot complete, and after write_stall_timeout_ms the
// stream is cancelled and its slot freed. A follower that reads slowly is
// not.
TEST_F(ReplicationServiceTest, AFollowerThatStopsReadingLosesItsStream) {
  std::mutex mu;
  std::vector<std::string> timeouts;
  options_.max_streams = 1;
  options_.write_stall_timeout_ms = 500;
  options_.on_stream_timeout = [&](absl::string_view rpc,
                                   absl::string_view limit) {
    std::lock_guard<std::mutex> lock(mu);
    timeouts.push_back(absl::StrCat(rpc, "/", limit));
  };
  StartPrimary();
  // About 2 MB of snapshot, far more than the stalled client's window.
  std::vector<v1::Entry> batch;
  for (uint64_t i = 1; i <= 20000; ++i) {
    batch.push_back(Pdq(i));
    batch.back().set_note(std::string(50, 'n'));
    if (batch.size() == 1000) {
      ASSERT_TRUE(primary_->Put(batch).ok());
      batch.clear();
    }
  }
  // The attacker's client: no bandwidth probing, the default 64 KiB window.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stalled_stub = v1::ReplicationService::NewStub(grpc::CreateCustomChannel(
      server_address_, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext stalled_context;
  stalled_context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
  stalled_context.AddMetadata("authorization", "Bearer replica-token");
  v1::WatchChangesRequest request;
  request.set_snapshot(true);
  auto stalled = stalled_stub->WatchChanges(&stalled_context, request);
  // It never reads. The server ends it once a write has waited 0.5 s.
  const auto start = std::chrono::steady_clock::now();
  bool opened = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    if (service_->active_streams() == 1) opened = true;
    if (opened && service_->active_streams() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(opened);
  ASSERT_EQ(service_->active_streams(), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(500));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(timeouts, (std::vector<std::string>{"WatchChanges/write_stall"}));
  }
  // Its slot is free: a follower that reads gets the whole snapshot, even
  // pausing (less than the limit) between messages.
  Watch w = Open(0, true);
  v1::WatchChangesResponse r;
  uint64_t entries = 0;
  while (w.reader->Read(&r) && !r.has_snapshot_end()) {
    entries += static_cast<uint64_t>(r.snapshot_entries().entries_size());
    if (entries % 5000 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(entries, 20000u);
  EXPECT_EQ(r.snapshot_end().entry_count(), 20000u);
  w.context->TryCancel();
  FinishOf(w);
  // (The stalled client, not reading, may not even see the server's
  // cancellation before its own deadline.)
  stalled_context.TryCancel();
  stalled->Finish();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(timeouts.size(), 1u);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
