#include "src/hashing/pdq.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/test_util.h"

namespace hashmatch {
namespace {

using testing_util::ReadFileOrEmpty;
using testing_util::SmoothTexture;
using testing_util::ViewOf;

TEST(PdqTest, TinyImageHashesToZero) {
  PdqHasher hasher;
  for (cv::Size size : {cv::Size(4, 100), cv::Size(100, 4), cv::Size(1, 1)}) {
    const cv::Mat img = SmoothTexture(size.width, size.height, 1);
    PdqHash h = hasher.Hash(ViewOf(img));
    EXPECT_TRUE(h.hash.IsZero()) << size;
    EXPECT_EQ(h.quality, 0) << size;
    PdqDihedralHashes d = hasher.HashDihedral(ViewOf(img));
    EXPECT_EQ(d.quality, 0);
    for (const Hash256& v : d.hashes) EXPECT_TRUE(v.IsZero()) << size;
  }
  // 5 pixels is enough.
  cv::Mat five(5, 5, CV_8UC1);
  cv::RNG(1).fill(five, cv::RNG::UNIFORM, 0, 256);
  EXPECT_FALSE(hasher.Hash(ViewOf(five)).hash.IsZero());
}

TEST(PdqTest, FlatImageHasQualityZero) {
  PdqHasher hasher;
  const cv::Mat gray(80, 100, CV_8UC1, cv::Scalar(128));
  EXPECT_EQ(hasher.Hash(ViewOf(gray)).quality, 0);
  const cv::Mat colour(300, 200, CV_8UC3, cv::Scalar(10, 200, 90));
  EXPECT_EQ(hasher.Hash(ViewOf(colour)).quality, 0);
  EXPECT_EQ(hasher.HashDihedral(ViewOf(colour)).quality, 0);
}

TEST(PdqTest, TexturedImageHasHighQualityAndBalancedBits) {
  PdqHasher hasher;
  const cv::Mat img = SmoothTexture(320, 240, 2);
  PdqHash h = hasher.Hash(ViewOf(img));
  EXPECT_GE(h.quality, kPdqMinTrustedQuality);
  EXPECT_EQ(h.hash.PopCount(), 128);
}

// An independent, straightforward PDQ of a 64x64 grayscale image in double
// precision, from the definition: no filter (a 64x64 input is already the
// grid), B = D A D^T with D[i][j] = sqrt(2/64) cos(pi/128 (i+1)(2j+1)), bits
// above the 128th smallest coefficient; quality from neighbour differences.
PdqHash NaivePdq64(const cv::Mat& gray) {
  double d[16][64];
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 64; ++j) {
      d[i][j] =
          std::sqrt(2.0 / 64) * std::cos(M_PI / 128 * (i + 1) * (2 * j + 1));
    }
  }
  std::vector<double> b(256);
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      double s = 0;
      for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x)
          s += d[i][y] * gray.at<uint8_t>(y, x) * d[j][x];
      }
      b[i * 16 + j] = s;
    }
  }
  std::vector<double> sorted = b;
  std::sort(sorted.begin(), sorted.end());
  PdqHash out;
  for (int k = 0; k < 256; ++k) {
    if (b[k] > sorted[127]) out.hash.SetBit(k);
  }
  int sum = 0;
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      const int v = gray.at<uint8_t>(y, x);
      if (y < 63) sum += std::abs((v - gray.at<uint8_t>(y + 1, x)) * 100 / 255);
      if (x < 63) sum += std::abs((v - gray.at<uint8_t>(y, x + 1)) * 100 / 255);
    }
  }
  out.quality = std::min(100, sum / 90);
  return out;
}

TEST(PdqTest, Hash64x64MatchesDefinition) {
  PdqHasher hasher;
  for (uint32_t seed : {3u, 4u, 5u}) {
    const cv::Mat gray = SmoothTexture(64, 64, seed, 1);
    const PdqHash got = hasher.Hash(ViewOf(gray));
    const PdqHash want = NaivePdq64(gray);
    EXPECT_EQ(got.quality, want.quality) << "seed " << seed;
    // Float against double arithmetic may flip a coefficient sitting right
    // at the median, nothing more.
    EXPECT_LE(HammingDistance(got.hash, want.hash), 2)
        << "seed " << seed << "\n got " << got.hash.ToHex() << "\nwant "
        << want.hash.ToHex();
  }
}

TEST(PdqTest, Hash64x64ShortcutAgreesWithFilterPath) {
  // On a 64x64 input the plain hash skips the filter and HashDihedral does
  // not; but the window for 64 is (64 + 127) / 128 = 1, so the filter is the
  // identity up to float rounding, exact on integer (gray) luma.
  PdqHasher hasher;
  cv::Mat noise(64, 64, CV_8UC1);
  cv::RNG(2).fill(noise, cv::RNG::UNIFORM, 0, 256);
  const PdqHash h = hasher.Hash(ViewOf(noise));
  const PdqDihedralHashes d = hasher.HashDihedral(ViewOf(noise));
  EXPECT_EQ(h.hash, d.hashes[0]);
  EXPECT_EQ(h.quality, d.quality);
}

TEST(PdqTest, DihedralOriginalEqualsHash) {
  PdqHasher hasher;
  for (cv::Size size :
       {cv::Size(65, 64), cv::Size(300, 200), cv::Size(7, 90)}) {
    const cv::Mat img = SmoothTexture(size.width, size.height, 6);
    const PdqHash h = hasher.Hash(ViewOf(img));
    const PdqDihedralHashes d = hasher.HashDihedral(ViewOf(img));
    EXPECT_EQ(d.hashes[0], h.hash) << size;
    EXPECT_EQ(d.quality, h.quality) << size;
  }
}

TEST(PdqTest, RowStrideIsHonoured) {
  // A region of a larger image (rows not contiguous) hashes like a copy.
  const cv::Mat big = SmoothTexture(400, 300, 7);
  const cv::Mat roi = big(cv::Rect(33, 17, 250, 200));
  ASSERT_FALSE(roi.isContinuous());
  const cv::Mat copy = roi.clone();
  PdqHasher hasher;
  const PdqHash a = hasher.Hash(ViewOf(roi));
  const PdqHash b = hasher.Hash(ViewOf(copy));
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.quality, b.quality);
}

TEST(PdqTest, ScratchReuseDoesNotLeakBetweenImages) {
  const cv::Mat big = SmoothTexture(900, 700, 8);
  const cv::Mat small = SmoothTexture(120, 90, 9);
  PdqHasher reused;
  reused.Hash(ViewOf(big));
  const PdqHash after_big = reused.Hash(ViewOf(small));
  PdqHasher fresh;
  const PdqHash clean = fresh.Hash(ViewOf(small));
  EXPECT_EQ(after_big.hash, clean.hash);
  EXPECT_EQ(after_big.quality, clean.quality);
}

TEST(PdqTest, GrayAndColourAreHashedFromLuma) {
  // A colour image and its luma computed the same way hash alike.
  const cv::Mat colour = SmoothTexture(200, 150, 10);
  cv::Mat gray;
  cv::cvtColor(colour, gray, cv::COLOR_BGR2GRAY);
  PdqHasher hasher;
  EXPECT_LE(HammingDistance(hasher.Hash(ViewOf(colour)).hash,
                            hasher.Hash(ViewOf(gray)).hash),
            8);
}

TEST(PdqTest, UnrelatedImagesAreFarApart) {
  PdqHasher hasher;
  const Hash256 a = hasher.Hash(ViewOf(SmoothTexture(300, 200, 11))).hash;
  const Hash256 b = hasher.Hash(ViewOf(SmoothTexture(300, 200, 12))).hash;
  EXPECT_GT(HammingDistance(a, b), 64);
}

// ---- dihedral variants against really transformed pixels ----

struct Transform {
  Dihedral variant;
  const char* name;
  cv::Mat (*apply)(const cv::Mat&);
};

cv::Mat Rotate(const cv::Mat& m, int code) {
  cv::Mat out;
  cv::rotate(m, out, code);
  return out;
}
cv::Mat Flip(const cv::Mat& m, int code) {
  cv::Mat out;
  cv::flip(m, out, code);
  return out;
}
cv::Mat Transpose(const cv::Mat& m) {
  cv::Mat out;
  cv::transpose(m, out);
  return out;
}

const Transform kTransforms[] = {
    {Dihedral::kRotate90, "rotate 90 ccw",
     [](const cv::Mat& m) {
       return Rotate(m, cv::ROTATE_90_COUNTERCLOCKWISE);
     }},
    {Dihedral::kRotate180, "rotate 180",
     [](const cv::Mat& m) { return Rotate(m, cv::ROTATE_180); }},
    {Dihedral::kRotate270, "rotate 90 cw",
     [](const cv::Mat& m) { return Rotate(m, cv::ROTATE_90_CLOCKWISE); }},
    {Dihedral::kFlipX, "flip top-bottom",
     [](const cv::Mat& m) { return Flip(m, 0); }},
    {Dihedral::kFlipY, "flip left-right",
     [](const cv::Mat& m) { return Flip(m, 1); }},
    {Dihedral::kFlipPlus1, "transpose",
     [](const cv::Mat& m) { return Transpose(m); }},
    {Dihedral::kFlipMinus1, "anti-transpose",
     [](const cv::Mat& m) { return Rotate(Transpose(m), cv::ROTATE_180); }},
};

void CheckDihedral(const cv::Mat& image) {
  PdqHasher hasher;
  const PdqDihedralHashes variants = hasher.HashDihedral(ViewOf(image));
  ASSERT_GE(variants.quality, kPdqMinTrustedQuality);
  for (const Transform& t : kTransforms) {
    const cv::Mat moved = t.apply(image);
    const Hash256 h = hasher.Hash(ViewOf(moved)).hash;
    const int v = static_cast<int>(t.variant);
    EXPECT_LE(HammingDistance(h, variants.hashes[v]), kPdqDefaultThreshold)
        << t.name << " vs " << DihedralName(t.variant);
    for (int other = 0; other < kNumDihedral; ++other) {
      if (other == v) continue;
      EXPECT_GT(HammingDistance(h, variants.hashes[other]), 64)
          << t.name << " vs " << DihedralName(static_cast<Dihedral>(other));
    }
  }
}

TEST(PdqDihedralTest, SyntheticTexture) {
  CheckDihedral(SmoothTexture(300, 200, 13));
}

TEST(PdqDihedralTest, Photo) {
  const std::string path =
      "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
  const std::string bytes = ReadFileOrEmpty(path);
  if (bytes.empty()) GTEST_SKIP() << path << " not installed";
  auto decoded = DecodeImage(bytes, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  CheckDihedral(decoded->pixels);
  // Non-square too.
  CheckDihedral(decoded->pixels(cv::Rect(0, 0, 512, 360)).clone());
}

TEST(PdqDihedralTest, Names) {
  EXPECT_EQ(DihedralName(Dihedral::kOriginal), "original");
  EXPECT_EQ(DihedralName(Dihedral::kRotate90), "rotate90");
  EXPECT_EQ(DihedralName(Dihedral::kFlipMinus1), "flipminus1");
}

// ---- thresholding ----

TEST(PdqBitsTest, DistinctValuesSetExactly128Bits) {
  std::vector<float> block(256);
  std::iota(block.begin(), block.end(), -100.0f);  // -100 .. 155
  std::shuffle(block.begin(), block.end(), std::mt19937(5));
  const Hash256 h = PdqBitsFromCoefficients(block.data());
  EXPECT_EQ(h.PopCount(), 128);
  // The 128th smallest value is 27; bits are set strictly above it.
  for (int k = 0; k < 256; ++k) {
    EXPECT_EQ(h.GetBit(k), block[k] > 27.0f) << k;
  }
}

TEST(PdqBitsTest, AscendingValuesSetTheUpperHalf) {
  std::vector<float> block(256);
  std::iota(block.begin(), block.end(), 0.0f);
  EXPECT_EQ(PdqBitsFromCoefficients(block.data()).ToHex(),
            std::string(32, 'f') + std::string(32, '0'));
}

TEST(PdqBitsTest, MedianIsThe128thSmallest) {
  // 127 zeros and 129 ones: the 128th smallest is 1, so no bit is set.
  std::vector<float> block(256, 1.0f);
  std::fill(block.begin(), block.begin() + 127, 0.0f);
  EXPECT_EQ(PdqBitsFromCoefficients(block.data()).PopCount(), 0);
  // 128 zeros and 128 ones: the 128th smallest is 0 and the ones are above
  // it (a median taken as the 129th smallest would set none).
  block[127] = 0.0f;
  EXPECT_EQ(PdqBitsFromCoefficients(block.data()).PopCount(), 128);
  // 129 zeros: still 0; 127 ones above.
  block[128] = 0.0f;
  EXPECT_EQ(PdqBitsFromCoefficients(block.data()).PopCount(), 127);
}

}  // namespace
}  // namespace hashmatch
