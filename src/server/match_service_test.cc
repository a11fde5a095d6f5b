#include "src/server/match_service.h"

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

TEST(DecodeFailureReasonTest, ClassifiesImageErrorsOnly) {
  EXPECT_EQ(DecodeFailureReason(absl::OkStatus()), "");
  EXPECT_EQ(DecodeFailureReason(absl::InvalidArgumentError("empty image")),
            "empty");
  EXPECT_EQ(DecodeFailureReason(absl::ResourceExhaustedError(
                "image of 40000000 bytes is over the limit 33554432")),
            "too_large");
  EXPECT_EQ(DecodeFailureReason(
                absl::InvalidArgumentError("GIF is not supported as an image")),
            "unsupported");
  EXPECT_EQ(DecodeFailureReason(absl::InvalidArgumentError(
                "image: unrecognised image format; supported: JPEG, PNG")),
            "unsupported");
  EXPECT_EQ(DecodeFailureReason(
                absl::InvalidArgumentError("corrupt or truncated JPEG data")),
            "corrupt");
  EXPECT_EQ(DecodeFailureReason(absl::InvalidArgumentError(
                "content_ref is 300 bytes, over 256")),
            "");
  EXPECT_EQ(DecodeFailureReason(
                absl::InvalidArgumentError("pdq_threshold 99 outside 0..63")),
            "");
  EXPECT_EQ(DecodeFailureReason(absl::InternalError("store read failed")), "");
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
