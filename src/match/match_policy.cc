#include "src/match/match_policy.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hashmatch {

using hashmatch::v1::DecisionRule;
using hashmatch::v1::SignalType;

bool IsExactSignal(SignalType signal) {
  return signal == hashmatch::v1::SIGNAL_TYPE_MD5 ||
         signal == hashmatch::v1::SIGNAL_TYPE_SHA256;
}

int ThresholdFor(SignalType signal, const PolicyThresholds& thresholds) {
  switch (signal) {
    case hashmatch::v1::SIGNAL_TYPE_PDQ:
    case hashmatch::v1::SIGNAL_TYPE_VPDQ:
      return thresholds.pdq;
    case hashmatch::v1::SIGNAL_TYPE_PHASH:
      return thresholds.phash;
    case hashmatch::v1::SIGNAL_TYPE_DHASH:
      return thresholds.dhash;
    default:
      return -1;
  }
}

absl::string_view SignalShortName(SignalType signal) {
  switch (signal) {
    case hashmatch::v1::SIGNAL_TYPE_PDQ:
      return "pdq";
    case hashmatch::v1::SIGNAL_TYPE_PHASH:
      return "phash";
    case hashmatch::v1::SIGNAL_TYPE_DHASH:
      return "dhash";
    case hashmatch::v1::SIGNAL_TYPE_MD5:
      return "md5";
    case hashmatch::v1::SIGNAL_TYPE_SHA256:
      return "sha256";
    case hashmatch::v1::SIGNAL_TYPE_VPDQ:
      return "vpdq";
    default:
      return "unknown";
  }
}

absl::string_view DihedralVariantName(Dihedral d) {
  switch (d) {
    case Dihedral::kOriginal:
      return "original";
    case Dihedral::kRotate90:
      return "rotate_90";
    case Dihedral::kRotate180:
      return "rotate_180";
    case Dihedral::kRotate270:
      return "rotate_270";
    case Dihedral::kFlipX:
      return "flip_x";
    case Dihedral::kFlipY:
      return "flip_y";
    case Dihedral::kFlipPlus1:
      return "flip_plus1";
    case Dihedral::kFlipMinus1:
      return "flip_minus1";
  }
  return "unknown";
}

hashmatch::v1::DihedralVariant ToDihedralVariant(Dihedral d) {
  return static_cast<hashmatch::v1::DihedralVariant>(static_cast<int>(d) + 1);
}

namespace {

// The closest hit of `signal` within `limit` (lowest id among equals), or
// nullptr.
const LaneHit* BestHit(const std::vector<LaneHit>& hits, SignalType signal,
                       int limit) {
  const LaneHit* best = nullptr;
  for (const LaneHit& h : hits) {
    if (h.signal != signal || h.distance > limit) continue;
    if (best == nullptr || std::tie(h.distance, h.entry_id) <
                               std::tie(best->distance, best->entry_id)) {
      best = &h;
    }
  }
  return best;
}

Decision Make(hashmatch::v1::Verdict verdict, DecisionRule rule,
              std::string detail) {
  Decision d;
  d.verdict = verdict;
  d.rule = rule;
  d.detail = std::move(detail);
  return d;
}

}  // namespace

Decision DecideMatch(const PolicyInput& input,
                     const PolicyThresholds& thresholds) {
  // 1. Exact lanes.
  static constexpr std::pair<SignalType, DecisionRule> kExact[] = {
      {hashmatch::v1::SIGNAL_TYPE_MD5, hashmatch::v1::DECISION_RULE_EXACT_MD5},
      {hashmatch::v1::SIGNAL_TYPE_SHA256,
       hashmatch::v1::DECISION_RULE_EXACT_SHA256}};
  for (const auto& [signal, rule] : kExact) {
    if (const LaneHit* h = BestHit(input.hits, signal, 0)) {
      return Make(
          hashmatch::v1::VERDICT_MATCH, rule,
          absl::StrCat(SignalShortName(signal), " equals entry ", h->entry_id));
    }
  }
  // 2. Quality gate.
  if (input.lowest_pdq_quality.has_value() &&
      *input.lowest_pdq_quality < thresholds.pdq_quality_gate) {
    return Make(
        hashmatch::v1::VERDICT_LOW_QUALITY,
        hashmatch::v1::DECISION_RULE_QUALITY_GATE,
        absl::StrCat("pdq quality ", *input.lowest_pdq_quality, " < ",
                     thresholds.pdq_quality_gate, " and no exact match"));
  }
  // 3. Perceptual lanes.
  static constexpr std::pair<SignalType, DecisionRule> kPerceptual[] = {
      {hashmatch::v1::SIGNAL_TYPE_PDQ,
       hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD},
      {hashmatch::v1::SIGNAL_TYPE_VPDQ,
       hashmatch::v1::DECISION_RULE_VIDEO_FRAME},
      {hashmatch::v1::SIGNAL_TYPE_PHASH,
       hashmatch::v1::DECISION_RULE_PHASH_THRESHOLD},
      {hashmatch::v1::SIGNAL_TYPE_DHASH,
       hashmatch::v1::DECISION_RULE_DHASH_THRESHOLD}};
  for (const auto& [signal, rule] : kPerceptual) {
    const int threshold = ThresholdFor(signal, thresholds);
    if (const LaneHit* h = BestHit(input.hits, signal, threshold)) {
      std::string detail = absl::StrCat(SignalShortName(signal), " distance ",
                                        h->distance, " <= ", threshold);
      if (h->dihedral.has_value()) {
        absl::StrAppend(&detail, " (", DihedralVariantName(*h->dihedral), ")");
      }
      absl::StrAppend(&detail, ", entry ", h->entry_id);
      return Make(hashmatch::v1::VERDICT_MATCH, rule, std::move(detail));
    }
  }
  // 4. Nothing.
  std::vector<std::string> lanes;
  for (SignalType signal : input.lanes_checked) {
    std::string lane(SignalShortName(signal));
    if (IsExactSignal(signal)) {
      absl::StrAppend(&lane, " exact");
    } else {
      absl::StrAppend(&lane, " <= ", ThresholdFor(signal, thresholds));
      if (signal == hashmatch::v1::SIGNAL_TYPE_PDQ && input.dihedral) {
        absl::StrAppend(&lane, " with dihedral variants");
      }
    }
    if (std::find(lanes.begin(), lanes.end(), lane) == lanes.end()) {
      lanes.push_back(std::move(lane));
    }
  }
  return Make(
      hashmatch::v1::VERDICT_NO_MATCH,
      hashmatch::v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD,
      absl::StrCat("no entry matched (", absl::StrJoin(lanes, "; "), ")"));
}

}  // namespace hashmatch
