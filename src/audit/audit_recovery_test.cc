#include "src/audit/audit_recovery.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/audit/audit_test_util.h"
#include "src/hashing/crypto_hash.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace audit {
namespace {

using hashmatch::v1::AuditRecord;
using hashmatch::v1::Entry;

Entry Pdq(int seed, const std::string& external_id) {
  Entry e;
  e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
  e.set_hash(std::string(32, static_cast<char>(seed)));
  e.set_source_agency("hotline-a");
  e.set_external_id(external_id);
  e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  return e;
}

class AuditRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(StoreOptions(), dir_.path() + "/store");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ReopenLog();
  }
  void ReopenLog() {
    log_.reset();
    AuditLogOptions options;
    options.signing_key = *SigningKey::Generate();
    options.checkpoint_interval = 4;
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(options, dir_.path() + "/audit");
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }
  // What the ingestion service does: commit, then audit.
  void PutAndAudit(int seed) {
    absl::StatusOr<std::vector<Entry>> stored =
        store_->Put({Pdq(seed, absl::StrCat("x", seed))});
    ASSERT_TRUE(stored.ok());
    AuditEvent(seed, store_->LastSequence(), (*stored)[0]);
  }
  void AuditEvent(int seed, uint64_t sequence, const Entry& entry) {
    ingest::AuditEvent e;
    e.actor = "hotline-a";
    e.action = "submit";
    e.target = absl::StrCat("entry:", entry.id());
    e.state_after = entry.SerializeAsString();
    e.store_sequence = sequence;
    e.detail = absl::StrCat("seed ", seed);
    ASSERT_TRUE(log_->Append({e}).ok());
  }
  // store_sequence -> number of records for it.
  std::map<uint64_t, int> AuditedSequences() {
    std::map<uint64_t, int> counts;
    for (const AuditRecord& r :
         testing::ReadLogRecords(testing::LogPath(dir_.path() + "/audit"))) {
      if (r.store_sequence() != 0) ++counts[r.store_sequence()];
    }
    return counts;
  }

  testing_util::TempDir dir_{"audit_recovery_test"};
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditRecoveryTest, ChangesCommittedButNotAuditedAreAuditedOnce) {
  for (int i = 1; i <= 3; ++i) PutAndAudit(i);
  // "Crash" after committing: three changes (a Put of two and a retraction)
  // that never reached the log.
  absl::StatusOr<std::vector<Entry>> stored =
      store_->Put({Pdq(4, "x4"), Pdq(5, "x5")});
  ASSERT_TRUE(stored.ok());
  absl::StatusOr<Entry> tombstone =
      store_->Retract((*stored)[0].id(), "hotline-a", "mistake");
  ASSERT_TRUE(tombstone.ok());
  ASSERT_EQ(store_->LastSequence(), 6u);
  ReopenLog();
  EXPECT_EQ(log_->audited_through(), 3u);

  absl::StatusOr<AuditRecovery> r =
      AuditUnauditedChanges(*store_, log_.get(), 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->changes_scanned, 3u);
  EXPECT_EQ(r->records_appended, 3u);
  EXPECT_EQ(log_->audited_through(), 6u);

  std::map<uint64_t, int> counts = AuditedSequences();
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& [sequence, n] : counts) EXPECT_EQ(n, 1) << sequence;

  std::vector<AuditRecord> records =
      testing::ReadLogRecords(testing::LogPath(dir_.path() + "/audit"));
  const AuditRecord* retract = nullptr;
  for (const AuditRecord& rec : records) {
    if (rec.store_sequence() == 6) retract = &rec;
  }
  ASSERT_NE(retract, nullptr);
  EXPECT_EQ(retract->actor(), "system");
  EXPECT_EQ(retract->action(), "retract");
  EXPECT_EQ(retract->detail(), "recovered after restart");
  EXPECT_EQ(retract->target(), absl::StrCat("entry:", tombstone->id()));
  EXPECT_EQ(retract->digest_after(), Sha256(tombstone->SerializeAsString()));

  // Nothing left to do the second time.
  r = AuditUnauditedChanges(*store_, log_.get());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records_appended, 0u);
}

TEST_F(AuditRecoveryTest, OutOfOrderAppendsLeaveOnlyTheRealGap) {
  // Two concurrent calls committed 1 then 2 but appended 2 first, and the
  // crash came before 1 was appended.
  absl::StatusOr<std::vector<Entry>> a = store_->Put({Pdq(1, "x1")});
  absl::StatusOr<std::vector<Entry>> b = store_->Put({Pdq(2, "x2")});
  ASSERT_TRUE(a.ok() && b.ok());
  AuditEvent(2, 2, (*b)[0]);
  ReopenLog();
  EXPECT_EQ(log_->last_store_sequence(), 2u);
  EXPECT_EQ(log_->audited_through(), 0u);
  absl::StatusOr<AuditRecovery> r = AuditUnauditedChanges(*store_, log_.get());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records_appended, 1u);
  std::map<uint64_t, int> counts = AuditedSequences();
  EXPECT_EQ(counts, (std::map<uint64_t, int>{{1, 1}, {2, 1}}));
}

TEST_F(AuditRecoveryTest, LogAheadOfTheStoreIsDataLoss) {
  PutAndAudit(1);
  ingest::AuditEvent e;
  e.actor = "hotline-a";
  e.action = "submit";
  e.store_sequence = 9;
  ASSERT_TRUE(log_->Append({e}).ok());
  absl::StatusOr<AuditRecovery> r = AuditUnauditedChanges(*store_, log_.get());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(AuditUnauditedChanges(*store_, log_.get(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
