// Test helpers: a tiny corpus of generated "photos" (smooth random colour
// fields with blobs and fine texture), written as PNG files into a fresh
// directory under the test's temp dir, with manifest entries whose pictures
// are chosen so that exactly `vetted` of them fall in the vetted half (the
// split is by content: evaluation.h).
#ifndef HASHMATCH_SRC_EVAL_TEST_CORPUS_H_
#define HASHMATCH_SRC_EVAL_TEST_CORPUS_H_

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/eval/evaluation.h"
#include "src/eval/manifest.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace eval {
namespace testing_util {

inline cv::Mat SyntheticPhoto(uint64_t seed, int width, int height) {
  cv::RNG rng(seed);
  cv::Mat coarse(6, 8, CV_8UC3);
  rng.fill(coarse, cv::RNG::UNIFORM, 0, 256);
  cv::Mat img;
  cv::resize(coarse, img, cv::Size(width, height), 0, 0, cv::INTER_CUBIC);
  for (int k = 0; k < 6; ++k) {
    const cv::Point c(rng.uniform(0, width), rng.uniform(0, height));
    const int r = rng.uniform(width / 20 + 1, width / 5 + 2);
    cv::circle(img, c, r,
               cv::Scalar(rng.uniform(0, 256), rng.uniform(0, 256),
                          rng.uniform(0, 256)),
               cv::FILLED, cv::LINE_AA);
  }
  cv::Mat noise(img.size(), CV_8UC3);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 24);
  img += noise;
  return img;
}

inline std::string FreshDir(const std::string& name) {
  // The pid keeps concurrent runs (several build trees) apart.
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/", name, "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Inserts an iCCP chunk right after IHDR of the PNG `png`: profile name
// `name` (1-79 bytes, no NUL) and a profile of 132 zero bytes (a header that
// declares a length of 0), stored uncompressed so the chunk is long enough
// to be read. libpng rejects the profile with a warning that quotes the
// name ("iCCP: profile 'NAME': 0h: too short") and ignores the chunk
// whenever the file is decoded: a stand-in for the "iCCP: known incorrect
// sRGB profile" warnings of real corpora, with image-supplied bytes in it.
// The PNG is returned unchanged if it does not start with IHDR.
inline std::string WithBadIccProfile(const std::string& png,
                                     const std::string& name) {
  constexpr size_t kSignature = 8;
  constexpr size_t kIhdrChunk = 4 + 4 + 13 + 4;  // Length, type, data, CRC.
  if (png.size() < kSignature + kIhdrChunk ||
      png.compare(kSignature + 4, 4, "IHDR") != 0) {
    return png;
  }
  const std::string profile(132, '\0');
  uLongf packed_size = compressBound(profile.size());
  std::string packed(packed_size, '\0');
  compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
            reinterpret_cast<const Bytef*>(profile.data()), profile.size(),
            Z_NO_COMPRESSION);
  packed.resize(packed_size);
  std::string body = "iCCP" + name;
  body += '\0';  // End of the name.
  body += '\0';  // Compression method 0 (zlib).
  body += packed;
  auto be32 = [](uint32_t v) {
    std::string b(4, '\0');
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (24 - 8 * i));
    return b;
  };
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size()));
  std::string out = png.substr(0, kSignature + kIhdrChunk);
  out += be32(static_cast<uint32_t>(body.size() - 4)) + body + be32(crc);
  out += png.substr(kSignature + kIhdrChunk);
  return out;
}

// `count` photos of 240x180 written as PNG files "photo-<k>.png" in `dir`
// (group "photo-<k>", package "-"), returned vetted first: the first
// `vetted` entries fall in the vetted half (IsVettedPicture of their MD5),
// the others in the innocent half. Photos are generated from seeds 1000,
// 1001, ... and one is kept only while its half still needs photos, so the
// split is known whatever bytes this build's PNG encoder writes. `edit`, when
// given, rewrites each encoded PNG before it is judged and written (e.g.
// WithBadIccProfile).
inline std::vector<ManifestEntry> WriteSyntheticCorpus(
    const std::string& dir, int count, int vetted,
    const std::function<std::string(const std::string&)>& edit = nullptr) {
  std::vector<ManifestEntry> entries;
  int want_vetted = vetted, want_innocent = count - vetted;
  for (int k = 0; entries.size() < static_cast<size_t>(count); ++k) {
    if (k == 10000) {
      ADD_FAILURE() << "no split with " << vetted << " of " << count;
      break;
    }
    std::vector<uchar> encoded;
    cv::imencode(".png", SyntheticPhoto(1000 + k, 240, 180), encoded);
    std::string bytes(encoded.begin(), encoded.end());
    if (edit) bytes = edit(bytes);
    ManifestEntry e;
    e.md5 = Md5Hex(bytes);
    const bool is_vetted = IsVettedPicture(e.md5);
    if (is_vetted ? want_vetted == 0 : want_innocent == 0) continue;
    (is_vetted ? want_vetted : want_innocent)--;
    e.group = absl::StrCat("photo-", k);
    e.path = absl::StrCat(dir, "/", e.group, ".png");
    e.package.assign(1, '-');  // (= "-" trips GCC 12 -Wrestrict at -O2)
    e.size = static_cast<int64_t>(bytes.size());
    FILE* f = fopen(e.path.c_str(), "wb");
    if (f == nullptr ||
        fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
      ADD_FAILURE() << "cannot write " << e.path;
    }
    if (f != nullptr) fclose(f);
    entries.push_back(e);
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const ManifestEntry& a, const ManifestEntry& b) {
                     return IsVettedPicture(a.md5) > IsVettedPicture(b.md5);
                   });
  return entries;
}

}  // namespace testing_util
}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_TEST_CORPUS_H_
