#include "src/match/match_policy.h"

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

using hashmatch::v1::SIGNAL_TYPE_DHASH;
using hashmatch::v1::SIGNAL_TYPE_MD5;
using hashmatch::v1::SIGNAL_TYPE_PDQ;
using hashmatch::v1::SIGNAL_TYPE_PHASH;
using hashmatch::v1::SIGNAL_TYPE_SHA256;

LaneHit Hit(hashmatch::v1::SignalType s, uint64_t id, int distance,
            std::optional<Dihedral> d = std::nullopt) {
  return LaneHit{s, id, distance, d};
}

PolicyInput Input(std::optional<int> quality, std::vector<LaneHit> hits) {
  PolicyInput in;
  in.lanes_checked = {SIGNAL_TYPE_MD5, SIGNAL_TYPE_SHA256, SIGNAL_TYPE_PDQ};
  in.lowest_pdq_quality = quality;
  in.hits = std::move(hits);
  return in;
}

TEST(MatchPolicyTest, ExactHitWithLowQualityIsMatch) {
  Decision d = DecideMatch(
      Input(10, {Hit(SIGNAL_TYPE_MD5, 4, 0), Hit(SIGNAL_TYPE_PDQ, 2, 5)}),
      PolicyThresholds());
  EXPECT_EQ(d.verdict, hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_EXACT_MD5);
  EXPECT_EQ(d.detail, "md5 equals entry 4");
}

TEST(MatchPolicyTest, Sha256ExactHit) {
  Decision d = DecideMatch(Input(90, {Hit(SIGNAL_TYPE_SHA256, 9, 0)}),
                           PolicyThresholds());
  EXPECT_EQ(d.verdict, hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_EXACT_SHA256);
  EXPECT_EQ(d.detail, "sha256 equals entry 9");
}

TEST(MatchPolicyTest, Md5DecidesBeforeSha256) {
  Decision d = DecideMatch(
      Input(90, {Hit(SIGNAL_TYPE_SHA256, 1, 0), Hit(SIGNAL_TYPE_MD5, 2, 0)}),
      PolicyThresholds());
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_EXACT_MD5);
}

TEST(MatchPolicyTest, LowQualityWithoutExactIsLowQualityEvenWithPdqHit) {
  Decision d =
      DecideMatch(Input(49, {Hit(SIGNAL_TYPE_PDQ, 3, 2)}), PolicyThresholds());
  EXPECT_EQ(d.verdict, hashmatch::v1::VERDICT_LOW_QUALITY);
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_QUALITY_GATE);
  EXPECT_EQ(d.detail, "pdq quality 49 < 50 and no exact match");
}

TEST(MatchPolicyTest, QualityAtGateIsNotGated) {
  Decision d = DecideMatch(Input(50, {}), PolicyThresholds());
  EXPECT_EQ(d.verdict, hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD);
}

TEST(MatchPolicyTest, UnknownQualityIsNotGated) {
  Decision d = DecideMatch(Input(std::nullopt, {Hit(SIGNAL_TYPE_PDQ, 3, 2)}),
                           PolicyThresholds());
  EXPECT_EQ(d.verdict, hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
}

TEST(MatchPolicyTest, PdqDistance31MatchesAnd32DoesNot) {
  Decision at31 = DecideMatch(
      Input(100, {Hit(SIGNAL_TYPE_PDQ, 5, 31, Dihedral::kOriginal)}),
      PolicyThresholds());
  EXPECT_EQ(at31.verdict, hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(at31.rule, hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  EXPECT_EQ(at31.detail, "pdq distance 31 <= 31 (original), entry 5");

  Decision at32 = DecideMatch(
      Input(100, {Hit(SIGNAL_TYPE_PDQ, 5, 32, Dihedral::kOriginal)}),
      PolicyThresholds());
  EXPECT_EQ(at32.verdict, hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(at32.rule, hashmatch::v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD);
  EXPECT_EQ(at32.detail,
            "no entry matched (md5 exact; sha256 exact; pdq <= 31)");

  PolicyThresholds wider;
  wider.pdq = 32;
  EXPECT_EQ(
      DecideMatch(Input(100, {Hit(SIGNAL_TYPE_PDQ, 5, 32)}), wider).verdict,
      hashmatch::v1::VERDICT_MATCH);
}

TEST(MatchPolicyTest, ClosestPdqHitExplainsWithItsVariant) {
  PolicyInput in = Input(100, {Hit(SIGNAL_TYPE_PDQ, 8, 20, Dihedral::kOriginal),
                               Hit(SIGNAL_TYPE_PDQ, 9, 6, Dihedral::kRotate90),
                               Hit(SIGNAL_TYPE_PDQ, 7, 6, Dihedral::kFlipX)});
  Decision d = DecideMatch(in, PolicyThresholds());
  EXPECT_EQ(d.detail, "pdq distance 6 <= 31 (flip_x), entry 7");
}

TEST(MatchPolicyTest, PdqDecidesBeforePhashAndDhash) {
  PolicyInput in =
      Input(100, {Hit(SIGNAL_TYPE_DHASH, 1, 0), Hit(SIGNAL_TYPE_PHASH, 2, 1),
                  Hit(SIGNAL_TYPE_PDQ, 3, 30)});
  EXPECT_EQ(DecideMatch(in, PolicyThresholds()).rule,
            hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  in.hits.pop_back();
  EXPECT_EQ(DecideMatch(in, PolicyThresholds()).rule,
            hashmatch::v1::DECISION_RULE_PHASH_THRESHOLD);
  in.hits.pop_back();
  Decision d = DecideMatch(in, PolicyThresholds());
  EXPECT_EQ(d.rule, hashmatch::v1::DECISION_RULE_DHASH_THRESHOLD);
  EXPECT_EQ(d.detail, "dhash distance 0 <= 10, entry 1");
}

TEST(MatchPolicyTest, PhashBeyondItsThresholdIsIgnored) {
  PolicyInput in;
  in.lanes_checked = {SIGNAL_TYPE_PHASH, SIGNAL_TYPE_PDQ};
  in.dihedral = true;
  in.hits = {Hit(SIGNAL_TYPE_PHASH, 2, 11)};
  Decision d = DecideMatch(in, PolicyThresholds());
  EXPECT_EQ(d.verdict, hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(d.detail,
            "no entry matched (phash <= 10; pdq <= 31 with dihedral variants)");
}

TEST(MatchPolicyTest, DihedralVariantValues) {
  EXPECT_EQ(ToDihedralVariant(Dihedral::kOriginal),
            hashmatch::v1::DIHEDRAL_VARIANT_ORIGINAL);
  EXPECT_EQ(ToDihedralVariant(Dihedral::kRotate90),
            hashmatch::v1::DIHEDRAL_VARIANT_ROTATE_90);
  EXPECT_EQ(ToDihedralVariant(Dihedral::kFlipMinus1),
            hashmatch::v1::DIHEDRAL_VARIANT_FLIP_MINUS1);
}

}  // namespace
}  // namespace hashmatch
