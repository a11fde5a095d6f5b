#include "index/vetted/vetted_index.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Entry;

std::string Code(size_t bytes, uint8_t seed) {
  std::string s(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    s[i] = static_cast<char>(seed * 37 + i * 11 + (i * i) % 7);
  }
  return s;
}

// `code` with its first `bits` bits flipped.
std::string Flip(std::string code, int bits) {
  for (int b = 0; b < bits; ++b) code[b / 8] ^= static_cast<char>(1 << (b % 8));
  return code;
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                   s.size());
}

Entry MakeEntry(hashmatch::v1::SignalType signal, const std::string& hash,
                const std::string& agency, const std::string& external_id) {
  Entry e;
  e.set_signal_type(signal);
  e.set_hash(hash);
  e.set_source_agency(agency);
  e.set_external_id(external_id);
  e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  return e;
}

class VettedIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(
        ::testing::TempDir(), "/vetted_index_test_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    StoreOptions options;
    options.sync = false;
    auto store = HashStore::Open(options, path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(path_);
  }

  uint64_t PutOne(const Entry& e) {
    auto stored = store_->Put({e});
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? (*stored)[0].id() : 0;
  }

  std::unique_ptr<VettedIndex> OpenIndex() {
    auto index = VettedIndex::Open(store_.get(), VettedIndexOptions());
    EXPECT_TRUE(index.ok()) << index.status();
    return index.ok() ? std::move(*index) : nullptr;
  }

  std::string path_;
  std::unique_ptr<HashStore> store_;
};

TEST_F(VettedIndexTest, OpenFindsStoredEntriesWithExactDistance) {
  const std::string pdq = Code(32, 1);
  const std::string phash = Code(8, 2);
  const uint64_t a =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-a", "x1"));
  const uint64_t b = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PHASH, phash, "agency-a", "x2"));
  Entry pending =
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Flip(pdq, 3), "agency-a", "x3");
  pending.set_state(hashmatch::v1::VETTING_STATE_PENDING);
  PutOne(pending);

  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->applied_sequence(), store_->LastSequence());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_PDQ), 1u);

  auto hits =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(Flip(pdq, 5)), 31);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u) << "the PENDING entry must not match";
  EXPECT_EQ((*hits)[0].id, a);
  EXPECT_EQ((*hits)[0].distance, 5);

  auto short_hits =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PHASH, Bytes(Flip(phash, 2)), 2);
  ASSERT_TRUE(short_hits.ok()) << short_hits.status();
  ASSERT_EQ(short_hits->size(), 1u);
  EXPECT_EQ((*short_hits)[0].id, b);
  EXPECT_EQ((*short_hits)[0].distance, 2);
  auto none =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PHASH, Bytes(Flip(phash, 3)), 2);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  EXPECT_FALSE(
      index->Search(hashmatch::v1::SIGNAL_TYPE_MD5, Bytes(Code(16, 1)), 0)
          .ok());
}

TEST_F(VettedIndexTest, ExactSignalsAreStoreLookups) {
  const std::string md5 = Code(16, 9);
  const uint64_t id =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_MD5, md5, "agency-a", "m"));
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  auto ids = index->LookupExact(hashmatch::v1::SIGNAL_TYPE_MD5, md5);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, std::vector<uint64_t>{id});
}

TEST_F(VettedIndexTest, CatchUpAddsNewEntriesAndRemovesRetractedOnes) {
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  const std::string pdq = Code(32, 4);
  const uint64_t id =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-a", "n1"));

  auto before = index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(pdq), 0);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty()) << "not applied before CatchUp";

  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->applied_sequence(), store_->LastSequence());
  auto after = index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(pdq), 0);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, id);

  ASSERT_TRUE(store_->Retract(id, "agency-a", "mistake").ok());
  ASSERT_TRUE(index->CatchUp().ok());
  auto retracted =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(pdq), 31);
  ASSERT_TRUE(retracted.ok());
  EXPECT_TRUE(retracted->empty());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_PDQ), 0u);
}

TEST_F(VettedIndexTest, UpdateToDisputedRemovesAndBackToActiveReAdds) {
  const std::string pdq = Code(32, 5);
  Entry e = MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-a", "d1");
  const uint64_t id = PutOne(e);
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  e.set_state(hashmatch::v1::VETTING_STATE_DISPUTED);
  PutOne(e);
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_PDQ), 0u);
  e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  PutOne(e);
  ASSERT_TRUE(index->CatchUp().ok());
  auto hits = index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(pdq), 0);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id, id);
}

TEST_F(VettedIndexTest, HashUpdateMovesTheEntry) {
  const std::string old_hash = Code(32, 10);
  const std::string new_hash = Code(32, 11);
  Entry e =
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, old_hash, "agency-a", "h1");
  const uint64_t id = PutOne(e);
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  e.set_hash(new_hash);
  PutOne(e);
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_PDQ), 1u);
  auto at_old =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(old_hash), 0);
  ASSERT_TRUE(at_old.ok());
  EXPECT_TRUE(at_old->empty());
  auto at_new =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(new_hash), 0);
  ASSERT_TRUE(at_new.ok());
  EXPECT_EQ(*at_new, (std::vector<Match>{{id, 0}}));
  auto verify = index->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->consistent());
}

TEST_F(VettedIndexTest, TwoEntriesWithTheSameHashAreBothReturned) {
  const std::string pdq = Code(32, 6);
  const uint64_t a =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-a", "s1"));
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  const uint64_t b =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-b", "s2"));
  ASSERT_TRUE(index->CatchUp().ok());
  auto hits = index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(pdq), 0);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].id, a);
  EXPECT_EQ((*hits)[1].id, b);

  // Retracting one keeps the other.
  ASSERT_TRUE(store_->Retract(a, "agency-a", "dup").ok());
  ASSERT_TRUE(index->CatchUp().ok());
  hits = index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(pdq), 0);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id, b);
}

TEST_F(VettedIndexTest, VerifyIsCleanAfterCatchUpAndReportsDifferences) {
  const std::string pdq = Code(32, 7);
  const uint64_t kept =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-a", "v1"));
  PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_DHASH, Code(8, 3), "agency-a",
                   "v2"));
  const uint64_t lonely = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 9), "agency-a", "v5"));
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  auto clean = index->Verify();
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_TRUE(clean->consistent());
  ASSERT_EQ(clean->signals.size(), 4u);
  EXPECT_EQ(clean->signals[0].store_active, 2u);
  EXPECT_EQ(clean->signals[0].indexed, 2u);
  EXPECT_EQ(clean->signals[2].indexed, 1u);

  // Store changed without CatchUp: one missing, one extra.
  const uint64_t added = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 8), "agency-a", "v3"));
  const uint64_t twin =
      PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, "agency-b", "v4"));
  ASSERT_TRUE(store_->Retract(kept, "agency-a", "gone").ok());
  // An extra at a hash no ACTIVE entry has is listed too.
  ASSERT_TRUE(store_->Retract(lonely, "agency-a", "gone").ok());
  auto stale = index->Verify();
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(stale->consistent());
  EXPECT_EQ(stale->signals[0].missing, (std::vector<uint64_t>{added, twin}));
  EXPECT_EQ(stale->signals[0].extra, (std::vector<uint64_t>{kept, lonely}));
  EXPECT_EQ(stale->signals[0].indexed, 2u);
  EXPECT_EQ(stale->signals[0].store_active, 2u);
  EXPECT_LT(stale->applied_sequence, stale->store_sequence);

  ASSERT_TRUE(index->CatchUp().ok());
  auto fixed = index->Verify();
  ASSERT_TRUE(fixed.ok());
  EXPECT_TRUE(fixed->consistent());
}

class VettedSnapshotTest : public VettedIndexTest {
 protected:
  void SetUp() override {
    VettedIndexTest::SetUp();
    snapshot_dir_ = path_ + "_snap";
    std::filesystem::remove_all(snapshot_dir_);
  }
  void TearDown() override {
    VettedIndexTest::TearDown();
    std::filesystem::remove_all(snapshot_dir_);
  }
  VettedIndexOptions SnapOptions() const {
    VettedIndexOptions o;
    o.snapshot_dir = snapshot_dir_;
    return o;
  }
  std::unique_ptr<VettedIndex> OpenWithSnapshots() {
    auto index = VettedIndex::Open(store_.get(), SnapOptions());
    EXPECT_TRUE(index.ok()) << index.status();
    return index.ok() ? std::move(*index) : nullptr;
  }
  std::string PdqSnapshot() const {
    return VettedIndex::SnapshotPath(snapshot_dir_,
                                     hashmatch::v1::SIGNAL_TYPE_PDQ);
  }

  std::string snapshot_dir_;
};

TEST_F(VettedSnapshotTest, SaveWithoutDirIsFailedPrecondition) {
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->SaveSnapshot().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(VettedSnapshotTest, MissingSnapshotIsRebuiltFromTheStore) {
  const uint64_t id = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 1), "agency-a", "a"));
  std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
  ASSERT_NE(index, nullptr);
  ASSERT_EQ(index->open_info().size(), 4u);
  for (const SignalOpenInfo& info : index->open_info()) {
    EXPECT_FALSE(info.from_snapshot);
    EXPECT_EQ(info.snapshot_status.code(), absl::StatusCode::kNotFound);
  }
  auto hits =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(Code(32, 1)), 0);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(*hits, (std::vector<Match>{{id, 0}}));
}

// Save, then put, retract and re-hash in the store; a new Open loads the
// snapshot and catches up to exactly the store's state.
TEST_F(VettedSnapshotTest, OpenFromSnapshotCatchesUpLaterChanges) {
  Entry moved =
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 1), "agency-a", "m");
  moved.set_id(PutOne(moved));
  const uint64_t gone = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 2), "agency-a", "g"));
  const uint64_t dhash = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_DHASH, Code(8, 3), "agency-a", "d"));
  uint64_t saved_at = 0;
  {
    std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->SaveSnapshot().ok());
    saved_at = index->applied_sequence();
  }
  EXPECT_TRUE(std::filesystem::exists(PdqSnapshot()));
  moved.set_hash(Code(32, 4));
  PutOne(moved);
  ASSERT_TRUE(store_->Retract(gone, "agency-a", "x").ok());
  const uint64_t added = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 5), "agency-a", "n"));

  std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
  ASSERT_NE(index, nullptr);
  for (const SignalOpenInfo& info : index->open_info()) {
    EXPECT_TRUE(info.from_snapshot) << info.snapshot_status;
    EXPECT_EQ(info.sequence, saved_at);
  }
  EXPECT_EQ(index->applied_sequence(), store_->LastSequence());
  auto at = [&](const std::string& code) {
    auto hits = index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(code), 0);
    EXPECT_TRUE(hits.ok());
    return hits.ok() ? *hits : std::vector<Match>();
  };
  EXPECT_TRUE(at(Code(32, 1)).empty());
  EXPECT_EQ(at(Code(32, 4)), (std::vector<Match>{{moved.id(), 0}}));
  EXPECT_TRUE(at(Code(32, 2)).empty());
  EXPECT_EQ(at(Code(32, 5)), (std::vector<Match>{{added, 0}}));
  auto d =
      index->Search(hashmatch::v1::SIGNAL_TYPE_DHASH, Bytes(Code(8, 3)), 0);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (std::vector<Match>{{dhash, 0}}));
  auto verify = index->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->consistent());
}

TEST_F(VettedSnapshotTest, CorruptSnapshotIsRebuiltWithTheReason) {
  const uint64_t id = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 1), "agency-a", "a"));
  {
    std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->SaveSnapshot().ok());
  }
  std::filesystem::resize_file(PdqSnapshot(),
                               std::filesystem::file_size(PdqSnapshot()) - 3);
  std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
  ASSERT_NE(index, nullptr);
  EXPECT_FALSE(index->open_info()[0].from_snapshot);
  EXPECT_EQ(index->open_info()[0].snapshot_status.code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(index->open_info()[1].from_snapshot);  // PHASH intact.
  auto hits =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(Code(32, 1)), 0);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(*hits, (std::vector<Match>{{id, 0}}));
}

// A snapshot whose sequence is past the store's last change (taken from
// another store, or the store was restored from a backup) is refused.
TEST_F(VettedSnapshotTest, SnapshotAheadOfTheStoreIsRefused) {
  PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 1), "agency-a", "a"));
  PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 2), "agency-a", "b"));
  {
    std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->SaveSnapshot().ok());
  }
  // A fresh store with one entry: sequence 1 < the snapshot's 2.
  store_.reset();
  std::filesystem::remove_all(path_);
  StoreOptions options;
  options.sync = false;
  auto store = HashStore::Open(options, path_);
  ASSERT_TRUE(store.ok());
  store_ = std::move(*store);
  const uint64_t id = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 3), "agency-a", "c"));
  std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
  ASSERT_NE(index, nullptr);
  EXPECT_FALSE(index->open_info()[0].from_snapshot);
  EXPECT_EQ(index->open_info()[0].snapshot_status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_PDQ), 1u);
  auto hits =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(Code(32, 3)), 0);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(*hits, (std::vector<Match>{{id, 0}}));
}

// A store whose change log lost its oldest changes (as a log compaction
// would): ChangesSince never returns sequences <= `compacted_through`.
class CompactedLogStore : public HashStore {
 public:
  CompactedLogStore(HashStore* inner, uint64_t compacted_through)
      : inner_(inner), compacted_through_(compacted_through) {}
  absl::StatusOr<std::vector<Entry>> Put(
      absl::Span<const Entry> entries) override {
    return inner_->Put(entries);
  }
  absl::StatusOr<Entry> Retract(uint64_t id, absl::string_view by,
                                absl::string_view reason) override {
    return inner_->Retract(id, by, reason);
  }
  absl::StatusOr<Entry> Get(uint64_t id) const override {
    return inner_->Get(id);
  }
  absl::StatusOr<uint64_t> FindExternal(
      absl::string_view agency, absl::string_view external_id) const override {
    return inner_->FindExternal(agency, external_id);
  }
  absl::StatusOr<std::vector<Entry>> LookupHash(
      hashmatch::v1::SignalType signal, absl::string_view hash) const override {
    return inner_->LookupHash(signal, hash);
  }
  absl::StatusOr<uint64_t> ForEachActive(
      hashmatch::v1::SignalType signal,
      const ActiveCallback& callback) const override {
    return inner_->ForEachActive(signal, callback);
  }
  absl::StatusOr<uint64_t> ForEachEntry(
      uint64_t after_id, const EntryCallback& callback) const override {
    return inner_->ForEachEntry(after_id, callback);
  }
  absl::StatusOr<std::vector<hashmatch::v1::Change>> ChangesSince(
      uint64_t after, size_t limit) const override {
    return inner_->ChangesSince(std::max(after, compacted_through_), limit);
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
  absl::Status ApplyChanges(
      absl::Span<const hashmatch::v1::Change> changes) override {
    return inner_->ApplyChanges(changes);
  }
  absl::Status BeginSnapshot(uint64_t sequence) override {
    return inner_->BeginSnapshot(sequence);
  }
  absl::Status AddSnapshotEntries(absl::Span<const Entry> entries) override {
    return inner_->AddSnapshotEntries(entries);
  }
  absl::Status FinishSnapshot(uint64_t sequence,
                              uint64_t entry_count) override {
    return inner_->FinishSnapshot(sequence, entry_count);
  }

 private:
  HashStore* inner_;
  uint64_t compacted_through_;
};

TEST_F(VettedSnapshotTest, SnapshotOlderThanTheChangeLogIsRefused) {
  PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 1), "agency-a", "a"));
  {
    std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->SaveSnapshot().ok());  // At sequence 1.
  }
  const uint64_t b = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 2), "agency-a", "b"));
  const uint64_t c = PutOne(
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 3), "agency-a", "c"));
  CompactedLogStore compacted(store_.get(), 2);  // Change 2 is gone.
  auto index = VettedIndex::Open(&compacted, SnapOptions());
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_FALSE((*index)->open_info()[0].from_snapshot);
  EXPECT_EQ((*index)->open_info()[0].snapshot_status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_NE((*index)->open_info()[0].snapshot_status.message().find(
                "no longer holds change 2"),
            std::string::npos)
      << (*index)->open_info()[0].snapshot_status;
  // Rebuilt from the store: all three entries, including b (change 2).
  EXPECT_EQ((*index)->size(hashmatch::v1::SIGNAL_TYPE_PDQ), 3u);
  auto hits =
      (*index)->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(Code(32, 2)), 0);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(*hits, (std::vector<Match>{{b, 0}}));
  EXPECT_NE(c, 0u);
}

// A video entry of `n` frames whose PDQ codes are Code(32, seed + i).
Entry MakeVideo(uint8_t seed, int n, const std::string& external_id) {
  Entry e;
  e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_VPDQ);
  for (int i = 0; i < n; ++i) {
    hashmatch::v1::VideoFrame* f = e.add_video_frames();
    f->set_pdq(Code(32, static_cast<uint8_t>(seed + i)));
    f->set_quality(90);
    f->set_frame_number(i * 30);
    f->set_timestamp_seconds(i);
  }
  e.set_hash(VideoFramesDigest(e.video_frames()));
  e.set_source_agency("agency-a");
  e.set_external_id(external_id);
  e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  return e;
}

TEST_F(VettedIndexTest, VideoFramesAreIndexedUpdatedAndRetracted) {
  const uint64_t v = PutOne(MakeVideo(100, 3, "video-1"));
  PutOne(MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 101), "agency-a",
                   "still-1"));
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 3u);
  // Frame 1 of the video; the still image with the same code is in the PDQ
  // index only.
  auto hits = index->SearchVideoFrames(Bytes(Flip(Code(32, 101), 4)), 10);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].entry_id, v);
  EXPECT_EQ((*hits)[0].frame, 1);
  EXPECT_EQ((*hits)[0].distance, 4);
  auto pdq =
      index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(Code(32, 101)), 0);
  ASSERT_TRUE(pdq.ok());
  EXPECT_EQ(pdq->size(), 1u);
  EXPECT_NE((*pdq)[0].id, v);
  EXPECT_EQ(
      index->Search(hashmatch::v1::SIGNAL_TYPE_VPDQ, Bytes(Code(32, 1)), 0)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);

  // Resubmitted with 2 frames, the second changed: frame 2 leaves, frame 1
  // moves to the new code.
  Entry shorter = MakeVideo(100, 2, "video-1");
  shorter.mutable_video_frames(1)->set_pdq(Code(32, 150));
  shorter.set_hash(VideoFramesDigest(shorter.video_frames()));
  EXPECT_EQ(PutOne(shorter), v);
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 2u);
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 102)), 0)->empty());
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 101)), 0)->empty());
  hits = index->SearchVideoFrames(Bytes(Code(32, 150)), 0);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].frame, 1);
  auto verify = index->Verify();
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->consistent());
  EXPECT_EQ(verify->signals[3].store_active, 1u);
  EXPECT_EQ(verify->signals[3].indexed, 1u);

  ASSERT_TRUE(store_->Retract(v, "agency-a", "wrong video").ok());
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 0u);
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 100)), 31)->empty());
  EXPECT_TRUE(index->Verify()->consistent());
}

// MakeVideo with two windows per frame (90% and 80%, quality 80):
// Code(32, seed + 100 + 2i) and Code(32, seed + 101 + 2i).
Entry MakeWindowedVideo(uint8_t seed, int n, const std::string& external_id) {
  Entry e = MakeVideo(seed, n, external_id);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < 2; ++k) {
      hashmatch::v1::VideoFrameWindow* w =
          e.mutable_video_frames(i)->add_windows();
      w->set_percent(90 - 10 * k);
      w->set_pdq(Code(32, static_cast<uint8_t>(seed + 100 + 2 * i + k)));
      w->set_quality(80);
    }
  }
  return e;
}

TEST_F(VettedIndexTest, VideoFrameWindowsAreIndexedUpdatedAndRetracted) {
  const uint64_t v = PutOne(MakeWindowedVideo(10, 3, "video-w"));
  std::unique_ptr<VettedIndex> index = OpenIndex();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 9u);
  // Frame 2's second window, 3 bits away.
  auto hits = index->SearchVideoFrames(Bytes(Flip(Code(32, 115), 3)), 10);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].entry_id, v);
  EXPECT_EQ((*hits)[0].frame, 2);
  EXPECT_EQ((*hits)[0].window, 2);
  EXPECT_EQ((*hits)[0].distance, 3);
  // The frame's own PDQ is window 0.
  hits = index->SearchVideoFrames(Bytes(Code(32, 11)), 0);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].frame, 1);
  EXPECT_EQ((*hits)[0].window, 0);
  EXPECT_TRUE(index->Verify()->consistent());

  // Resubmitted with 2 frames and no windows: every window id leaves.
  EXPECT_EQ(PutOne(MakeVideo(10, 2, "video-w")), v);
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 2u);
  for (int c = 110; c < 116; ++c) {
    EXPECT_TRUE(
        index->SearchVideoFrames(Bytes(Code(32, static_cast<uint8_t>(c))), 0)
            ->empty())
        << c;
  }
  // And back with windows on 3 frames, one window changed.
  Entry again = MakeWindowedVideo(10, 3, "video-w");
  again.mutable_video_frames(0)->mutable_windows(1)->set_pdq(Code(32, 200));
  EXPECT_EQ(PutOne(again), v);
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 9u);
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 111)), 0)->empty());
  hits = index->SearchVideoFrames(Bytes(Code(32, 200)), 0);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].window, 2);
  EXPECT_TRUE(index->Verify()->consistent());
  // A window below quality 50 leaves the index (flat windows collide).
  Entry flat = again;
  flat.mutable_video_frames(2)->mutable_windows(0)->set_quality(49);
  EXPECT_EQ(PutOne(flat), v);
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 8u);
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 114)), 0)->empty());
  EXPECT_EQ(index->SearchVideoFrames(Bytes(Code(32, 115)), 0)->size(), 1u);
  EXPECT_TRUE(index->Verify()->consistent());

  ASSERT_TRUE(store_->Retract(v, "agency-a", "wrong video").ok());
  ASSERT_TRUE(index->CatchUp().ok());
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 0u);
  EXPECT_TRUE(index->Verify()->consistent());
}

TEST_F(VettedIndexTest, StoreRefusesMalformedVideoEntries) {
  Entry no_frames = MakeVideo(1, 1, "a");
  no_frames.clear_video_frames();
  Entry bad_digest = MakeVideo(1, 2, "b");
  bad_digest.set_hash(Code(32, 7));
  Entry short_frame = MakeVideo(1, 2, "c");
  short_frame.mutable_video_frames(0)->set_pdq("abc");
  short_frame.set_hash(VideoFramesDigest(short_frame.video_frames()));
  Entry bad_quality = MakeVideo(1, 2, "d");
  bad_quality.mutable_video_frames(1)->set_quality(101);
  Entry frames_on_pdq =
      MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ, Code(32, 1), "agency-a", "e");
  *frames_on_pdq.add_video_frames() = MakeVideo(1, 1, "x").video_frames(0);
  Entry too_many = MakeVideo(1, kMaxVideoFramesPerEntry + 1, "f");
  Entry short_window = MakeWindowedVideo(1, 2, "g");
  short_window.mutable_video_frames(1)->mutable_windows(0)->set_pdq("abc");
  Entry four_windows = MakeWindowedVideo(1, 2, "h");
  for (int p : {70, 60}) {
    hashmatch::v1::VideoFrameWindow* w =
        four_windows.mutable_video_frames(0)->add_windows();
    *w = four_windows.video_frames(0).windows(0);
    w->set_percent(p);
  }
  Entry same_percent = MakeWindowedVideo(1, 2, "i");
  same_percent.mutable_video_frames(0)->mutable_windows(1)->set_percent(90);
  Entry whole_window = MakeWindowedVideo(1, 2, "j");
  whole_window.mutable_video_frames(0)->mutable_windows(0)->set_percent(100);
  Entry window_quality = MakeWindowedVideo(1, 2, "k");
  window_quality.mutable_video_frames(0)->mutable_windows(0)->set_quality(-1);
  for (const Entry& e : {no_frames, bad_digest, short_frame, bad_quality,
                         frames_on_pdq, too_many, short_window, four_windows,
                         same_percent, whole_window, window_quality}) {
    auto stored = store_->Put({e});
    EXPECT_EQ(stored.status().code(), absl::StatusCode::kInvalidArgument)
        << e.external_id() << ": " << stored.status();
  }
}

TEST_F(VettedSnapshotTest, VideoFramesSurviveASnapshotAndLaterChanges) {
  const uint64_t v = PutOne(MakeVideo(40, 4, "video-1"));
  {
    std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->SaveSnapshot().ok());
  }
  // After the snapshot the video shrinks to 1 frame.
  EXPECT_EQ(PutOne(MakeVideo(40, 1, "video-1")), v);
  std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
  ASSERT_NE(index, nullptr);
  EXPECT_TRUE(index->open_info()[3].from_snapshot)
      << index->open_info()[3].snapshot_status;
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 1u);
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 43)), 0)->empty());
  EXPECT_EQ(index->SearchVideoFrames(Bytes(Code(32, 40)), 0)->size(), 1u);
  EXPECT_TRUE(index->Verify()->consistent());
}

TEST_F(VettedSnapshotTest, VideoWindowsSurviveASnapshotAndLaterChanges) {
  const uint64_t v = PutOne(MakeWindowedVideo(40, 4, "video-w"));
  {
    std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->SaveSnapshot().ok());
  }
  // After the snapshot: 2 frames without windows. Opening from the
  // snapshot must know which window ids to remove.
  EXPECT_EQ(PutOne(MakeVideo(40, 2, "video-w")), v);
  std::unique_ptr<VettedIndex> index = OpenWithSnapshots();
  ASSERT_NE(index, nullptr);
  EXPECT_TRUE(index->open_info()[3].from_snapshot)
      << index->open_info()[3].snapshot_status;
  EXPECT_EQ(index->size(hashmatch::v1::SIGNAL_TYPE_VPDQ), 2u);
  EXPECT_TRUE(index->SearchVideoFrames(Bytes(Code(32, 140)), 0)->empty());
  EXPECT_EQ(index->SearchVideoFrames(Bytes(Code(32, 41)), 0)->size(), 1u);
  EXPECT_TRUE(index->Verify()->consistent());
}

}  // namespace
}  // namespace hashmatch
