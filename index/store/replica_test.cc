// Replica writes of HashStore (ApplyChanges, snapshot loading), the commit
// listener, NewEntryCursor and Digest: a follower store fed from a primary
// store's change log or snapshot must end up equal to the primary.
#include <unistd.h>

#include <cstdint>
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

namespace hashmatch {
namespace {

using hashmatch::v1::Change;
using hashmatch::v1::Entry;
using ::testing::HasSubstr;

std::string Bytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  std::mt19937_64 rng(seed);
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

Entry Pdq(uint64_t seed, const std::string& agency, const std::string& ext) {
  Entry e;
  e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  e.set_hash(Bytes(32, seed));
  e.set_source_agency(agency);
  e.set_external_id(ext);
  e.set_state(v1::VETTING_STATE_ACTIVE);
  return e;
}

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    base_ = absl::StrCat(::testing::TempDir(), "/replica_test_", getpid(), "_",
                         info->name());
    std::filesystem::remove_all(base_);
    std::filesystem::create_directories(base_);
    options_.now_micros = [this] { return now_ += 1000; };
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  std::unique_ptr<HashStore> Open(const std::string& name,
                                  StoreOptions options) {
    auto store = HashStore::Open(options, base_ + "/" + name);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::unique_ptr<HashStore> Open(const std::string& name) {
    return Open(name, options_);
  }

  // A primary with a history touching every row kind: two agencies on one
  // hash, a resubmission, an update that moves an external id, a
  // retraction, a new entry re-using a retracted external id, a state
  // change, and a pHash entry.
  void FillPrimary(HashStore* p) {
    auto a = p->Put(
        {Pdq(1, "ag-a", "x1"), Pdq(1, "ag-b", "y1"), Pdq(2, "ag-a", "x2")});
    ASSERT_TRUE(a.ok()) << a.status();
    Entry resubmit = Pdq(3, "ag-a", "x1");  // Same key: updates entry 1.
    resubmit.set_note("rehashed");
    ASSERT_TRUE(p->Put({resubmit}).ok());
    Entry moved = (*a)[2];
    moved.set_external_id("x2-renamed");
    moved.set_state(v1::VETTING_STATE_DISPUTED);
    ASSERT_TRUE(p->Put({moved}).ok());
    ASSERT_TRUE(p->Retract((*a)[1].id(), "ag-b", "mistake").ok());
    ASSERT_TRUE(p->Put({Pdq(4, "ag-b", "y1")}).ok());  // New id for y1.
    Entry ph;
    ph.set_signal_type(v1::SIGNAL_TYPE_PHASH);
    ph.set_hash(Bytes(8, 5));
    ph.set_source_agency("ag-c");
    ph.set_state(v1::VETTING_STATE_PENDING);
    ASSERT_TRUE(p->Put({ph}).ok());
  }

  // Every observable difference between two stores: digest, lookups by
  // hash and external id, ACTIVE scans, next id.
  void ExpectSameStore(HashStore& a, HashStore& b, bool same_log) {
    auto da = a.Digest();
    auto db = b.Digest();
    ASSERT_TRUE(da.ok() && db.ok());
    EXPECT_EQ(da->sha256, db->sha256);
    EXPECT_EQ(da->last_sequence, db->last_sequence);
    EXPECT_EQ(da->entries, db->entries);
    auto sa = a.Stats();
    auto sb = b.Stats();
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(sa->next_id, sb->next_id);
    EXPECT_EQ(sa->counts, sb->counts);
    for (uint64_t id = 1; id < sa->next_id; ++id) {
      auto ea = a.Get(id);
      ASSERT_TRUE(ea.ok());
      auto la = a.LookupHash(ea->signal_type(), ea->hash());
      auto lb = b.LookupHash(ea->signal_type(), ea->hash());
      ASSERT_TRUE(la.ok() && lb.ok());
      ASSERT_EQ(la->size(), lb->size()) << "hash of entry " << id;
      for (size_t i = 0; i < la->size(); ++i) {
        EXPECT_EQ((*la)[i].id(), (*lb)[i].id());
      }
      if (!ea->external_id().empty()) {
        auto fa = a.FindExternal(ea->source_agency(), ea->external_id());
        auto fb = b.FindExternal(ea->source_agency(), ea->external_id());
        EXPECT_EQ(fa.ok(), fb.ok()) << "external id of entry " << id;
        if (fa.ok() && fb.ok()) {
          EXPECT_EQ(*fa, *fb) << "entry " << id;
        }
      }
    }
    for (v1::SignalType s : {v1::SIGNAL_TYPE_PDQ, v1::SIGNAL_TYPE_PHASH}) {
      std::vector<uint64_t> ia, ib;
      ASSERT_TRUE(a.ForEachActive(s, [&](uint64_t id, absl::string_view) {
                     ia.push_back(id);
                     return absl::OkStatus();
                   }).ok());
      ASSERT_TRUE(b.ForEachActive(s, [&](uint64_t id, absl::string_view) {
                     ib.push_back(id);
                     return absl::OkStatus();
                   }).ok());
      EXPECT_EQ(ia, ib);
    }
    if (same_log) {
      auto ca = a.ChangesSince(0, 1000);
      auto cb = b.ChangesSince(0, 1000);
      ASSERT_TRUE(ca.ok() && cb.ok());
      ASSERT_EQ(ca->size(), cb->size());
      for (size_t i = 0; i < ca->size(); ++i) {
        EXPECT_EQ((*ca)[i].SerializeAsString(), (*cb)[i].SerializeAsString());
      }
    }
  }

  std::string base_;
  StoreOptions options_;
  int64_t now_ = 1700000000000000;
};

TEST_F(ReplicaTest, ApplyingTheChangeLogReproducesThePrimary) {
  auto primary = Open("primary");
  FillPrimary(primary.get());
  auto changes = primary->ChangesSince(0, 1000);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 8u);
  // Batches of 1, 3 and the rest: the entry updated twice within a batch
  // (entry 1: create, then resubmission) is handled from the batch itself.
  auto follower = Open("follower");
  ASSERT_TRUE(follower->ApplyChanges({&(*changes)[0], 1}).ok());
  ASSERT_TRUE(follower->ApplyChanges({&(*changes)[1], 3}).ok());
  ASSERT_TRUE(follower->ApplyChanges({&(*changes)[4], 4}).ok());
  EXPECT_EQ(follower->LastSequence(), 8u);
  ExpectSameStore(*primary, *follower, /*same_log=*/true);
  // The moved external id no longer finds the entry on either side.
  EXPECT_EQ(follower->FindExternal("ag-a", "x2").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ReplicaTest, AppliedSequenceSurvivesReopen) {
  auto primary = Open("primary");
  FillPrimary(primary.get());
  auto changes = primary->ChangesSince(0, 5);
  ASSERT_TRUE(changes.ok());
  {
    auto follower = Open("follower");
    ASSERT_TRUE(follower->ApplyChanges(*changes).ok());
  }
  auto follower = Open("follower");
  EXPECT_EQ(follower->LastSequence(), 5u);
  auto rest = primary->ChangesSince(follower->LastSequence(), 1000);
  ASSERT_TRUE(rest.ok());
  ASSERT_TRUE(follower->ApplyChanges(*rest).ok());
  ExpectSameStore(*primary, *follower, /*same_log=*/true);
}

TEST_F(ReplicaTest, GapOrRepeatIsFailedPreconditionNamingBothSequences) {
  auto primary = Open("primary");
  FillPrimary(primary.get());
  auto changes = primary->ChangesSince(0, 1000);
  ASSERT_TRUE(changes.ok());
  auto follower = Open("follower");
  absl::Status gap = follower->ApplyChanges({&(*changes)[1], 2});
  EXPECT_EQ(gap.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(gap.message(), HasSubstr("change sequence 2"));
  EXPECT_THAT(gap.message(), HasSubstr("last sequence 0"));
  ASSERT_TRUE(follower->ApplyChanges({&(*changes)[0], 2}).ok());
  absl::Status repeat = follower->ApplyChanges({&(*changes)[1], 1});
  EXPECT_EQ(repeat.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(repeat.message(), HasSubstr("change sequence 2"));
  EXPECT_THAT(repeat.message(), HasSubstr("last sequence 2"));
  // A gap inside a batch: nothing of the batch is written.
  std::vector<Change> holey = {(*changes)[2], (*changes)[4]};
  absl::Status inner = follower->ApplyChanges(holey);
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(inner.message(), HasSubstr("previous change 3"));
  EXPECT_EQ(follower->LastSequence(), 2u);
  auto stats = follower->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total_entries, 2u);
}

TEST_F(ReplicaTest, BadChangeIsInvalidArgumentAndTheBatchIsAtomic) {
  auto primary = Open("primary");
  FillPrimary(primary.get());
  auto changes = primary->ChangesSince(0, 3);
  ASSERT_TRUE(changes.ok());
  auto follower = Open("follower");
  std::vector<Change> bad = *changes;
  bad[2].mutable_entry()->set_hash("short");
  absl::Status s = follower->ApplyChanges(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("change 3"));
  EXPECT_EQ(follower->LastSequence(), 0u);
  EXPECT_EQ(follower->Get(1).status().code(), absl::StatusCode::kNotFound);

  bad = *changes;
  bad[1].set_kind(Change::KIND_RETRACT);  // Entry is ACTIVE.
  EXPECT_EQ(follower->ApplyChanges(bad).code(),
            absl::StatusCode::kInvalidArgument);
  bad = *changes;
  bad[0].mutable_entry()->set_id(0);
  EXPECT_EQ(follower->ApplyChanges(bad).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(follower->LastSequence(), 0u);
}

TEST_F(ReplicaTest, SnapshotThenChangesReproducesThePrimary) {
  auto primary = Open("primary");
  FillPrimary(primary.get());
  auto cursor = primary->NewEntryCursor(0);
  ASSERT_TRUE(cursor.ok());
  // Writes after the cursor was made are not in it.
  ASSERT_TRUE(primary->Put({Pdq(9, "ag-a", "late")}).ok());
  const uint64_t s = (*cursor)->sequence();
  EXPECT_EQ(s, 8u);

  auto follower = Open("follower");
  ASSERT_TRUE(follower->BeginSnapshot(s).ok());
  std::vector<Entry> chunk;
  uint64_t count = 0;
  while (true) {
    auto e = (*cursor)->Next();
    ASSERT_TRUE(e.ok());
    if (e->has_value()) chunk.push_back(**e);
    if (chunk.size() == 2 || (!e->has_value() && !chunk.empty())) {
      ASSERT_TRUE(follower->AddSnapshotEntries(chunk).ok());
      count += chunk.size();
      chunk.clear();
    }
    if (!e->has_value()) break;
  }
  EXPECT_EQ(count, 5u);
  EXPECT_EQ(follower->LastSequence(), 0u);  // Not committed yet.
  ASSERT_TRUE(follower->FinishSnapshot(s, count).ok());
  EXPECT_EQ(follower->LastSequence(), 8u);
  auto rest = primary->ChangesSince(s, 1000);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  ASSERT_TRUE(follower->ApplyChanges(*rest).ok());
  ExpectSameStore(*primary, *follower, /*same_log=*/false);
  // The follower's log starts after the snapshot.
  auto log = follower->ChangesSince(0, 10);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].sequence(), 9u);
}

TEST_F(ReplicaTest, SnapshotRules) {
  auto primary = Open("primary");
  FillPrimary(primary.get());
  std::vector<Entry> all;
  auto s = primary->ForEachEntry(0, [&](const Entry& e) {
    all.push_back(e);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok());
  // Not into a store that has data.
  absl::Status busy = primary->BeginSnapshot(*s);
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(busy.message(), HasSubstr("last sequence 8"));

  auto follower = Open("follower");
  EXPECT_EQ(follower->AddSnapshotEntries(all).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(follower->BeginSnapshot(*s).ok());
  // Changes and Put are refused while loading.
  auto changes = primary->ChangesSince(0, 1);
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(follower->ApplyChanges(*changes).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(follower->AddSnapshotEntries({all.data(), 3}).ok());
  // Ids must ascend across calls.
  EXPECT_EQ(follower->AddSnapshotEntries({all.data(), 1}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(follower->FinishSnapshot(*s, 4).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(follower->FinishSnapshot(*s + 1, 3).code(),
            absl::StatusCode::kFailedPrecondition);
  follower.reset();  // Interrupted: nothing committed.

  follower = Open("follower");
  EXPECT_EQ(follower->LastSequence(), 0u);
  ASSERT_TRUE(follower->BeginSnapshot(*s).ok());
  ASSERT_TRUE(
      follower->AddSnapshotEntries({all.data() + 3, all.size() - 3}).ok());
  ASSERT_TRUE(follower->FinishSnapshot(*s, all.size() - 3).ok());
  // The rows of the interrupted load are gone: only ids 4.. remain.
  EXPECT_EQ(follower->Get(1).status().code(), absl::StatusCode::kNotFound);
  auto stats = follower->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total_entries, all.size() - 3);
  EXPECT_EQ(stats->next_id, all.back().id() + 1);
}

TEST_F(ReplicaTest, CommitListenerSeesEveryWrite) {
  std::mutex mu;
  std::vector<uint64_t> seen;
  StoreOptions options = options_;
  options.on_commit = [&](uint64_t s) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(s);
  };
  auto primary = Open("primary", options);
  auto put = primary->Put({Pdq(1, "a", "1"), Pdq(2, "a", "2")});
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(primary->Retract((*put)[0].id(), "a", "r").ok());
  EXPECT_FALSE(primary->Put({Pdq(3, "a", "2"), Pdq(3, "a", "2")}).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3}));  // Failed write: none.

  auto changes = primary->ChangesSince(0, 10);
  ASSERT_TRUE(changes.ok());
  seen.clear();
  auto follower = Open("follower", options);
  ASSERT_TRUE(follower->ApplyChanges({&(*changes)[0], 2}).ok());
  ASSERT_TRUE(follower->ApplyChanges({&(*changes)[2], 1}).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3}));
  seen.clear();
  auto other = Open("other", options);
  ASSERT_TRUE(other->BeginSnapshot(3).ok());
  ASSERT_TRUE(other->FinishSnapshot(3, 0).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{3}));
}

TEST_F(ReplicaTest, DigestCoversEveryEntryAndTheSequence) {
  auto a = Open("a");
  auto b = Open("b");
  auto empty_a = a->Digest();
  ASSERT_TRUE(empty_a.ok());
  EXPECT_EQ(empty_a->sha256.size(), 32u);
  EXPECT_EQ(empty_a->entries, 0u);
  ASSERT_TRUE(a->Put({Pdq(1, "a", "1")}).ok());
  ASSERT_TRUE(b->Put({Pdq(1, "a", "1")}).ok());
  // Same content written at the same fake times: equal.
  now_ = 1700000000000000;
  auto c = Open("c");
  ASSERT_TRUE(c->Put({Pdq(1, "a", "1")}).ok());
  auto da = a->Digest();
  auto dc = c->Digest();
  ASSERT_TRUE(da.ok() && dc.ok());
  EXPECT_NE(da->sha256, empty_a->sha256);
  EXPECT_EQ(da->entries, 1u);
  EXPECT_EQ(da->last_sequence, 1u);
  // b's entry was written at another time: the digest sees it.
  auto db = b->Digest();
  ASSERT_TRUE(db.ok());
  EXPECT_NE(da->sha256, db->sha256);
  EXPECT_EQ(da->sha256, dc->sha256);
  // One more change (same entries count) changes the digest.
  ASSERT_TRUE(c->Retract(1, "a", "r").ok());
  auto dc2 = c->Digest();
  ASSERT_TRUE(dc2.ok());
  EXPECT_NE(dc2->sha256, dc->sha256);
  EXPECT_EQ(dc2->last_sequence, 2u);
}

}  // namespace
}  // namespace hashmatch
