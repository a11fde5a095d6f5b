#include "src/hashing/image_hasher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/dct_hashes.h"
#include "src/hashing/test_util.h"

namespace hashmatch {
namespace {

using testing_util::Encode;
using testing_util::SmoothTexture;
using testing_util::ViewOf;

TEST(AlgorithmTest, NamesRoundTrip) {
  for (const char* name :
       {"pdq", "pdq-cli512", "pdq-fast", "phash", "dhash", "md5", "sha256"}) {
    auto a = ParseAlgorithm(name);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(AlgorithmName(*a), name);
  }
}

TEST(AlgorithmTest, UnknownNameListsValidOnes) {
  auto a = ParseAlgorithm("sha1");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("unknown algorithm 'sha1'"),
            std::string::npos)
      << a.status();
  EXPECT_NE(a.status().message().find(
                "pdq,pdq-cli512,pdq-fast,phash,dhash,md5,sha256"),
            std::string::npos)
      << a.status();
  // Names are case-sensitive.
  EXPECT_FALSE(ParseAlgorithm("PDQ").ok());
}

TEST(AlgorithmTest, ListKeepsOrderAndDropsDuplicates) {
  auto list = ParseAlgorithmList("md5,pdq,md5,phash,pdq");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, (std::vector<Algorithm>{Algorithm::kMd5, Algorithm::kPdq,
                                           Algorithm::kPhash}));
}

TEST(AlgorithmTest, ListWithUnknownNameFails) {
  auto list = ParseAlgorithmList("pdq,foo");
  EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(list.status().message().find("'foo'"), std::string::npos)
      << list.status();
  EXPECT_EQ(ParseAlgorithmList("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AlgorithmTest, BitsAndFamily) {
  EXPECT_EQ(AlgorithmBits(Algorithm::kPdq), 256);
  EXPECT_EQ(AlgorithmBits(Algorithm::kPdqCli512), 256);
  EXPECT_EQ(AlgorithmBits(Algorithm::kPhash), 64);
  EXPECT_EQ(AlgorithmBits(Algorithm::kDhash), 64);
  EXPECT_EQ(AlgorithmBits(Algorithm::kMd5), 128);
  EXPECT_EQ(AlgorithmBits(Algorithm::kSha256), 256);
  EXPECT_TRUE(IsPdq(Algorithm::kPdqFast));
  EXPECT_FALSE(IsPdq(Algorithm::kPhash));
  EXPECT_FALSE(IsPdq(Algorithm::kSha256));
}

TEST(ImageHasherTest, DigestsAloneDoNotDecode) {
  ImageHasher hasher;
  const std::vector<Algorithm> algos = {Algorithm::kSha256, Algorithm::kMd5};
  auto out = hasher.HashBytes("abc", algos, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->header.has_value());
  ASSERT_EQ(out->results.size(), 2u);
  EXPECT_EQ(out->results[0].algorithm, Algorithm::kSha256);
  EXPECT_EQ(out->results[0].hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(out->results[0].quality.has_value());
  EXPECT_EQ(out->results[1].hex, "900150983cd24fb0d6963f7d28e17f72");
}

TEST(ImageHasherTest, NoAlgorithmIsInvalidArgument) {
  ImageHasher hasher;
  auto out = hasher.HashBytes("abc", {}, {});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("no hash algorithm"),
            std::string::npos);
}

TEST(ImageHasherTest, PixelHashesMatchTheLibraryOnDecodedPixels) {
  const std::string png = Encode(".png", SmoothTexture(300, 200, 1));
  auto decoded = DecodeImage(png, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  PdqHasher pdq;
  const PdqHash want = pdq.Hash(decoded->view());

  ImageHasher hasher;
  const std::vector<Algorithm> algos = {Algorithm::kPdq, Algorithm::kPhash,
                                        Algorithm::kDhash, Algorithm::kMd5};
  auto out = hasher.HashBytes(png, algos, {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->header.has_value());
  EXPECT_EQ(out->header->format, ImageFormat::kPng);
  EXPECT_EQ(out->header->width, 300);
  ASSERT_EQ(out->results.size(), 4u);
  EXPECT_EQ(out->results[0].hex, want.hash.ToHex());
  EXPECT_EQ(out->results[0].quality, want.quality);
  EXPECT_TRUE(out->results[0].dihedral_hex.empty());
  EXPECT_EQ(out->results[1].hex, PHash(decoded->view()).ToHex());
  EXPECT_EQ(out->results[2].hex, DHash(decoded->view()).ToHex());
  EXPECT_EQ(out->results[3].hex, Md5Hex(png));
}

// The reference tool's squash, written out here independently: output
// (x, y) takes input (floor(x * W / 512), floor(y * H / 512)).
cv::Mat Squash512(const cv::Mat& in) {
  cv::Mat out(512, 512, in.type());
  for (int y = 0; y < 512; ++y) {
    const int sy = static_cast<int>(static_cast<double>(y) * in.rows / 512);
    for (int x = 0; x < 512; ++x) {
      const int sx = static_cast<int>(static_cast<double>(x) * in.cols / 512);
      out.at<cv::Vec3b>(y, x) = in.at<cv::Vec3b>(sy, sx);
    }
  }
  return out;
}

TEST(ImageHasherTest, Cli512SquashesLargeImages) {
  const cv::Mat img = SmoothTexture(700, 530, 2);
  ImageHasher hasher;
  const std::vector<Algorithm> algos = {Algorithm::kPdqCli512};
  auto out = hasher.HashBytes(Encode(".png", img), algos, {});
  ASSERT_TRUE(out.ok()) << out.status();
  PdqHasher pdq;
  const PdqHash want = pdq.Hash(ViewOf(Squash512(img)));
  EXPECT_EQ(out->results[0].hex, want.hash.ToHex());
  EXPECT_EQ(out->results[0].quality, want.quality);
}

TEST(ImageHasherTest, Cli512LeavesSmallImagesAlone) {
  // Both sides <= 512 (one exactly 512): no resize, same as pdq.
  const std::string png = Encode(".png", SmoothTexture(512, 300, 3));
  ImageHasher hasher;
  const std::vector<Algorithm> algos = {Algorithm::kPdq, Algorithm::kPdqCli512};
  auto out = hasher.HashBytes(png, algos, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->results[0].hex, out->results[1].hex);
}

TEST(ImageHasherTest, DihedralGivesEightVariants) {
  const cv::Mat img = SmoothTexture(250, 180, 4);
  HashOptions options;
  options.dihedral = true;
  ImageHasher hasher;
  const std::vector<Algorithm> algos = {Algorithm::kPdq, Algorithm::kDhash};
  auto out = hasher.HashBytes(Encode(".png", img), algos, options);
  ASSERT_TRUE(out.ok()) << out.status();
  PdqHasher pdq;
  const PdqDihedralHashes want = pdq.HashDihedral(ViewOf(img));
  const HashResult& r = out->results[0];
  ASSERT_EQ(r.dihedral_hex.size(), 8u);
  EXPECT_EQ(r.dihedral_hex[0], r.hex);
  for (int d = 0; d < kNumDihedral; ++d) {
    EXPECT_EQ(r.dihedral_hex[d], want.hashes[d].ToHex()) << d;
  }
  EXPECT_EQ(r.quality, want.quality);
  EXPECT_TRUE(out->results[1].dihedral_hex.empty());
}

TEST(ImageHasherTest, FastUsesTheReducedJpegDecode) {
  const std::string jpeg = Encode(".jpg", SmoothTexture(2048, 1536, 5));
  DecodeOptions fast_options;
  fast_options.reduce_min_side = kDefaultFastMinSide;
  auto reduced = DecodeImage(jpeg, fast_options);
  ASSERT_TRUE(reduced.ok()) << reduced.status();
  ASSERT_EQ(reduced->scale_denom, 2);  // 1536 / 2 >= 512 > 1536 / 4.
  auto full = DecodeImage(jpeg, {});
  ASSERT_TRUE(full.ok()) << full.status();
  PdqHasher pdq;
  const std::string want_fast = pdq.Hash(reduced->view()).hash.ToHex();
  const std::string want_full = pdq.Hash(full->view()).hash.ToHex();

  ImageHasher hasher;
  const std::vector<Algorithm> algos = {Algorithm::kPdqFast, Algorithm::kPdq};
  auto out = hasher.HashBytes(jpeg, algos, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->results[0].algorithm, Algorithm::kPdqFast);
  EXPECT_EQ(out->results[0].hex, want_fast);
  EXPECT_EQ(out->results[1].hex, want_full);
  EXPECT_EQ(out->header->width, 2048);
}

TEST(ImageHasherTest, FastOnNonJpegEqualsPdq) {
  const std::string png = Encode(".png", SmoothTexture(1200, 900, 6));
  ImageHasher hasher;
  for (bool with_pdq : {false, true}) {
    std::vector<Algorithm> algos = {Algorithm::kPdqFast};
    if (with_pdq) algos.push_back(Algorithm::kPdq);
    auto out = hasher.HashBytes(png, algos, {});
    ASSERT_TRUE(out.ok()) << out.status();
    PdqHasher pdq;
    auto decoded = DecodeImage(png, {});
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(out->results[0].hex, pdq.Hash(decoded->view()).hash.ToHex());
  }
}

TEST(ImageHasherTest, DecodeErrorsPropagateUnchanged) {
  const std::vector<std::string> bad = {"", "GIF89a\x01\0\x01\0",
                                        testing_util::PngHeader(100000, 100000),
                                        testing_util::RandomBytes(100, 3)};
  ImageHasher hasher;
  for (const std::string& bytes : bad) {
    const absl::Status want = DecodeImage(bytes, {}).status();
    ASSERT_FALSE(want.ok());
    for (Algorithm a :
         {Algorithm::kPdq, Algorithm::kPdqFast, Algorithm::kPhash}) {
      const std::vector<Algorithm> algos = {Algorithm::kMd5, a};
      auto out = hasher.HashBytes(bytes, algos, {});
      EXPECT_EQ(out.status(), want) << AlgorithmName(a);
    }
  }
  // The encoded-size limit applies even when nothing would be decoded.
  HashOptions options;
  options.decode.max_encoded_bytes = 2;
  const std::vector<Algorithm> md5 = {Algorithm::kMd5};
  auto out = hasher.HashBytes("abc", md5, options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.status(), DecodeImage("abc", options.decode).status());
}

}  // namespace
}  // namespace hashmatch
