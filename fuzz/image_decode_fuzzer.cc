// Fuzzes image decoding and hashing as the match and ingest servers run
// them: DecodeImage (src/hashing/image_decoder.h: the header check, the
// interruptible libjpeg decoder of jpeg_decoder.h, OpenCV for PNG, WebP, BMP
// and TIFF) and ImageHasher::HashBytes, with small limits: 1 MP, 16 JPEG
// scans, 150 ms of JPEG decoding, 4 MiB of input. The budgets stay well
// under libFuzzer's -timeout=1 (a call may decode twice), so that a timeout
// means a limit did not hold.
//
// The input is the image, unchanged (seeds are real files); the input size
// modulo 4 picks what is asked, so that every seed and its mutations cover
// every path: 0 PDQ + MD5 (the match server's default), 1 pdq-fast + dHash
// (DCT-scaled luma decode), 2 pdq-cli512 + pHash with the dihedral
// variants, 3 HasTransparentPixels then DecodeImage with reduce_min_side
// (and at full size when that reduced it).
//
// Checks: errors have the documented codes (INVALID_ARGUMENT,
// RESOURCE_EXHAUSTED) and messages without control bytes; an OK decode has
// 8-bit gray or BGR pixels of the header's size (or the reduced size), never
// more than the pixel limit; OK hashes have one result per algorithm with
// the right number of lower-case hex digits and a PDQ quality in 0..100.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {
namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 20;

DecodeOptions Limits() {
  DecodeOptions o;
  o.max_encoded_bytes = 4 << 20;
  o.max_pixels = kMaxPixels;
  o.max_jpeg_scans = 16;
  o.max_decode_ms = 150;
  return o;
}

void CheckError(const absl::Status& s) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument ||
             s.code() == absl::StatusCode::kResourceExhausted)
      << s;
  FUZZ_CHECK(!s.message().empty());
  FUZZ_CHECK(fuzz::NoControlBytes(s.message())) << s;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void CheckDecoded(const DecodedImage& d, const DecodeOptions& options) {
  FUZZ_CHECK(!d.pixels.empty());
  FUZZ_CHECK(d.pixels.type() == CV_8UC1 || d.pixels.type() == CV_8UC3)
      << d.pixels.type();
  FUZZ_CHECK(d.scale_denom == 1 || d.scale_denom == 2 || d.scale_denom == 4 ||
             d.scale_denom == 8)
      << d.scale_denom;
  FUZZ_CHECK(static_cast<int64_t>(d.pixels.cols) * d.pixels.rows <=
             options.max_pixels)
      << d.pixels.cols << "x" << d.pixels.rows;
  FUZZ_CHECK(d.warnings >= 0);
  if (d.scale_denom == 1) {
    FUZZ_CHECK(d.pixels.cols == d.header.width &&
               d.pixels.rows == d.header.height)
        << d.pixels.cols << "x" << d.pixels.rows << " vs header "
        << d.header.width << "x" << d.header.height;
  } else {
    // libjpeg's DCT scaling rounds up.
    const int64_t s = d.scale_denom;
    FUZZ_CHECK(d.pixels.cols == (d.header.width + s - 1) / s &&
               d.pixels.rows == (d.header.height + s - 1) / s)
        << d.pixels.cols << "x" << d.pixels.rows << " at 1/" << s << " of "
        << d.header.width << "x" << d.header.height;
    FUZZ_CHECK(d.pixels.channels() == 1);
  }
  // Every pixel is readable (ASan checks the reads).
  uint64_t sum = 0;
  for (int y = 0; y < d.pixels.rows; ++y) {
    const uint8_t* row = d.pixels.ptr<uint8_t>(y);
    for (size_t x = 0; x < d.pixels.cols * d.pixels.elemSize(); ++x) {
      sum += row[x];
    }
  }
  FUZZ_CHECK(sum <= uint64_t{255} * d.pixels.total() * d.pixels.channels());
}

void CheckHashes(const ImageHashes& h, const std::vector<Algorithm>& algos,
                 bool dihedral) {
  FUZZ_CHECK(h.results.size() == algos.size()) << h.results.size();
  bool decodes = false;
  for (size_t i = 0; i < algos.size(); ++i) {
    const HashResult& r = h.results[i];
    FUZZ_CHECK(r.algorithm == algos[i]);
    FUZZ_CHECK(r.hex.size() == static_cast<size_t>(AlgorithmBits(algos[i]) / 4))
        << AlgorithmName(algos[i]) << " " << r.hex;
    FUZZ_CHECK(IsLowerHex(r.hex)) << r.hex;
    if (IsPdq(algos[i])) {
      decodes = true;
      FUZZ_CHECK(r.quality.has_value() && *r.quality >= 0 && *r.quality <= 100);
      FUZZ_CHECK(r.dihedral_hex.size() == (dihedral ? 8u : 0u))
          << r.dihedral_hex.size();
      for (const std::string& d : r.dihedral_hex) {
        FUZZ_CHECK(d.size() == 64 && IsLowerHex(d)) << d;
      }
    } else {
      FUZZ_CHECK(!r.quality.has_value());
      if (algos[i] == Algorithm::kPhash || algos[i] == Algorithm::kDhash) {
        decodes = true;
      }
    }
  }
  FUZZ_CHECK(h.header.has_value() == decodes);
}

void Run(absl::string_view bytes) {
  ImageHasher hasher;
  const DecodeOptions limits = Limits();
  switch (bytes.size() % 4) {
    case 0:
    case 1:
    case 2: {
      static const std::vector<Algorithm> kAsked[3] = {
          {Algorithm::kPdq, Algorithm::kMd5},
          {Algorithm::kPdqFast, Algorithm::kDhash},
          {Algorithm::kPdqCli512, Algorithm::kPhash}};
      const std::vector<Algorithm>& algos = kAsked[bytes.size() % 4];
      HashOptions options;
      options.decode = limits;
      options.dihedral = bytes.size() % 4 == 2;
      options.fast_min_side = 64;
      absl::StatusOr<ImageHashes> h = hasher.HashBytes(bytes, algos, options);
      if (!h.ok()) {
        CheckError(h.status());
        return;
      }
      CheckHashes(*h, algos, options.dihedral);
      return;
    }
    default: {
      absl::StatusOr<bool> alpha = HasTransparentPixels(bytes, limits);
      if (!alpha.ok()) CheckError(alpha.status());
      DecodeOptions options = limits;
      options.reduce_min_side = 32;
      absl::StatusOr<DecodedImage> d = DecodeImage(bytes, options);
      if (!d.ok()) {
        CheckError(d.status());
        return;
      }
      CheckDecoded(*d, options);
      if (d->scale_denom == 1) return;
      // The same file decodes at full size too.
      options.reduce_min_side = 0;
      absl::StatusOr<DecodedImage> full = DecodeImage(bytes, options);
      if (!full.ok()) {
        // Only a work limit may stop the full decode of a file whose
        // reduced decode succeeded.
        FUZZ_CHECK(full.status().code() == absl::StatusCode::kResourceExhausted)
            << full.status();
        return;
      }
      CheckDecoded(*full, options);
      return;
    }
  }
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
