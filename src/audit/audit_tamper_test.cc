// Every way of editing the audit log file that `hashmatch audit verify`
// must catch, each with the index and reason it reports, and the one it
// cannot (cutting the unsigned tail).
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/audit/audit_log.h"
#include "src/audit/audit_record.h"
#include "src/audit/audit_test_util.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace audit {
namespace {

using hashmatch::v1::AuditRecord;
using testing::LogPath;
using testing::ReadBytes;
using testing::ReadLogRecords;
using testing::WriteBytes;
using testing::WriteLogRecords;

// Checkpoint every 10 events: checkpoints at 11, 22, ..., 110; records 111
// to 115 are an unsigned tail (the log as a crash would leave it).
constexpr int kInterval = 10;
constexpr int kEvents = 105;
constexpr uint64_t kRecords = 115;
constexpr uint64_t kLastCheckpoint = 110;

class AuditTamperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("audit_tamper_test");
    key_ = new SigningKey(*SigningKey::Generate());
    AuditLogOptions options;
    options.signing_key = *key_;
    options.checkpoint_interval = kInterval;
    std::unique_ptr<AuditLog> log = *AuditLog::Open(options, dir_->path());
    for (int i = 1; i <= kEvents; ++i) {
      ingest::AuditEvent e;
      e.actor = "hotline-a";
      e.action = "submit";
      e.target = "entry:" + std::to_string(i);
      e.state_after = "state " + std::to_string(i);
      e.store_sequence = i;
      ASSERT_TRUE(log->Append({e}).ok());
    }
    // Everything is fsynced: these bytes are what a crash now would leave.
    crashed_ = new std::string(ReadBytes(LogPath(dir_->path())));
    log.reset();
  }
  static void TearDownTestSuite() {
    delete crashed_;
    delete key_;
    delete dir_;
  }

  void SetUp() override {
    WriteBytes(LogPath(dir_->path()), *crashed_);
    records_ = ReadLogRecords(LogPath(dir_->path()));
    ASSERT_EQ(records_.size(), kRecords);
  }

  ChainVerifierOptions Options() const {
    ChainVerifierOptions o;
    o.public_keys = {key_->public_key()};
    return o;
  }

  VerifyLogResult VerifyRecords(const std::vector<AuditRecord>& records,
                                ChainVerifierOptions options) {
    WriteLogRecords(LogPath(dir_->path()), records);
    absl::StatusOr<VerifyLogResult> r =
        VerifyAuditLogDir(dir_->path(), options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyLogResult{};
  }
  VerifyLogResult VerifyRecords(const std::vector<AuditRecord>& records) {
    return VerifyRecords(records, Options());
  }

  // Re-links the chain from position `from` (0-based) on, as an attacker
  // without the signing key would: indexes, prev_hash and record_hash are
  // recomputed; signatures cannot be.
  static void Rechain(std::vector<AuditRecord>& records, size_t from) {
    for (size_t i = from; i < records.size(); ++i) {
      records[i].set_index(i + 1);
      records[i].set_prev_hash(i == 0 ? std::string(32, '\0')
                                      : records[i - 1].record_hash());
      records[i].set_record_hash(ComputeRecordHash(records[i]));
    }
  }

  static void ExpectFailure(const VerifyLogResult& r, VerifyFailure failure,
                            uint64_t index) {
    EXPECT_EQ(VerifyFailureName(r.error.failure), VerifyFailureName(failure))
        << r.error.message;
    EXPECT_EQ(r.error.index, index) << r.error.message;
  }

  static testing_util::TempDir* dir_;
  static SigningKey* key_;
  static std::string* crashed_;
  std::vector<AuditRecord> records_;
};

testing_util::TempDir* AuditTamperTest::dir_ = nullptr;
SigningKey* AuditTamperTest::key_ = nullptr;
std::string* AuditTamperTest::crashed_ = nullptr;

TEST_F(AuditTamperTest, UntouchedLogVerifies) {
  VerifyLogResult r = VerifyRecords(records_);
  EXPECT_EQ(r.error.failure, VerifyFailure::kNone) << r.error.message;
  EXPECT_EQ(r.records_checked, kRecords);
  EXPECT_EQ(r.checkpoints_verified, 10u);
  EXPECT_EQ(r.unsigned_tail, 5u);
  EXPECT_EQ(r.last_verified_checkpoint.index, kLastCheckpoint);
  EXPECT_EQ(records_[kLastCheckpoint - 1].action(), "checkpoint");
}

TEST_F(AuditTamperTest, AlteredFieldByte) {
  std::string target = records_[49].target();
  target[6] ^= 1;
  records_[49].set_target(target);
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kHashMismatch, 50);
}

TEST_F(AuditTamperTest, AlteredDigestWithItsOwnHashRecomputed) {
  std::string digest = records_[49].digest_after();
  digest[0] ^= 0x80;
  records_[49].set_digest_after(digest);
  records_[49].set_record_hash(ComputeRecordHash(records_[49]));
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kPrevHashBreak, 51);
}

TEST_F(AuditTamperTest, AlteredRecordWithTheWholeChainRecomputed) {
  records_[49].set_actor("hotline-b");
  Rechain(records_, 49);
  // Checkpoint 55 signed the old head.
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kBadSignature, 55);
}

TEST_F(AuditTamperTest, RemovedRecord) {
  records_.erase(records_.begin() + 49);
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kIndexGap, 50);
}

TEST_F(AuditTamperTest, RemovedRecordWithTheChainRenumbered) {
  records_.erase(records_.begin() + 49);
  Rechain(records_, 49);
  // The checkpoint that was record 55 is now record 54.
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kBadSignature, 54);
}

TEST_F(AuditTamperTest, InsertedRecord) {
  AuditRecord forged = records_[48];
  forged.set_index(50);
  forged.set_target("entry:9999");
  forged.set_prev_hash(records_[48].record_hash());
  forged.set_record_hash(ComputeRecordHash(forged));
  records_.insert(records_.begin() + 49, forged);
  // The forged record fits; the genuine record 50 after it does not.
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kIndexGap, 51);
}

TEST_F(AuditTamperTest, ReorderedRecords) {
  std::swap(records_[49], records_[50]);
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kIndexGap, 50);
}

TEST_F(AuditTamperTest, ReorderedRecordsRenumbered) {
  std::swap(records_[49], records_[50]);
  records_[49].set_index(50);
  records_[50].set_index(51);
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kPrevHashBreak, 50);
}

TEST_F(AuditTamperTest, TruncatedPastACheckpoint) {
  // The auditor remembers the last checkpoint of an earlier verification.
  VerifyLogResult full = VerifyRecords(records_);
  ASSERT_EQ(full.last_verified_checkpoint.index, kLastCheckpoint);
  ChainVerifierOptions anchored = Options();
  anchored.anchor = full.last_verified_checkpoint;

  std::vector<AuditRecord> cut(records_.begin(), records_.begin() + 60);
  ExpectFailure(VerifyRecords(cut, anchored), VerifyFailure::kAnchorMismatch,
                kLastCheckpoint);
  // Without the anchor the shorter log is a valid log: the chain alone cannot
  // tell a truncated log from a younger one.
  VerifyLogResult unanchored = VerifyRecords(cut);
  EXPECT_EQ(unanchored.error.failure, VerifyFailure::kNone);
  EXPECT_EQ(unanchored.unsigned_tail, 5u);  // after checkpoint 55
}

TEST_F(AuditTamperTest, TruncatedUnsignedTailIsNotDetectable) {
  VerifyLogResult full = VerifyRecords(records_);
  ChainVerifierOptions anchored = Options();
  anchored.anchor = full.last_verified_checkpoint;
  std::vector<AuditRecord> cut(records_.begin(), records_.begin() + 112);
  VerifyLogResult r = VerifyRecords(cut, anchored);
  EXPECT_EQ(r.error.failure, VerifyFailure::kNone);
  EXPECT_EQ(r.records_checked, 112u);
  EXPECT_EQ(r.unsigned_tail, 2u);
  // What an auditor can demand of a cleanly stopped server: nothing unsigned.
  ChainVerifierOptions strict = Options();
  strict.max_unsigned_tail = 0;
  ExpectFailure(VerifyRecords(cut, strict), VerifyFailure::kUnsignedTail,
                kLastCheckpoint + 1);
}

TEST_F(AuditTamperTest, CheckpointSignedByAnotherKey) {
  SigningKey other = *SigningKey::Generate();
  // Re-signed by another key that claims its own id ...
  AuditRecord& cp = records_[54];
  ASSERT_EQ(cp.action(), "checkpoint");
  std::vector<AuditRecord> resigned = records_;
  resigned[54].set_key_id(other.public_key().key_id());
  resigned[54].set_record_hash(ComputeRecordHash(resigned[54]));
  resigned[54].set_signature(*other.Sign(resigned[54].record_hash()));
  Rechain(resigned, 55);
  ExpectFailure(VerifyRecords(resigned), VerifyFailure::kBadSignature, 55);
  // ... or keeping the genuine key id.
  cp.set_signature(*other.Sign(cp.record_hash()));
  ExpectFailure(VerifyRecords(records_), VerifyFailure::kBadSignature, 55);
}

TEST_F(AuditTamperTest, TornFinalFrameIsReportedNotFailed) {
  std::string bytes = *crashed_ + testing::Frame(records_[0]).substr(0, 30);
  WriteBytes(LogPath(dir_->path()), bytes);
  absl::StatusOr<VerifyLogResult> r =
      VerifyAuditLogDir(dir_->path(), Options());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->error.failure, VerifyFailure::kNone);
  EXPECT_EQ(r->records_checked, kRecords);
  EXPECT_EQ(r->torn_bytes, 30u);
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
