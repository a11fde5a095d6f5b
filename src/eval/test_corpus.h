// Test helpers: a tiny corpus of generated "photos" (smooth random colour
// fields with blobs and fine texture), written as PNG files into a fresh
// directory under the test's temp dir, with manifest entries whose groups are
// chosen so that exactly `vetted` of them fall in the vetted half.
#ifndef HASHMATCH_SRC_EVAL_TEST_CORPUS_H_
#define HASHMATCH_SRC_EVAL_TEST_CORPUS_H_

#include <unistd.h>

#include <filesystem>
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

// `count` photos of 240x180 in `dir`; the first `vetted` entries have groups
// in the vetted half, the rest not.
inline std::vector<ManifestEntry> WriteSyntheticCorpus(const std::string& dir,
                                                       int count, int vetted) {
  std::vector<ManifestEntry> entries;
  int want_vetted = vetted, want_innocent = count - vetted;
  for (int k = 0; entries.size() < static_cast<size_t>(count); ++k) {
    const std::string group = absl::StrCat("photo-", k);
    const bool is_vetted = IsVettedGroup(group);
    if (is_vetted ? want_vetted == 0 : want_innocent == 0) continue;
    (is_vetted ? want_vetted : want_innocent)--;
    const std::string path = absl::StrCat(dir, "/", group, ".png");
    cv::imwrite(path, SyntheticPhoto(1000 + k, 240, 180));
    ManifestEntry e;
    e.path = path;
    e.group = group;
    e.package.assign(1, '-');  // (= "-" trips GCC 12 -Wrestrict at -O2)
    std::string bytes;
    {
      FILE* f = fopen(path.c_str(), "rb");
      char buf[65536];
      size_t n;
      while ((n = fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
      fclose(f);
    }
    e.size = static_cast<int64_t>(bytes.size());
    e.md5 = Md5Hex(bytes);
    entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) {
              return IsVettedGroup(a.group) > IsVettedGroup(b.group);
            });
  return entries;
}

}  // namespace testing_util
}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_TEST_CORPUS_H_
