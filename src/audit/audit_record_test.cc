#include "src/audit/audit_record.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace audit {
namespace {

using hashmatch::v1::AuditRecord;

std::string Lp(const std::string& s) {
  std::string out(4, '\0');
  out[0] = static_cast<char>(s.size() >> 24);
  out[1] = static_cast<char>(s.size() >> 16);
  out[2] = static_cast<char>(s.size() >> 8);
  out[3] = static_cast<char>(s.size());
  return out + s;
}

std::string U64(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(v >> shift));
  }
  return out;
}

TEST(CanonicalEncodingTest, LayoutIsTheDocumentedOne) {
  AuditRecord r;
  r.set_index(3);
  r.set_at_micros(-2);
  r.set_actor("hotline-a");
  r.set_action("retract");
  r.set_target("entry:7");
  r.set_digest_before(std::string(32, 'b'));
  r.set_digest_after(std::string(32, 'a'));
  r.set_store_sequence(0x0102030405060708ull);
  r.set_detail("mistake");
  r.set_prev_hash(std::string(32, 'p'));
  r.set_record_hash("ignored");
  r.set_signature("ignored too");
  const std::string expected =
      Lp("hashmatch.audit.v1") + U64(3) + U64(0xfffffffffffffffeull) +
      Lp("hotline-a") + Lp("retract") + Lp("entry:7") +
      Lp(std::string(32, 'b')) + Lp(std::string(32, 'a')) +
      U64(0x0102030405060708ull) + Lp("mistake") + Lp(std::string(32, 'p')) +
      Lp("");
  EXPECT_EQ(CanonicalEncoding(r), expected);
  EXPECT_EQ(ComputeRecordHash(r), Sha256(expected));
}

TEST(CanonicalEncodingTest, FieldBoundariesMatter) {
  AuditRecord a, b;
  a.set_actor("ab");
  b.set_actor("a");
  b.set_action("b");
  EXPECT_NE(ComputeRecordHash(a), ComputeRecordHash(b));
  AuditRecord c = a;
  c.set_key_id("k");
  EXPECT_NE(ComputeRecordHash(a), ComputeRecordHash(c));
}

class ChainVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<SigningKey> key = SigningKey::Generate();
    ASSERT_TRUE(key.ok());
    key_.emplace(*key);
    std::string prev(32, '\0');
    for (uint64_t i = 1; i <= 6; ++i) {
      AuditRecord r;
      r.set_index(i);
      r.set_actor("a");
      r.set_action(i == 3 || i == 6 ? "checkpoint" : "submit");
      r.set_prev_hash(prev);
      if (i == 3 || i == 6) r.set_key_id(key_->public_key().key_id());
      r.set_record_hash(ComputeRecordHash(r));
      if (i == 3 || i == 6) r.set_signature(*key_->Sign(r.record_hash()));
      prev = r.record_hash();
      records_.push_back(r);
    }
  }

  VerifyError Run(const std::vector<AuditRecord>& records,
                  ChainVerifierOptions options) {
    ChainVerifier v(std::move(options));
    for (const AuditRecord& r : records) {
      if (!v.Add(r)) break;
    }
    v.Finish();
    return v.error();
  }
  ChainVerifierOptions WithKey() {
    ChainVerifierOptions o;
    o.public_keys = {key_->public_key()};
    return o;
  }

  std::optional<SigningKey> key_;
  std::vector<AuditRecord> records_;
};

TEST_F(ChainVerifierTest, ValidChainCountsCheckpoints) {
  ChainVerifier v(WithKey());
  for (const AuditRecord& r : records_)
    ASSERT_TRUE(v.Add(r)) << v.error().message;
  EXPECT_TRUE(v.Finish());
  EXPECT_EQ(v.records_checked(), 6u);
  EXPECT_EQ(v.checkpoints_verified(), 2u);
  EXPECT_EQ(v.unsigned_tail(), 0u);
  EXPECT_EQ(v.last_verified_checkpoint().index, 6u);
  EXPECT_EQ(v.head_hash(), records_[5].record_hash());
}

TEST_F(ChainVerifierTest, EachCheckFailsWithItsReason) {
  std::vector<AuditRecord> rs = records_;
  rs[1].set_detail("x");
  VerifyError e = Run(rs, WithKey());
  EXPECT_EQ(e.failure, VerifyFailure::kHashMismatch);
  EXPECT_EQ(e.index, 2u);

  rs = records_;
  rs[1].set_prev_hash(std::string(32, 'z'));
  e = Run(rs, WithKey());
  EXPECT_EQ(e.failure, VerifyFailure::kPrevHashBreak);
  EXPECT_EQ(e.index, 2u);

  rs = records_;
  rs.erase(rs.begin() + 1);
  e = Run(rs, WithKey());
  EXPECT_EQ(e.failure, VerifyFailure::kIndexGap);
  EXPECT_EQ(e.index, 2u);

  rs = records_;
  rs[2].set_signature(std::string(64, 's'));
  e = Run(rs, WithKey());
  EXPECT_EQ(e.failure, VerifyFailure::kBadSignature);
  EXPECT_EQ(e.index, 3u);

  rs = records_;
  rs[1].set_signature("on a plain record");
  e = Run(rs, WithKey());
  EXPECT_EQ(e.failure, VerifyFailure::kBadSignature);
  EXPECT_EQ(e.index, 2u);
}

TEST_F(ChainVerifierTest, UnknownKeyFailsOrIsCountedAsUnverified) {
  absl::StatusOr<SigningKey> other = SigningKey::Generate();
  ASSERT_TRUE(other.ok());
  ChainVerifierOptions strict;
  strict.public_keys = {other->public_key()};
  VerifyError e = Run(records_, strict);
  EXPECT_EQ(e.failure, VerifyFailure::kBadSignature);
  EXPECT_EQ(e.index, 3u);

  ChainVerifierOptions lenient = strict;
  lenient.require_known_key = false;
  ChainVerifier v(lenient);
  for (const AuditRecord& r : records_) ASSERT_TRUE(v.Add(r));
  EXPECT_EQ(v.checkpoints_verified(), 0u);
  EXPECT_EQ(v.checkpoints_unverified(), 2u);
  EXPECT_EQ(v.unsigned_tail(), 6u);
}

TEST_F(ChainVerifierTest, AnchorAndUnsignedTail) {
  ChainVerifierOptions o = WithKey();
  o.anchor = TrustedCheckpoint{6, records_[5].record_hash()};
  std::vector<AuditRecord> truncated(records_.begin(), records_.begin() + 4);
  VerifyError e = Run(truncated, o);
  EXPECT_EQ(e.failure, VerifyFailure::kAnchorMismatch);
  EXPECT_EQ(e.index, 6u);
  EXPECT_EQ(Run(records_, o).failure, VerifyFailure::kNone);
  o.anchor = TrustedCheckpoint{6, std::string(32, 'x')};
  EXPECT_EQ(Run(records_, o).failure, VerifyFailure::kAnchorMismatch);

  ChainVerifierOptions tail = WithKey();
  tail.max_unsigned_tail = 0;
  e = Run(truncated, tail);  // record 4 follows the checkpoint at 3
  EXPECT_EQ(e.failure, VerifyFailure::kUnsignedTail);
  EXPECT_EQ(e.index, 4u);
  tail.max_unsigned_tail = 1;
  EXPECT_EQ(Run(truncated, tail).failure, VerifyFailure::kNone);
}

TEST_F(ChainVerifierTest, ResumesAfterATrustedCheckpoint) {
  ChainVerifierOptions o = WithKey();
  o.start_after = TrustedCheckpoint{3, records_[2].record_hash()};
  const std::vector<AuditRecord> tail(records_.begin() + 3, records_.end());
  ChainVerifier v(o);
  // Before any record: the trusted prefix is the log so far.
  EXPECT_EQ(v.last_index(), 3u);
  EXPECT_EQ(v.unsigned_tail(), 0u);
  EXPECT_EQ(v.last_verified_checkpoint().index, 3u);
  for (const AuditRecord& r : tail) ASSERT_TRUE(v.Add(r)) << v.error().message;
  EXPECT_TRUE(v.Finish());
  EXPECT_EQ(v.records_checked(), 6u);
  EXPECT_EQ(v.checkpoints_verified(), 1u);  // Only 6: 3 was trusted.
  EXPECT_EQ(v.last_verified_checkpoint().index, 6u);
  EXPECT_EQ(v.head_hash(), records_[5].record_hash());

  // The tail is checked as usual: its first record must link to the
  // trusted checkpoint, and be the next index.
  std::vector<AuditRecord> rs = tail;
  rs[0].set_detail("x");
  VerifyError e = Run(rs, o);
  EXPECT_EQ(e.failure, VerifyFailure::kHashMismatch);
  EXPECT_EQ(e.index, 4u);
  ChainVerifierOptions wrong_head = o;
  wrong_head.start_after->record_hash = records_[1].record_hash();
  e = Run(tail, wrong_head);
  EXPECT_EQ(e.failure, VerifyFailure::kPrevHashBreak);
  EXPECT_EQ(e.index, 4u);
  e = Run(std::vector<AuditRecord>(records_.begin() + 4, records_.end()), o);
  EXPECT_EQ(e.failure, VerifyFailure::kIndexGap);
  EXPECT_EQ(e.index, 4u);

  // Anchors: after the start as usual; at it, compared; before it, not
  // checkable.
  ChainVerifierOptions anchored = o;
  anchored.anchor = TrustedCheckpoint{6, records_[5].record_hash()};
  EXPECT_EQ(Run(tail, anchored).failure, VerifyFailure::kNone);
  anchored.anchor = TrustedCheckpoint{3, records_[2].record_hash()};
  EXPECT_EQ(Run(tail, anchored).failure, VerifyFailure::kNone);
  anchored.anchor = TrustedCheckpoint{3, std::string(32, 'x')};
  EXPECT_EQ(Run(tail, anchored).failure, VerifyFailure::kAnchorMismatch);
  anchored.anchor = TrustedCheckpoint{2, records_[1].record_hash()};
  e = Run(tail, anchored);
  EXPECT_EQ(e.failure, VerifyFailure::kAnchorMismatch);
  EXPECT_EQ(e.index, 2u);
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
