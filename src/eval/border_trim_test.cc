#include "src/eval/border_trim.h"

#include <cstdlib>

#include "gtest/gtest.h"
#include "src/eval/test_corpus.h"
#include "src/eval/transforms.h"

namespace hashmatch {
namespace eval {
namespace {

using testing_util::SyntheticPhoto;

// Within `tol` pixels on every side.
void ExpectNear(const cv::Rect& got, const cv::Rect& want, int tol) {
  EXPECT_LE(std::abs(got.x - want.x), tol) << got << " vs " << want;
  EXPECT_LE(std::abs(got.y - want.y), tol) << got << " vs " << want;
  EXPECT_LE(std::abs(got.br().x - want.br().x), tol) << got << " vs " << want;
  EXPECT_LE(std::abs(got.br().y - want.br().y), tol) << got << " vs " << want;
}

TEST(BorderTrimTest, FindsSolidAndBlurredPads) {
  const cv::Mat photo = SyntheticPhoto(11, 400, 300);
  // 20% pads: photo at (80, 60) of 560 x 420.
  const cv::Rect inner(80, 60, 400, 300);
  for (const char* name : {"pad20_solid", "pad20_blur"}) {
    SCOPED_TRACE(name);
    const cv::Mat padded = *TransformPixels(**FindTransform(name), photo, 3);
    ExpectNear(FindContentRect(padded, {}), inner, 6);
  }
}

TEST(BorderTrimTest, LeavesAPhotoAlone) {
  const cv::Mat photo = SyntheticPhoto(12, 400, 300);
  EXPECT_EQ(FindContentRect(photo, {}), cv::Rect(0, 0, 400, 300));
}

TEST(BorderTrimTest, TrimsAtMostTheLimit) {
  // A flat image: every side stops at 25%.
  const cv::Mat flat(200, 100, CV_8UC1, cv::Scalar(90));
  ExpectNear(FindContentRect(flat, {}), cv::Rect(25, 50, 50, 100), 1);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
