// One entry point from encoded image bytes to every hash we compute: the
// CLI, the match server and the accuracy tools all call this.
//
//   ImageHasher hasher;
//   ASSIGN_OR_RETURN(std::vector<Algorithm> algos,
//                    ParseAlgorithmList("pdq,md5"));
//   ASSIGN_OR_RETURN(ImageHashes out, hasher.HashBytes(bytes, algos, {}));
//   for (const HashResult& r : out.results) ... r.hex, r.quality
//
// Algorithms:
//   pdq         PDQ of the full-resolution pixels (the reference library).
//   pdq-cli512  PDQ after the reference command-line tool's nearest-neighbour
//               squash of any image with a side over 512 to 512x512.
//   pdq-fast    PDQ of a JPEG decoded at 1/2, 1/4 or 1/8 scale, luma only
//               (libjpeg DCT scaling); other formats as pdq. Close to, not
//               equal to, pdq: see docs/performance.md.
//   phash       64-bit DCT hash (see dct_hashes.h).
//   dhash       64-bit gradient hash (see dct_hashes.h).
//   md5, sha256 digests of the encoded bytes.
// The image is decoded once for all pixel hashes (twice when pdq-fast is
// requested with another pixel hash); md5/sha256 alone decode nothing.
//
// Thread safety: an ImageHasher is not thread-safe (it owns PDQ scratch
// buffers); use one per thread.
#ifndef HASHMATCH_SRC_HASHING_IMAGE_HASHER_H_
#define HASHMATCH_SRC_HASHING_IMAGE_HASHER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/pdq.h"

namespace hashmatch {

enum class Algorithm {
  kPdq,
  kPdqCli512,
  kPdqFast,
  kPhash,
  kDhash,
  kMd5,
  kSha256
};

absl::string_view AlgorithmName(Algorithm a);
// INVALID_ARGUMENT naming the unknown algorithm and listing the valid ones.
absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name);
// Comma-separated names; duplicates are kept once, order is kept.
absl::StatusOr<std::vector<Algorithm>> ParseAlgorithmList(
    absl::string_view names);
// Bits in the algorithm's hash: 256, 64, 128 (md5) or 256 (sha256).
int AlgorithmBits(Algorithm a);
// True for the PDQ family (the ones with quality and dihedral variants).
bool IsPdq(Algorithm a);

// The reference tool squashes to this side; the fast path keeps at least this.
inline constexpr int kCli512Side = 512;
// 512 keeps pdq-fast within 2.4 bits of pdq on average (max 12) over the
// reference JPEGs; 256 doubled that for a few ms (docs/performance.md).
inline constexpr int kDefaultFastMinSide = 512;

struct HashOptions {
  DecodeOptions decode;
  // Also compute the 8 dihedral variants of each PDQ hash.
  bool dihedral = false;
  // Shorter side the pdq-fast decode keeps at least (see DecodeOptions).
  int fast_min_side = kDefaultFastMinSide;
};

struct HashResult {
  Algorithm algorithm = Algorithm::kPdq;
  std::string hex;
  // 0..100 for PDQ; unset for the others.
  std::optional<int> quality;
  // With HashOptions::dihedral, for PDQ: the 8 variants in Dihedral order.
  std::vector<std::string> dihedral_hex;
};

struct ImageHashes {
  // Unset when only md5/sha256 were asked for (nothing was decoded).
  std::optional<ImageHeader> header;
  std::vector<HashResult> results;  // In the order requested.
};

class ImageHasher {
 public:
  ImageHasher() = default;
  ImageHasher(const ImageHasher&) = delete;
  ImageHasher& operator=(const ImageHasher&) = delete;

  // Errors are the decoder's (see image_decoder.h); nothing is partially
  // returned.
  absl::StatusOr<ImageHashes> HashBytes(absl::string_view bytes,
                                        absl::Span<const Algorithm> algorithms,
                                        const HashOptions& options);

  // PDQ of decoded pixels in the given mode (kPdq, kPdqCli512 or kPdqFast,
  // where kPdqFast means pixels already decoded by the fast path).
  PdqDihedralHashes HashPdq(const ImageView& pixels, Algorithm mode,
                            bool dihedral);

 private:
  PdqHasher pdq_;
  std::vector<uint8_t> squash_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_IMAGE_HASHER_H_
