#include "src/eval/metrics.h"

#include <algorithm>

namespace hashmatch {
namespace eval {
namespace {

// Cumulative counts: cum[t] = number of values <= t for t in [0, bits].
std::vector<int64_t> Cumulative(const std::vector<int64_t>& hist) {
  std::vector<int64_t> cum(hist.size());
  int64_t sum = 0;
  for (size_t i = 0; i < hist.size(); ++i) {
    sum += hist[i];
    cum[i] = sum;
  }
  return cum;
}

void FillRates(OperatingPoint* p) {
  const int64_t flagged = p->tp + p->fp_wrong + p->fp_neg + p->fp_pairs;
  p->precision = flagged == 0 ? 1.0 : static_cast<double>(p->tp) / flagged;
  p->recall =
      p->positives == 0 ? 0.0 : static_cast<double>(p->tp) / p->positives;
  p->fpr =
      p->negatives == 0 ? 0.0 : static_cast<double>(p->fp_neg) / p->negatives;
  p->pair_fpr =
      p->pairs == 0 ? 0.0 : static_cast<double>(p->fp_pairs) / p->pairs;
}

}  // namespace

std::vector<int64_t> Histogram(const std::vector<int>& values, int bits) {
  std::vector<int64_t> counts(static_cast<size_t>(bits) + 1, 0);
  for (int v : values) {
    if (v >= 0 && v <= bits) ++counts[v];
  }
  return counts;
}

std::vector<OperatingPoint> Curve(const DistanceSet& set) {
  // TP at T: own <= T and own <= other -> counted from T = own on.
  // FP_wrong at T: other < own and other <= T -> counted from T = other on.
  std::vector<int> tp_at, wrong_at;
  for (const QueryDistances& q : set.positives) {
    if (q.own <= q.other) {
      tp_at.push_back(q.own);
    } else {
      wrong_at.push_back(q.other);
    }
  }
  const std::vector<int64_t> tp = Cumulative(Histogram(tp_at, set.bits));
  const std::vector<int64_t> wrong = Cumulative(Histogram(wrong_at, set.bits));
  const std::vector<int64_t> neg =
      Cumulative(Histogram(set.negatives, set.bits));
  const std::vector<int64_t> pairs = Cumulative(Histogram(set.pairs, set.bits));
  std::vector<OperatingPoint> curve;
  for (int t = 0; t <= set.bits; ++t) {
    OperatingPoint p;
    p.threshold = t;
    p.tp = tp[t];
    p.fp_wrong = wrong[t];
    p.fp_neg = neg[t];
    p.fp_pairs = pairs[t];
    p.positives = static_cast<int64_t>(set.positives.size());
    p.negatives = static_cast<int64_t>(set.negatives.size());
    p.pairs = static_cast<int64_t>(set.pairs.size());
    FillRates(&p);
    curve.push_back(p);
  }
  return curve;
}

OperatingPoint PointAt(const DistanceSet& set, int threshold) {
  if (threshold >= 0) {
    return Curve(set)[std::min(threshold, set.bits)];
  }
  OperatingPoint p;
  p.threshold = threshold;
  p.positives = static_cast<int64_t>(set.positives.size());
  p.negatives = static_cast<int64_t>(set.negatives.size());
  p.pairs = static_cast<int64_t>(set.pairs.size());
  FillRates(&p);
  return p;
}

OperatingPoint PointAtPrecision(const DistanceSet& set, double target) {
  const std::vector<OperatingPoint> curve = Curve(set);
  for (int t = set.bits; t >= 0; --t) {
    if (curve[t].precision >= target) return curve[t];
  }
  return PointAt(set, -1);
}

}  // namespace eval
}  // namespace hashmatch
