// The metrics of the accuracy evaluation, computed from distances only, so
// they can be checked by hand (metrics_test.cc does).
//
// Inputs (one DistanceSet per hasher and transform, or pooled):
//   positives  one QueryDistances per transformed copy of a vetted photo:
//              own   = smallest distance from the query to a vetted entry of
//                      the photo's own group (its original, or another size
//                      or variant of the same picture);
//              other = smallest distance to a vetted entry of any other
//                      group (kNoDistance when there is none).
//   negatives  for each transformed copy of a non-vetted photo, the smallest
//              distance to any vetted entry.
//   pairs      the distance of each unordered pair of distinct-group
//              originals (pooled set only).
//
// At threshold T (a query matches an entry when distance <= T):
//   TP        positives with own <= T and own <= other (the nearest vetted
//             entry within T is of its own group; a tie counts for it).
//   FP_wrong  positives with other <= T and other < own (the nearest entry
//             within T is another photo's).
//   FP_neg    negatives with distance <= T.
//   FP_pairs  pairs with distance <= T.
//   precision = TP / (TP + FP_wrong + FP_neg + FP_pairs), 1 when that sum is 0.
//   recall    = TP / |positives|, 0 when there are none.
//   fpr       = FP_neg / |negatives| (a non-vetted query flagged).
//   pair_fpr  = FP_pairs / |pairs|.
// "Threshold at precision P" is the largest T in [0, bits] with precision
// >= P; recall there is the best recall any threshold gives at that
// precision (recall never decreases with T). -1 when even T = 0 fails (then
// nothing is matched: TP = FP = 0).
//
// Thread safety: pure functions on values.
#ifndef HASHMATCH_SRC_EVAL_METRICS_H_
#define HASHMATCH_SRC_EVAL_METRICS_H_

#include <cstdint>
#include <vector>

namespace hashmatch {
namespace eval {

// Larger than any Hamming distance: "no such entry".
inline constexpr int kNoDistance = 1 << 20;

struct QueryDistances {
  int own = kNoDistance;
  int other = kNoDistance;
};

struct DistanceSet {
  int bits = 256;  // Largest threshold tried.
  std::vector<QueryDistances> positives;
  std::vector<int> negatives;
  std::vector<int> pairs;
};

struct OperatingPoint {
  int threshold = -1;
  int64_t tp = 0;
  int64_t fp_wrong = 0;
  int64_t fp_neg = 0;
  int64_t fp_pairs = 0;
  int64_t positives = 0;
  int64_t negatives = 0;
  int64_t pairs = 0;
  double precision = 1.0;
  double recall = 0.0;
  double fpr = 0.0;
  double pair_fpr = 0.0;
};

// The counts and rates at one threshold (T < 0 matches nothing).
OperatingPoint PointAt(const DistanceSet& set, int threshold);

// The point at the largest T in [0, set.bits] with precision >= target; the
// point at T = -1 when there is none.
OperatingPoint PointAtPrecision(const DistanceSet& set, double target);

// PointAt(T) for T = 0 .. set.bits (the ROC curve: fpr or pair_fpr against
// recall as T grows).
std::vector<OperatingPoint> Curve(const DistanceSet& set);

// counts[d] = number of values equal to d, for d in [0, bits]; values above
// bits (kNoDistance) are not counted.
std::vector<int64_t> Histogram(const std::vector<int>& values, int bits);

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_METRICS_H_
