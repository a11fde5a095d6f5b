// Cross-library check: our PDQ equals the reference library (pdq_full) and
// the reference command-line tool (pdq_cli512), bit for bit and quality for
// quality, on every Debian-packaged photo in tests/data that is installed.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_hasher.h"
#include "src/hashing/pdq.h"
#include "tests/reference_rows.h"

namespace hashmatch {
namespace {

using testing_util::LoadReferenceRows;
using testing_util::ReadInstalledFile;
using testing_util::ReadWholeFile;
using testing_util::ReferenceRow;

// CI installs the four packages, which cover 151 rows.
constexpr int kMinCheckedRows = 100;
// pdq-fast against pdq on JPEGs: the mean must stay small.
constexpr double kMaxMeanFastDistance = 6.0;

int Distance(const std::string& hex_a, const std::string& hex_b) {
  absl::StatusOr<Hash256> a = Hash256::FromHex(hex_a);
  absl::StatusOr<Hash256> b = Hash256::FromHex(hex_b);
  if (!a.ok() || !b.ok()) {
    ADD_FAILURE() << "bad hex: " << hex_a << " / " << hex_b;
    return 256;
  }
  return HammingDistance(*a, *b);
}

TEST(PdqGoldenTest, MatchesReferenceOnInstalledPhotos) {
  const std::vector<ReferenceRow> rows = LoadReferenceRows();
  ASSERT_GT(rows.size(), 0u);
  DecodeOptions decode;
  decode.max_encoded_bytes = 64u << 20;
  HashOptions options;
  options.decode = decode;

  int checked = 0, missing = 0, other_version = 0, full_checked = 0;
  std::vector<int> fast_distances;
  PdqHasher pdq;
  ImageHasher hasher;
  for (const ReferenceRow& row : rows) {
    SCOPED_TRACE(row.path);
    std::optional<std::string> bytes = ReadInstalledFile(row);
    if (!bytes.has_value()) {
      (ReadWholeFile(row.path).has_value() ? other_version : missing)++;
      continue;
    }
    ++checked;

    if (!row.pdq_full.empty()) {
      absl::StatusOr<DecodedImage> image = DecodeImage(*bytes, decode);
      ASSERT_TRUE(image.ok()) << image.status();
      EXPECT_EQ(image->header.width, row.width);
      EXPECT_EQ(image->header.height, row.height);
      PdqHash h = pdq.Hash(image->view());
      EXPECT_EQ(Distance(h.hash.ToHex(), row.pdq_full), 0);
      EXPECT_EQ(h.quality, row.quality_full);
      ++full_checked;
    }

    std::vector<Algorithm> algos = {Algorithm::kPdqCli512};
    const bool fast = row.format == "JPEG" && !row.pdq_full.empty();
    if (fast) algos.push_back(Algorithm::kPdqFast);
    absl::StatusOr<ImageHashes> out = hasher.HashBytes(*bytes, algos, options);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->results.size(), algos.size());
    EXPECT_EQ(Distance(out->results[0].hex, row.pdq_cli512), 0);
    EXPECT_EQ(out->results[0].quality, row.quality_cli512);
    if (fast) {
      fast_distances.push_back(Distance(out->results[1].hex, row.pdq_full));
    }
  }

  std::printf(
      "golden rows: %zu, checked %d (pdq %d, pdq-cli512 %d), "
      "not installed %d, other package version %d\n",
      rows.size(), checked, full_checked, checked, missing, other_version);
  EXPECT_GE(checked, kMinCheckedRows)
      << "install mate-backgrounds plasma-workspace-wallpapers "
         "gnome-backgrounds python3-skimage";
  if (!fast_distances.empty()) {
    double sum = 0;
    for (int d : fast_distances) sum += d;
    const double mean = sum / fast_distances.size();
    const int max =
        *std::max_element(fast_distances.begin(), fast_distances.end());
    std::printf("pdq-fast vs pdq on %zu JPEGs: mean %.2f, max %d bits\n",
                fast_distances.size(), mean, max);
    EXPECT_LT(mean, kMaxMeanFastDistance);
  }
}

}  // namespace
}  // namespace hashmatch
