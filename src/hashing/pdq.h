// PDQ: Meta's 256-bit perceptual image hash, bit-exact with the reference
// library (ThreatExchange pdq/cpp) on the same pixels.
//
//   PdqHasher hasher;
//   ASSIGN_OR_RETURN(PdqHash h, hasher.Hash(decoded.view()));
//   std::cout << h.hash.ToHex() << " " << h.quality;
//
// Pipeline: float luma; two passes of a Jarosz box filter along rows then
// columns (window (dim + 127) / 128, shrinking at the edges); decimation to
// 64x64 at pixel centres; a quality score from the 64x64 gradients; the DCT
// coefficients (1..16)x(1..16); bit k = 16 * row + col is set where the
// coefficient exceeds the median of the 256. Images under 5 pixels on a side
// hash to all zeros with quality 0, as in the reference.
//
// Every float operation happens in the reference's order, so the build must
// not contract multiply-adds (-ffp-contract=off) or use fast-math.
//
// Thread safety: a PdqHasher owns scratch buffers and is not thread-safe; use
// one per thread. The free functions are thread-safe.
#ifndef HASHMATCH_SRC_HASHING_PDQ_H_
#define HASHMATCH_SRC_HASHING_PDQ_H_

#include <array>
#include <vector>

#include "absl/strings/string_view.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_view.h"

namespace hashmatch {

// The reference's match threshold (distance <= 31) and trust floor.
inline constexpr int kPdqDefaultThreshold = 31;
inline constexpr int kPdqMinTrustedQuality = 50;

struct PdqHash {
  Hash256 hash;
  int quality = 0;  // 0..100.
};

// The eight symmetries of the square, in the reference's order. Rotations are
// counter-clockwise; kFlipX mirrors top-bottom, kFlipY mirrors left-right,
// kFlipPlus1 transposes about the main diagonal, kFlipMinus1 about the other.
enum class Dihedral {
  kOriginal = 0,
  kRotate90 = 1,
  kRotate180 = 2,
  kRotate270 = 3,
  kFlipX = 4,
  kFlipY = 5,
  kFlipPlus1 = 6,
  kFlipMinus1 = 7,
};
inline constexpr int kNumDihedral = 8;
absl::string_view DihedralName(Dihedral d);

struct PdqDihedralHashes {
  // hashes[static_cast<int>(d)] approximates the hash of the image transformed
  // by d (within about 0-20 bits), computed from one DCT.
  std::array<Hash256, kNumDihedral> hashes;
  int quality = 0;
};

class PdqHasher {
 public:
  PdqHasher() = default;
  PdqHasher(const PdqHasher&) = delete;
  PdqHasher& operator=(const PdqHasher&) = delete;

  // The reference library's hash of the full-resolution pixels.
  // REQUIRES: image.channels is 1 or 3.
  PdqHash Hash(const ImageView& image);

  // The hash and its seven dihedral variants. variants.hashes[0] equals
  // Hash(image).hash, except on a 64x64 input, where the reference skips the
  // filter for the plain hash only.
  PdqDihedralHashes HashDihedral(const ImageView& image);

 private:
  // Filters and decimates `image` into dct_in_ and computes the 16x16 DCT
  // block into dct_out_; returns the quality.
  int Transform(const ImageView& image, bool allow_64_shortcut);

  std::vector<float> buf1_;  // Luma, then filter passes (w*h, at least h*64).
  std::vector<float> buf2_;  // Filter passes (w*h).
  std::vector<float> cols_;  // The 64 sampled columns after the last pass.
  std::vector<float> sums_;  // One running sum per lane.
  std::vector<float> row_block_;  // 2 x 16 rows, transposed (2 * 16 * w).
  alignas(64) float grid_[64 * 64];
  alignas(64) float dct_tmp_[16 * 64];
  alignas(64) float dct_out_[16 * 16];
};

// Thresholds a 16x16 coefficient block (row-major) at its median: the median
// is the 128th smallest value and bit 16*i+j is set where B[i][j] exceeds it.
Hash256 PdqBitsFromCoefficients(const float* block16x16);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_PDQ_H_
