// The match policy: from the hits of every lane of one query to a verdict, the
// rule that decided it and a one-line explanation. A pure function, so the
// whole policy is unit-tested on its own (match_policy_test.cc); Matcher only
// gathers the hits and calls it.
//
//   PolicyInput in;
//   in.lanes_checked = {SIGNAL_TYPE_MD5, SIGNAL_TYPE_PDQ};
//   in.lowest_pdq_quality = 80;
//   in.hits.push_back({SIGNAL_TYPE_PDQ, /*entry_id=*/7, /*distance=*/6,
//                      Dihedral::kRotate90});
//   Decision d = DecideMatch(in, PolicyThresholds());
//   // d.verdict == VERDICT_MATCH, d.rule == DECISION_RULE_PDQ_THRESHOLD,
//   // d.detail == "pdq distance 6 <= 31 (rotate_90), entry 7"
//
// The rules, in order (see matcher.h and match.proto DecisionRule):
//   1. an exact hit (MD5, then SHA-256) is MATCH whatever the quality;
//   2. a PDQ query hash of known quality under the gate, with no exact hit,
//      is LOW_QUALITY (its perceptual hits are ignored for the verdict);
//   3. a perceptual hit within its lane's threshold is MATCH (PDQ, then
//      VPDQ (a frame of a video entry, PDQ's threshold), then pHash, then
//      dHash; within a lane the closest, then the lowest id);
//   4. otherwise NO_MATCH.
// Hits beyond their lane's threshold are ignored.
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_MATCH_MATCH_POLICY_H_
#define HASHMATCH_SRC_MATCH_MATCH_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/entry.pb.h"
#include "proto/hashmatch/v1/match.pb.h"
#include "src/hashing/pdq.h"

namespace hashmatch {

// One vetted entry hit by one lane of the query.
struct LaneHit {
  hashmatch::v1::SignalType signal = hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED;
  uint64_t entry_id = 0;
  // Hamming distance in bits; 0 for the exact lanes.
  int distance = 0;
  // PDQ only: which variant of the query hash matched.
  std::optional<Dihedral> dihedral;
  // VPDQ (a PDQ query hash hit a frame of a video entry): the frame's
  // ordinal in the entry; -1 otherwise.
  int video_frame = -1;
};

struct PolicyThresholds {
  int pdq = 31;
  int phash = 10;
  int dhash = 10;
  int pdq_quality_gate = 50;
};

struct PolicyInput {
  // Signal types the query had (for the NO_MATCH explanation).
  std::vector<hashmatch::v1::SignalType> lanes_checked;
  // Lowest known quality among the PDQ query hashes; unset when there is no
  // PDQ query hash or none has a known quality.
  std::optional<int> lowest_pdq_quality;
  // Whether the PDQ lane also looked up the dihedral variants.
  bool dihedral = false;
  // Every hit of every lane, in any order.
  std::vector<LaneHit> hits;
};

struct Decision {
  hashmatch::v1::Verdict verdict = hashmatch::v1::VERDICT_UNSPECIFIED;
  hashmatch::v1::DecisionRule rule = hashmatch::v1::DECISION_RULE_UNSPECIFIED;
  // E.g. "pdq distance 6 <= 31 (rotate_90), entry 7". Never media.
  std::string detail;
};

Decision DecideMatch(const PolicyInput& input,
                     const PolicyThresholds& thresholds);

// True for MD5 and SHA-256.
bool IsExactSignal(hashmatch::v1::SignalType signal);
// The threshold of a perceptual lane; -1 for the exact lanes.
int ThresholdFor(hashmatch::v1::SignalType signal,
                 const PolicyThresholds& thresholds);
// "md5", "sha256", "pdq", "phash", "dhash"; "unknown" otherwise.
absl::string_view SignalShortName(hashmatch::v1::SignalType signal);
// "original", "rotate_90", ... (the DihedralVariant names, lower case).
absl::string_view DihedralVariantName(Dihedral d);
// DihedralVariant for a Dihedral (its value + 1).
hashmatch::v1::DihedralVariant ToDihedralVariant(Dihedral d);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_MATCH_MATCH_POLICY_H_
