// Follower against an in-process primary (tests/fake_primary.h: the real
// ReplicationService over a real store on loopback).
#include "src/server/follower.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "tests/fake_primary.h"

namespace hashmatch {
namespace server {
namespace {

namespace v1 = ::hashmatch::v1;
constexpr char kToken[] = "replica-token";

v1::Entry Pdq(uint64_t seed) {
  std::mt19937_64 rng(seed);
  v1::Entry e;
  e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  std::string hash(32, '\0');
  for (char& c : hash) c = static_cast<char>(rng() & 0xff);
  e.set_hash(hash);
  e.set_source_agency("ag");
  e.set_external_id(absl::StrCat("x", seed));
  e.set_state(v1::VETTING_STATE_ACTIVE);
  return e;
}

// Delegates to a real store; ApplyChanges waits while the gate is closed.
class GatedStore : public HashStore {
 public:
  explicit GatedStore(HashStore* inner) : inner_(inner) {}
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

  absl::Status ApplyChanges(absl::Span<const v1::Change> changes) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
    lock.unlock();
    return inner_->ApplyChanges(changes);
  }
  absl::StatusOr<std::vector<v1::Entry>> Put(
      absl::Span<const v1::Entry> entries) override {
    return inner_->Put(entries);
  }
  absl::StatusOr<v1::Entry> Retract(uint64_t id, absl::string_view by,
                                    absl::string_view reason) override {
    return inner_->Retract(id, by, reason);
  }
  absl::StatusOr<v1::Entry> Get(uint64_t id) const override {
    return inner_->Get(id);
  }
  absl::StatusOr<uint64_t> FindExternal(
      absl::string_view agency, absl::string_view external_id) const override {
    return inner_->FindExternal(agency, external_id);
  }
  absl::StatusOr<std::vector<v1::Entry>> LookupHash(
      v1::SignalType signal, absl::string_view hash) const override {
    return inner_->LookupHash(signal, hash);
  }
  absl::StatusOr<uint64_t> ForEachActive(
      v1::SignalType signal, const ActiveCallback& callback) const override {
    return inner_->ForEachActive(signal, callback);
  }
  absl::StatusOr<uint64_t> ForEachEntry(
      uint64_t after_id, const EntryCallback& callback) const override {
    return inner_->ForEachEntry(after_id, callback);
  }
  absl::StatusOr<std::vector<v1::Change>> ChangesSince(
      uint64_t after, size_t limit) const override {
    return inner_->ChangesSince(after, limit);
  }
  uint64_t LastSequence() const override { return inner_->LastSequence(); }
  absl::StatusOr<StoreStats> Stats() const override { return inner_->Stats(); }
  absl::StatusOr<std::unique_ptr<EntryCursor>> NewEntryCursor(
      uint64_t after_id) const override {
    return inner_->NewEntryCursor(after_id);
  }
  absl::StatusOr<StoreDigest> Digest() const override {
    return inner_->Digest();
  }
  absl::Status BeginSnapshot(uint64_t sequence) override {
    return inner_->BeginSnapshot(sequence);
  }
  absl::Status AddSnapshotEntries(
      absl::Span<const v1::Entry> entries) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (fail_snapshot_adds_ > 0) {
        --fail_snapshot_adds_;
        return absl::UnavailableError("injected snapshot write failure");
      }
    }
    return inner_->AddSnapshotEntries(entries);
  }
  // The next `n` AddSnapshotEntries calls fail.
  void FailSnapshotAdds(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_snapshot_adds_ = n;
  }
  absl::Status FinishSnapshot(uint64_t sequence,
                              uint64_t entry_count) override {
    return inner_->FinishSnapshot(sequence, entry_count);
  }

 private:
  HashStore* inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int fail_snapshot_adds_ = 0;
};

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(::testing::TempDir(), "/follower_test_", getpid(), "_",
                        info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() { std::filesystem::remove_all(dir_); }

  std::unique_ptr<HashStore> OpenStore(const std::string& name) {
    StoreOptions o;
    o.sync = false;
    auto s = HashStore::Open(o, dir_ + "/" + name);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  FollowerOptions Options(int port) {
    FollowerOptions o;
    o.target = absl::StrCat("127.0.0.1:", port);
    o.token = kToken;
    o.backoff_initial_ms = 20;
    o.backoff_max_ms = 200;
    o.on_event = [this](const std::string& event, const absl::Status& s) {
      std::lock_guard<std::mutex> lock(events_mu_);
      events_.push_back(absl::StrCat(event, " ", s.ToString()));
    };
    return o;
  }

  int CountEvents(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(events_mu_);
    int n = 0;
    for (const std::string& e : events_) n += e.rfind(prefix, 0) == 0;
    return n;
  }

  // Polls `done` for up to 10 s.
  template <typename F>
  static bool Eventually(F done) {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  std::string dir_;
  std::mutex events_mu_;
  std::vector<std::string> events_;
};

TEST_F(FollowerTest, BootstrapsAppliesLiveAndResumesWithoutASecondSnapshot) {
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir_ + "/primary", kToken).ok());
  for (uint64_t i = 1; i <= 5; ++i) {
    ASSERT_TRUE(primary.store()->Put({Pdq(i)}).ok());
  }
  auto store = OpenStore("follower");
  std::vector<uint64_t> applied;
  std::mutex applied_mu;
  FollowerOptions options = Options(primary.port());
  options.on_applied = [&](uint64_t s) {
    std::lock_guard<std::mutex> lock(applied_mu);
    applied.push_back(s);
  };
  {
    Follower follower(store.get(), options);
    EXPECT_FALSE(follower.status().bootstrapped);
    follower.Start();
    ASSERT_TRUE(Eventually([&] { return follower.status().bootstrapped; }));
    ASSERT_TRUE(primary.store()->Retract(2, "ag", "r").ok());
    ASSERT_TRUE(
        Eventually([&] { return follower.status().applied_sequence == 6; }));
    const FollowerStatus s = follower.status();
    EXPECT_TRUE(s.connected);
    EXPECT_EQ(s.primary_sequence, 6u);
    EXPECT_EQ(s.lag_sequences, 0u);
    EXPECT_EQ(s.lag_seconds, 0);
    follower.Stop();
  }
  {
    std::lock_guard<std::mutex> lock(applied_mu);
    EXPECT_EQ(applied, (std::vector<uint64_t>{5, 6}));  // Snapshot, batch.
  }
  EXPECT_EQ(CountEvents("snapshot_loaded"), 1);

  ASSERT_TRUE(primary.store()->Put({Pdq(7)}).ok());
  Follower again(store.get(), options);
  EXPECT_TRUE(again.status().bootstrapped);  // The store has data.
  again.Start();
  ASSERT_TRUE(Eventually([&] { return again.status().applied_sequence == 7; }));
  again.Stop();
  EXPECT_EQ(CountEvents("snapshot_loaded"), 1);
  auto a = primary.store()->Digest();
  auto b = store->Digest();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sha256, b->sha256);
}

TEST_F(FollowerTest, LagIsMeasuredWhileAKnownChangeIsNotApplied) {
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir_ + "/primary", kToken).ok());
  ASSERT_TRUE(primary.store()->Put({Pdq(1)}).ok());
  auto real = OpenStore("follower");
  GatedStore store(real.get());
  Follower follower(&store, Options(primary.port()));
  follower.Start();
  ASSERT_TRUE(
      Eventually([&] { return follower.status().applied_sequence == 1; }));
  store.Close();
  ASSERT_TRUE(primary.store()->Put({Pdq(2)}).ok());
  ASSERT_TRUE(
      Eventually([&] { return follower.status().primary_sequence == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  FollowerStatus s = follower.status();
  EXPECT_EQ(s.applied_sequence, 1u);
  EXPECT_EQ(s.lag_sequences, 1u);
  EXPECT_GE(s.lag_seconds, 0.25);
  store.Open();
  ASSERT_TRUE(
      Eventually([&] { return follower.status().applied_sequence == 2; }));
  s = follower.status();
  EXPECT_EQ(s.lag_sequences, 0u);
  EXPECT_EQ(s.lag_seconds, 0);
  follower.Stop();
}

TEST_F(FollowerTest, AnInterruptedSnapshotIsLoadedAgainFromTheStart) {
  ingest::ReplicationServiceOptions small;
  small.max_snapshot_entries = 2;
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir_ + "/primary", kToken, 0, small).ok());
  for (uint64_t i = 1; i <= 7; ++i) {
    ASSERT_TRUE(primary.store()->Put({Pdq(i)}).ok());
  }
  auto real = OpenStore("follower");
  GatedStore store(real.get());
  store.FailSnapshotAdds(1);  // The first chunk's write fails.
  Follower follower(&store, Options(primary.port()));
  follower.Start();
  ASSERT_TRUE(Eventually([&] { return follower.status().bootstrapped; }));
  follower.Stop();
  EXPECT_EQ(CountEvents("apply_failed"), 1);
  EXPECT_EQ(CountEvents("snapshot_loaded"), 1);
  auto a = primary.store()->Digest();
  auto b = real->Digest();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sha256, b->sha256);
  EXPECT_EQ(b->entries, 7u);
}

// Also issue 14, defect 7b: the reconnect is counted (status, event and
// on_reconnect, which match_server turns into
// hashmatch_follow_reconnects_total); the first connection and the attempts
// made while the primary is down are not.
TEST_F(FollowerTest, ReconnectsWhenThePrimaryComesBack) {
  auto primary = std::make_unique<testing_util::FakeIngestPrimary>();
  ASSERT_TRUE(primary->Start(dir_ + "/primary", kToken).ok());
  const int port = primary->port();
  ASSERT_TRUE(primary->store()->Put({Pdq(1)}).ok());
  auto store = OpenStore("follower");
  std::atomic<int> on_reconnect{0};
  FollowerOptions options = Options(port);
  options.on_reconnect = [&on_reconnect] { on_reconnect.fetch_add(1); };
  Follower follower(store.get(), options);
  follower.Start();
  ASSERT_TRUE(
      Eventually([&] { return follower.status().applied_sequence == 1; }));
  EXPECT_EQ(follower.status().reconnects, 0u);
  primary.reset();  // Down: the stream ends.
  ASSERT_TRUE(Eventually([&] { return !follower.status().connected; }));
  EXPECT_GE(follower.status().streams_ended, 1u);
  // Retried while down (each attempt ends without a message): no reconnect.
  const uint64_t ended = follower.status().streams_ended;
  ASSERT_TRUE(
      Eventually([&] { return follower.status().streams_ended >= ended + 2; }));
  EXPECT_EQ(follower.status().reconnects, 0u);
  EXPECT_EQ(on_reconnect.load(), 0);

  primary = std::make_unique<testing_util::FakeIngestPrimary>();
  ASSERT_TRUE(primary->Start(dir_ + "/primary", kToken, port).ok());
  ASSERT_TRUE(primary->store()->Put({Pdq(2)}).ok());
  ASSERT_TRUE(
      Eventually([&] { return follower.status().applied_sequence == 2; }));
  EXPECT_TRUE(follower.status().connected);
  EXPECT_EQ(follower.status().reconnects, 1u);
  follower.Stop();
  EXPECT_EQ(on_reconnect.load(), 1);
  EXPECT_EQ(CountEvents("reconnected"), 1);
  EXPECT_EQ(CountEvents("snapshot_loaded"), 1);
}

TEST_F(FollowerTest, AStoreAheadOfThePrimaryIsOutOfRangeAndLeftAlone) {
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir_ + "/primary", kToken).ok());
  ASSERT_TRUE(primary.store()->Put({Pdq(1)}).ok());
  auto store = OpenStore("follower");
  ASSERT_TRUE(store->Put({Pdq(5), Pdq(6), Pdq(7)}).ok());  // Another.
  Follower follower(store.get(), Options(primary.port()));
  follower.Start();
  ASSERT_TRUE(Eventually([&] { return CountEvents("stream_ended") >= 2; }));
  follower.Stop();
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    EXPECT_NE(events_[0].find("OUT_OF_RANGE"), std::string::npos) << events_[0];
  }
  EXPECT_EQ(store->LastSequence(), 3u);
  EXPECT_EQ(follower.status().applied_sequence, 3u);
}

TEST_F(FollowerTest, AStoreWithAnotherHistoryIsNeverExtended) {
  // Same length of history, different changes: the primary's next change
  // would apply cleanly by sequence, but the overlap check refuses.
  testing_util::FakeIngestPrimary primary;
  ASSERT_TRUE(primary.Start(dir_ + "/primary", kToken).ok());
  ASSERT_TRUE(primary.store()->Put({Pdq(1), Pdq(2)}).ok());
  ASSERT_TRUE(primary.store()->Put({Pdq(3)}).ok());
  auto store = OpenStore("follower");
  ASSERT_TRUE(store->Put({Pdq(8), Pdq(9)}).ok());
  auto before = store->Digest();
  ASSERT_TRUE(before.ok());
  Follower follower(store.get(), Options(primary.port()));
  follower.Start();
  ASSERT_TRUE(Eventually([&] { return CountEvents("apply_failed") >= 2; }));
  follower.Stop();
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    EXPECT_NE(events_[0].find("another primary"), std::string::npos)
        << events_[0];
  }
  auto after = store->Digest();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->sha256, before->sha256);
  EXPECT_EQ(store->LastSequence(), 2u);
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
