// PDQ robustness on real photos that Debian packages install: a half-size
// copy and a quality-30 JPEG re-encode stay within the match threshold, each
// of the 8 dihedral transforms of the pixels lands nearest (and within the
// threshold) to the matching dihedral variant of the original's hash, and
// distinct photos stay apart.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/pdq.h"
#include "tests/reference_rows.h"

namespace hashmatch {
namespace {

using testing_util::ReadWholeFile;

constexpr int kMinPhotos = 10;

// Distinct photographs (not graphics): mate-backgrounds' nature set,
// plasma-workspace-wallpapers and python3-skimage.
const char* const kPhotos[] = {
    "/usr/share/backgrounds/mate/nature/Aqua.jpg",
    "/usr/share/backgrounds/mate/nature/Blinds.jpg",
    "/usr/share/backgrounds/mate/nature/Dune.jpg",
    "/usr/share/backgrounds/mate/nature/FreshFlower.jpg",
    "/usr/share/backgrounds/mate/nature/Garden.jpg",
    "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
    "/usr/share/backgrounds/mate/nature/LadyBird.jpg",
    "/usr/share/backgrounds/mate/nature/RainDrops.jpg",
    "/usr/share/backgrounds/mate/nature/Storm.jpg",
    "/usr/share/backgrounds/mate/nature/TwoWings.jpg",
    "/usr/share/backgrounds/mate/nature/Wood.jpg",
    "/usr/share/backgrounds/mate/nature/YellowFlower.jpg",
    "/usr/share/wallpapers/Autumn/contents/images/2560x1600.jpg",
    "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg",
    "/usr/lib/python3/dist-packages/skimage/data/astronaut.png",
    "/usr/lib/python3/dist-packages/skimage/data/coffee.png",
    "/usr/lib/python3/dist-packages/skimage/data/chelsea.png",
};

struct Photo {
  std::string path;
  cv::Mat pixels;  // As DecodeImage returns them (BGR or gray).
};

// The installed photos of kPhotos, decoded (once per test binary).
const std::vector<Photo>& InstalledPhotos() {
  static const std::vector<Photo>* photos = [] {
    auto* out = new std::vector<Photo>;
    DecodeOptions options;
    for (const char* path : kPhotos) {
      std::optional<std::string> bytes = ReadWholeFile(path);
      if (!bytes.has_value()) continue;
      absl::StatusOr<DecodedImage> image = DecodeImage(*bytes, options);
      if (!image.ok()) {
        ADD_FAILURE() << path << ": " << image.status();
        continue;
      }
      out->push_back(Photo{path, image->pixels});
    }
    return out;
  }();
  return *photos;
}

ImageView ViewOf(const cv::Mat& m) { return ViewOfMat(m); }

PdqHash HashOf(PdqHasher& hasher, const cv::Mat& m) {
  return hasher.Hash(ViewOf(m));
}

class RobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (InstalledPhotos().size() < static_cast<size_t>(kMinPhotos)) {
      GTEST_SKIP() << "only " << InstalledPhotos().size() << " of the photos "
                   << "are installed; install mate-backgrounds "
                      "plasma-workspace-wallpapers python3-skimage";
    }
  }
  PdqHasher hasher_;
};

TEST_F(RobustnessTest, HalfSizeAndJpegQuality30StayWithinThreshold) {
  int max_resize = 0, max_jpeg = 0;
  for (const Photo& photo : InstalledPhotos()) {
    SCOPED_TRACE(photo.path);
    const PdqHash original = HashOf(hasher_, photo.pixels);

    cv::Mat half;
    cv::resize(photo.pixels, half, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
    const int d_resize =
        HammingDistance(original.hash, HashOf(hasher_, half).hash);
    EXPECT_LE(d_resize, kPdqDefaultThreshold) << "50% INTER_AREA resize";

    std::vector<uint8_t> jpeg;
    ASSERT_TRUE(cv::imencode(".jpg", photo.pixels, jpeg,
                             {cv::IMWRITE_JPEG_QUALITY, 30}));
    absl::StatusOr<DecodedImage> decoded = DecodeImage(
        absl::string_view(reinterpret_cast<const char*>(jpeg.data()),
                          jpeg.size()),
        DecodeOptions());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    const int d_jpeg =
        HammingDistance(original.hash, hasher_.Hash(decoded->view()).hash);
    EXPECT_LE(d_jpeg, kPdqDefaultThreshold) << "JPEG quality 30";

    max_resize = std::max(max_resize, d_resize);
    max_jpeg = std::max(max_jpeg, d_jpeg);
  }
  std::printf("%zu photos: max distance 50%% resize %d, JPEG q30 %d bits\n",
              InstalledPhotos().size(), max_resize, max_jpeg);
}

// A transform of the pixels with OpenCV and the dihedral variant of the
// original's hash it should be nearest to.
struct PixelTransform {
  const char* name;
  Dihedral expected;
  std::function<cv::Mat(const cv::Mat&)> apply;
};

std::vector<PixelTransform> PixelTransforms() {
  auto rotate = [](int code) {
    return [code](const cv::Mat& m) {
      cv::Mat out;
      cv::rotate(m, out, code);
      return out;
    };
  };
  auto flip = [](int code) {
    return [code](const cv::Mat& m) {
      cv::Mat out;
      cv::flip(m, out, code);
      return out;
    };
  };
  return {
      {"identity", Dihedral::kOriginal, [](const cv::Mat& m) { return m; }},
      {"ROTATE_90_COUNTERCLOCKWISE", Dihedral::kRotate90,
       rotate(cv::ROTATE_90_COUNTERCLOCKWISE)},
      {"ROTATE_180", Dihedral::kRotate180, rotate(cv::ROTATE_180)},
      {"ROTATE_90_CLOCKWISE", Dihedral::kRotate270,
       rotate(cv::ROTATE_90_CLOCKWISE)},
      {"flip 0 (top-bottom)", Dihedral::kFlipX, flip(0)},
      {"flip 1 (left-right)", Dihedral::kFlipY, flip(1)},
      {"transpose", Dihedral::kFlipPlus1,
       [](const cv::Mat& m) {
         cv::Mat out;
         cv::transpose(m, out);
         return out;
       }},
      {"transpose of ROTATE_180", Dihedral::kFlipMinus1,
       [](const cv::Mat& m) {
         cv::Mat r, out;
         cv::rotate(m, r, cv::ROTATE_180);
         cv::transpose(r, out);
         return out;
       }},
  };
}

// The variants come from the original's DCT, while a transformed image is
// sampled at mirrored grid positions (one pixel off on even sides) through a
// box window that is not symmetric, so the two are close, not equal (most
// cases here are 0-16 bits). Measured exceptions, pinned so that any new one
// fails: Storm.jpg (1920x1280) turned 180 degrees (and the anti-transpose,
// which is that plus an exact transpose) is 32 bits from its variant.
constexpr int kKnownOverThresholdLimit = 34;

bool IsKnownOverThreshold(const std::string& path, Dihedral d) {
  return path == "/usr/share/backgrounds/mate/nature/Storm.jpg" &&
         (d == Dihedral::kRotate180 || d == Dihedral::kFlipMinus1);
}

TEST_F(RobustnessTest, DihedralTransformsMatchTheirVariant) {
  const std::vector<PixelTransform> transforms = PixelTransforms();
  std::vector<int> max_distance(transforms.size(), 0);
  for (const Photo& photo : InstalledPhotos()) {
    SCOPED_TRACE(photo.path);
    const PdqDihedralHashes variants =
        hasher_.HashDihedral(ViewOf(photo.pixels));
    for (size_t t = 0; t < transforms.size(); ++t) {
      const PixelTransform& tr = transforms[t];
      SCOPED_TRACE(tr.name);
      const Hash256 h = HashOf(hasher_, tr.apply(photo.pixels)).hash;
      int nearest = 0;
      std::array<int, kNumDihedral> d;
      for (int v = 0; v < kNumDihedral; ++v) {
        d[v] = HammingDistance(h, variants.hashes[v]);
        if (d[v] < d[nearest]) nearest = v;
      }
      const int expected = static_cast<int>(tr.expected);
      EXPECT_LE(d[expected], IsKnownOverThreshold(photo.path, tr.expected)
                                 ? kKnownOverThresholdLimit
                                 : kPdqDefaultThreshold);
      EXPECT_EQ(nearest, expected)
          << "nearest variant is "
          << DihedralName(static_cast<Dihedral>(nearest)) << " at "
          << d[nearest] << " bits; expected " << DihedralName(tr.expected)
          << " at " << d[expected];
      max_distance[t] = std::max(max_distance[t], d[expected]);
    }
  }
  for (size_t t = 0; t < transforms.size(); ++t) {
    std::printf("%-28s <-> %-10s max %d bits\n", transforms[t].name,
                std::string(DihedralName(transforms[t].expected)).c_str(),
                max_distance[t]);
  }
}

TEST_F(RobustnessTest, DistinctPhotosAreFarApart) {
  std::vector<PdqHash> hashes;
  for (const Photo& photo : InstalledPhotos()) {
    hashes.push_back(HashOf(hasher_, photo.pixels));
  }
  const std::vector<Photo>& photos = InstalledPhotos();
  int min_distance = 256;
  for (size_t a = 0; a < hashes.size(); ++a) {
    for (size_t b = a + 1; b < hashes.size(); ++b) {
      const int d = HammingDistance(hashes[a].hash, hashes[b].hash);
      EXPECT_GT(d, kPdqDefaultThreshold)
          << photos[a].path << " vs " << photos[b].path;
      min_distance = std::min(min_distance, d);
    }
  }
  std::printf("%zu photos: smallest distance between distinct photos %d\n",
              photos.size(), min_distance);
}

}  // namespace
}  // namespace hashmatch
