#include "src/eval/metrics.h"

#include "gtest/gtest.h"

namespace hashmatch {
namespace eval {
namespace {

// Hand-made distances (bits = 10):
//   positives (own, other): (0,9) (2,8) (4,3) (6,10)   -- (4,3): another
//                            photo's entry is nearer
//   negatives: 5 7 9;  pairs: 3 10
// T  TP  FP_wrong FP_neg FP_pairs  precision
// 2  2   0        0      0         1
// 3  2   1        0      1         2/4
// 5  2   1        1      1         2/5
// 6  3   1        1      1         3/6
// 7  3   1        2      1         3/7
// 10 3   1        3      2         3/9
DistanceSet HandSet() {
  DistanceSet s;
  s.bits = 10;
  s.positives = {{0, 9}, {2, 8}, {4, 3}, {6, 10}};
  s.negatives = {5, 7, 9};
  s.pairs = {3, 10};
  return s;
}

TEST(MetricsTest, CountsAtEachThresholdByHand) {
  const DistanceSet s = HandSet();
  OperatingPoint p = PointAt(s, 2);
  EXPECT_EQ(p.tp, 2);
  EXPECT_EQ(p.fp_wrong + p.fp_neg + p.fp_pairs, 0);
  EXPECT_DOUBLE_EQ(p.precision, 1.0);
  EXPECT_DOUBLE_EQ(p.recall, 0.5);
  p = PointAt(s, 3);
  EXPECT_EQ(p.tp, 2);
  EXPECT_EQ(p.fp_wrong, 1);
  EXPECT_EQ(p.fp_pairs, 1);
  EXPECT_DOUBLE_EQ(p.precision, 0.5);
  EXPECT_DOUBLE_EQ(p.pair_fpr, 0.5);
  p = PointAt(s, 5);
  EXPECT_EQ(p.fp_neg, 1);
  EXPECT_DOUBLE_EQ(p.precision, 2.0 / 5);
  EXPECT_DOUBLE_EQ(p.fpr, 1.0 / 3);
  p = PointAt(s, 6);
  EXPECT_EQ(p.tp, 3);
  EXPECT_DOUBLE_EQ(p.precision, 0.5);
  EXPECT_DOUBLE_EQ(p.recall, 0.75);
  p = PointAt(s, 10);
  EXPECT_EQ(p.tp, 3);
  EXPECT_EQ(p.fp_neg, 3);
  EXPECT_EQ(p.fp_pairs, 2);
  EXPECT_DOUBLE_EQ(p.precision, 3.0 / 9);
  EXPECT_DOUBLE_EQ(p.fpr, 1.0);
  EXPECT_DOUBLE_EQ(p.pair_fpr, 1.0);
}

TEST(MetricsTest, ThresholdAtPrecisionIsTheLargestThatHoldsIt) {
  const DistanceSet s = HandSet();
  OperatingPoint p = PointAtPrecision(s, 0.9999);
  EXPECT_EQ(p.threshold, 2);
  EXPECT_DOUBLE_EQ(p.recall, 0.5);
  // 0.5 holds at T = 3, 4 and again at 6 (3/6): the largest is 6.
  p = PointAtPrecision(s, 0.5);
  EXPECT_EQ(p.threshold, 6);
  EXPECT_DOUBLE_EQ(p.recall, 0.75);
  p = PointAtPrecision(s, 0.3);
  EXPECT_EQ(p.threshold, 10);
}

TEST(MetricsTest, NoThresholdWhenEvenZeroFails) {
  DistanceSet s;
  s.bits = 8;
  s.positives = {{5, 0}};  // Another entry at distance 0.
  const OperatingPoint p = PointAtPrecision(s, 0.9999);
  EXPECT_EQ(p.threshold, -1);
  EXPECT_EQ(p.tp, 0);
  EXPECT_DOUBLE_EQ(p.recall, 0.0);
  EXPECT_EQ(p.positives, 1);
}

TEST(MetricsTest, TieBetweenOwnAndOtherCountsForOwn) {
  DistanceSet s;
  s.bits = 8;
  s.positives = {{3, 3}};
  const OperatingPoint p = PointAt(s, 3);
  EXPECT_EQ(p.tp, 1);
  EXPECT_EQ(p.fp_wrong, 0);
}

TEST(MetricsTest, CurveAndHistogram) {
  const DistanceSet s = HandSet();
  const std::vector<OperatingPoint> curve = Curve(s);
  ASSERT_EQ(curve.size(), 11u);
  for (int t = 0; t <= 10; ++t) EXPECT_EQ(curve[t].threshold, t);
  EXPECT_EQ(curve[0].tp, 1);
  const std::vector<int64_t> h = Histogram({0, 2, 2, 10, kNoDistance}, 10);
  ASSERT_EQ(h.size(), 11u);
  EXPECT_EQ(h[0], 1);
  EXPECT_EQ(h[2], 2);
  EXPECT_EQ(h[10], 1);
  EXPECT_EQ(h[1] + h[3] + h[9], 0);
}

TEST(MetricsTest, EmptySetHasPrecisionOneRecallZero) {
  DistanceSet s;
  s.bits = 4;
  const OperatingPoint p = PointAtPrecision(s, 0.9999);
  EXPECT_EQ(p.threshold, 4);
  EXPECT_DOUBLE_EQ(p.precision, 1.0);
  EXPECT_DOUBLE_EQ(p.recall, 0.0);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
