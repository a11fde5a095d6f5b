// Hashes the benign Debian wallpaper corpus (docs/performance.md "# Search
// index", ../shared/corpus.md) into the sample that bench/pdq_code_model.h
// fits: PDQ hashes of distinct photos and of crops and mirrors of them, plus
// common transforms of each photo for calibrating near-duplicate noise.
//
//   pdq_corpus_hashes OUT.tsv [DIR...]   (default: /usr/share/backgrounds
//                                         /usr/share/wallpapers)
//
// Every readable .jpg/.jpeg/.png/.webp under the directories is decoded and
// scaled so its longer side is at most 1024 (PDQ filters down to 64x64, so
// this changes hashes by a few bits at most). A photo whose hash is within 31
// bits of an earlier photo's (the same wallpaper at another size, or a
// light/dark variant) is skipped. For each kept photo the output has rows
//   HEX  kind  group
// with kind "full", "mirror", "crop<i>" (nine half-size crops on a 3x3 grid:
// different framings, used as further distinct images), or "t_<name>" (a
// transform of the full photo: resize50, jpeg40, blur5, gamma07, crop90,
// border): the "t_" rows are near-duplicates, used only for calibration.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "opencv2/core.hpp"
#include "opencv2/imgcodecs.hpp"
#include "opencv2/imgproc.hpp"
#include "src/common/file_util.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace {

bool IsImage(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp";
}

Hash256 HashMat(PdqHasher* hasher, const cv::Mat& m) {
  return hasher->Hash(ViewOfMat(m)).hash;
}

int Run(const std::string& out_path, const std::vector<std::string>& dirs) {
  std::vector<std::filesystem::path> files;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file() && IsImage(it->path())) {
        files.push_back(it->path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  std::ofstream out(out_path);
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", out_path.c_str());
    return 1;
  }
  out << "# PDQ hashes of the Debian wallpaper corpus (bench/"
         "pdq_corpus_hashes.cc): hex kind group\n";
  PdqHasher hasher;
  std::vector<Hash256> kept;
  int skipped = 0, failed = 0;
  for (const auto& path : files) {
    absl::StatusOr<std::string> bytes =
        ReadFileToString(path.string(), 64 << 20);
    if (!bytes.ok()) {
      ++failed;
      continue;
    }
    absl::StatusOr<DecodedImage> decoded = DecodeImage(*bytes, DecodeOptions());
    if (!decoded.ok() || decoded->pixels.cols < 64 ||
        decoded->pixels.rows < 64) {
      ++failed;
      continue;
    }
    cv::Mat img = decoded->pixels;
    const double scale = 1024.0 / std::max(img.cols, img.rows);
    if (scale < 1) {
      cv::resize(img, img, cv::Size(), scale, scale, cv::INTER_AREA);
    }
    const Hash256 full = HashMat(&hasher, img);
    bool dup = false;
    for (const Hash256& k : kept) dup = dup || HammingDistance(k, full) <= 31;
    if (dup) {
      ++skipped;
      continue;
    }
    const int group = static_cast<int>(kept.size());
    kept.push_back(full);
    auto emit = [&](const Hash256& h, const std::string& kind) {
      out << h.ToHex() << '\t' << kind << '\t' << group << '\n';
    };
    emit(full, "full");
    cv::Mat mirror;
    cv::flip(img, mirror, 1);
    emit(HashMat(&hasher, mirror), "mirror");
    const int cw = img.cols / 2, ch = img.rows / 2;
    for (int i = 0; i < 9; ++i) {
      const int x = (img.cols - cw) * (i % 3) / 2;
      const int y = (img.rows - ch) * (i / 3) / 2;
      emit(HashMat(&hasher, img(cv::Rect(x, y, cw, ch)).clone()),
           "crop" + std::to_string(i));
    }
    cv::Mat t;
    cv::resize(img, t, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
    emit(HashMat(&hasher, t), "t_resize50");
    std::vector<uint8_t> jpeg;
    cv::imencode(".jpg", img, jpeg, {cv::IMWRITE_JPEG_QUALITY, 40});
    emit(HashMat(&hasher, cv::imdecode(jpeg, cv::IMREAD_COLOR)), "t_jpeg40");
    cv::GaussianBlur(img, t, cv::Size(5, 5), 0);
    emit(HashMat(&hasher, t), "t_blur5");
    cv::Mat lut(1, 256, CV_8U);
    for (int v = 0; v < 256; ++v) {
      lut.at<uint8_t>(v) =
          cv::saturate_cast<uint8_t>(255.0 * std::pow(v / 255.0, 0.7));
    }
    cv::LUT(img, lut, t);
    emit(HashMat(&hasher, t), "t_gamma07");
    emit(HashMat(&hasher, img(cv::Rect(img.cols / 20, img.rows / 20,
                                       img.cols * 9 / 10, img.rows * 9 / 10))
                              .clone()),
         "t_crop90");
    cv::copyMakeBorder(img, t, img.rows / 10, img.rows / 10, img.cols / 10,
                       img.cols / 10, cv::BORDER_CONSTANT,
                       cv::Scalar(255, 255, 255));
    emit(HashMat(&hasher, t), "t_border");
  }
  std::printf(
      "%zu files, %zu distinct photos kept, %d near-duplicate files "
      "skipped, %d unreadable\n",
      files.size(), kept.size(), skipped, failed);
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pdq_corpus_hashes OUT.tsv [DIR...]\n");
    return 2;
  }
  std::vector<std::string> dirs(argv + 2, argv + argc);
  if (dirs.empty()) dirs = {"/usr/share/backgrounds", "/usr/share/wallpapers"};
  return hashmatch::Run(argv[1], dirs);
}
