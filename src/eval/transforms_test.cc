#include "src/eval/transforms.h"

#include <cmath>

#include "gtest/gtest.h"
#include "src/eval/test_corpus.h"
#include "src/hashing/image_decoder.h"

namespace hashmatch {
namespace eval {
namespace {

using testing_util::SyntheticPhoto;

struct Size {
  int w, h;
};

// Expected output sizes for a 200 x 120 input (transforms.h).
Size ExpectedSize(const std::string& name) {
  if (name == "resize50") return {100, 60};
  if (name == "resize25") return {50, 30};
  if (name == "crop5") return {190, 114};
  if (name == "crop10") return {180, 108};
  if (name == "pad20_solid" || name == "pad20_blur") return {280, 168};
  if (name == "rotate90") return {120, 200};
  if (name == "aspect") return {260, 120};
  if (name == "screenshot") return {203, 134};  // 140x84 photo.
  if (name == "combo") return {95, 57};
  return {200, 120};
}

TEST(TransformsTest, DeterministicAndOfTheDocumentedSize) {
  const cv::Mat photo = SyntheticPhoto(7, 200, 120);
  ASSERT_EQ(AllTransforms().size(), 23u);
  for (const TransformSpec& spec : AllTransforms()) {
    SCOPED_TRACE(spec.name);
    const uint64_t seed = TransformSeed("/x/photo.png", spec.name, 1);
    absl::StatusOr<TransformedImage> a = ApplyTransform(spec, photo, seed);
    absl::StatusOr<TransformedImage> b = ApplyTransform(spec, photo, seed);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->bytes, b->bytes);
    const Size want = ExpectedSize(spec.name);
    EXPECT_EQ(a->width, want.w);
    EXPECT_EQ(a->height, want.h);
    // The bytes decode, to that size.
    absl::StatusOr<DecodedImage> d = DecodeImage(a->bytes, {});
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->pixels.cols, want.w);
    EXPECT_EQ(d->pixels.rows, want.h);
    const bool jpeg = std::string(spec.name).rfind("jpeg", 0) == 0 ||
                      std::string(spec.name) == "combo";
    EXPECT_EQ(d->header.format, jpeg ? ImageFormat::kJpeg : ImageFormat::kPng);
    EXPECT_EQ(d->pixels.channels(),
              std::string(spec.name) == "grayscale" ? 1 : 3);
  }
}

TEST(TransformsTest, IdentityKeepsPixelsAndSeedsChangeRandomOnes) {
  const cv::Mat photo = SyntheticPhoto(8, 200, 120);
  absl::StatusOr<const TransformSpec*> identity = FindTransform("identity");
  ASSERT_TRUE(identity.ok());
  absl::StatusOr<TransformedImage> t = ApplyTransform(**identity, photo, 1);
  ASSERT_TRUE(t.ok());
  absl::StatusOr<DecodedImage> d = DecodeImage(t->bytes, {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(cv::norm(d->pixels, photo, cv::NORM_INF), 0.0);

  for (const char* name : {"crop10", "noise", "pad20_solid", "text_overlay"}) {
    absl::StatusOr<const TransformSpec*> spec = FindTransform(name);
    ASSERT_TRUE(spec.ok());
    absl::StatusOr<TransformedImage> a = ApplyTransform(**spec, photo, 1);
    absl::StatusOr<TransformedImage> b = ApplyTransform(**spec, photo, 2);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->bytes, b->bytes) << name;
  }
  EXPECT_NE(TransformSeed("/a", "crop5", 1), TransformSeed("/b", "crop5", 1));
  EXPECT_NE(TransformSeed("/a", "crop5", 1), TransformSeed("/a", "crop5", 2));
  EXPECT_EQ(TransformSeed("/a", "crop5", 1), TransformSeed("/a", "crop5", 1));
}

TEST(TransformsTest, PixelChangesAreTheDocumentedOnes) {
  const cv::Mat photo = SyntheticPhoto(9, 200, 120);
  auto pixels = [&](const char* name) {
    return *TransformPixels(**FindTransform(name), photo, 1);
  };
  cv::Mat flipped;
  cv::flip(photo, flipped, 1);
  EXPECT_EQ(cv::norm(pixels("hflip"), flipped, cv::NORM_INF), 0.0);
  // Gamma 0.6 of 64: 255 * (64/255)^0.6 = 111.4 -> 111.
  cv::Mat flat(10, 10, CV_8UC3, cv::Scalar(64, 64, 64));
  cv::Mat g = *TransformPixels(**FindTransform("gamma"), flat, 1);
  EXPECT_EQ(g.at<cv::Vec3b>(3, 3)[0], 111);
  cv::Mat bc =
      *TransformPixels(**FindTransform("brightness_contrast"), flat, 1);
  EXPECT_EQ(bc.at<cv::Vec3b>(3, 3)[0], 108);  // 1.3 * 64 + 25 = 108.2.
  // The solid pad's border is one colour and the photo sits in the middle.
  cv::Mat pad = pixels("pad20_solid");
  EXPECT_EQ(pad.at<cv::Vec3b>(0, 0), pad.at<cv::Vec3b>(167, 279));
  EXPECT_EQ(cv::norm(pad(cv::Rect(40, 24, 200, 120)), photo, cv::NORM_INF),
            0.0);
}

TEST(TransformsTest, ListsAndErrors) {
  absl::StatusOr<std::vector<const TransformSpec*>> all =
      ParseTransformList("all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), AllTransforms().size());
  absl::StatusOr<std::vector<const TransformSpec*>> two =
      ParseTransformList("jpeg50,crop5,jpeg50");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  absl::StatusOr<std::vector<const TransformSpec*>> bad =
      ParseTransformList("jpeg50,sepia");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("'sepia'"), std::string::npos);
  EXPECT_FALSE(ApplyTransform(**FindTransform("blur"), cv::Mat(), 1).ok());
  EXPECT_FALSE(
      ApplyTransform(**FindTransform("blur"), cv::Mat(4, 4, CV_32F), 1).ok());
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
