#include "src/hashing/image_hasher.h"

#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/dct_hashes.h"

namespace hashmatch {
namespace {

constexpr Algorithm kAll[] = {Algorithm::kPdq,     Algorithm::kPdqCli512,
                              Algorithm::kPdqFast, Algorithm::kPhash,
                              Algorithm::kDhash,   Algorithm::kMd5,
                              Algorithm::kSha256};

}  // namespace

absl::string_view AlgorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kPdq:
      return "pdq";
    case Algorithm::kPdqCli512:
      return "pdq-cli512";
    case Algorithm::kPdqFast:
      return "pdq-fast";
    case Algorithm::kPhash:
      return "phash";
    case Algorithm::kDhash:
      return "dhash";
    case Algorithm::kMd5:
      return "md5";
    case Algorithm::kSha256:
      return "sha256";
  }
  return "unknown";
}

absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name) {
  for (Algorithm a : kAll) {
    if (AlgorithmName(a) == name) return a;
  }
  std::vector<std::string> names;
  for (Algorithm a : kAll) names.emplace_back(AlgorithmName(a));
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown algorithm '", name, "'; valid: ", absl::StrJoin(names, ",")));
}

absl::StatusOr<std::vector<Algorithm>> ParseAlgorithmList(
    absl::string_view names) {
  std::vector<Algorithm> out;
  for (absl::string_view name : absl::StrSplit(names, ',')) {
    ASSIGN_OR_RETURN(Algorithm a, ParseAlgorithm(name));
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

int AlgorithmBits(Algorithm a) {
  switch (a) {
    case Algorithm::kPhash:
    case Algorithm::kDhash:
      return 64;
    case Algorithm::kMd5:
      return 128;
    default:
      return 256;
  }
}

bool IsPdq(Algorithm a) {
  return a == Algorithm::kPdq || a == Algorithm::kPdqCli512 ||
         a == Algorithm::kPdqFast;
}

PdqDihedralHashes ImageHasher::HashPdq(const ImageView& pixels, Algorithm mode,
                                       bool dihedral) {
  ImageView view = pixels;
  if (mode == Algorithm::kPdqCli512 &&
      (view.width > kCli512Side || view.height > kCli512Side)) {
    view = ResizeNearest(view, kCli512Side, kCli512Side, &squash_);
  }
  if (dihedral) return pdq_.HashDihedral(view);
  PdqHash h = pdq_.Hash(view);
  PdqDihedralHashes out;
  out.hashes[0] = h.hash;
  out.quality = h.quality;
  return out;
}

absl::StatusOr<ImageHashes> ImageHasher::HashBytes(
    absl::string_view bytes, absl::Span<const Algorithm> algorithms,
    const HashOptions& options) {
  if (algorithms.empty()) {
    return absl::InvalidArgumentError("no hash algorithm requested");
  }
  if (bytes.size() > options.decode.max_encoded_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("image is ", bytes.size(), " bytes, over the limit of ",
                     options.decode.max_encoded_bytes, " bytes"));
  }
  bool need_full = false, need_fast = false;
  for (Algorithm a : algorithms) {
    if (a == Algorithm::kPdqFast) {
      need_fast = true;
    } else if (a != Algorithm::kMd5 && a != Algorithm::kSha256) {
      need_full = true;
    }
  }
  ImageHashes out;
  std::optional<DecodedImage> full, fast;
  if (need_full) {
    ASSIGN_OR_RETURN(full, DecodeImage(bytes, options.decode));
    out.header = full->header;
  }
  if (need_fast) {
    DecodeOptions fast_options = options.decode;
    fast_options.reduce_min_side = options.fast_min_side;
    if (full.has_value() && full->header.format != ImageFormat::kJpeg) {
      fast = full;  // No reduced decode for this format: reuse the pixels.
    } else {
      ASSIGN_OR_RETURN(fast, DecodeImage(bytes, fast_options));
      out.header = fast->header;
    }
  }
  for (Algorithm a : algorithms) {
    HashResult r;
    r.algorithm = a;
    switch (a) {
      case Algorithm::kPdq:
      case Algorithm::kPdqCli512:
      case Algorithm::kPdqFast: {
        const DecodedImage& img = a == Algorithm::kPdqFast ? *fast : *full;
        PdqDihedralHashes h = HashPdq(img.view(), a, options.dihedral);
        r.hex = h.hashes[0].ToHex();
        r.quality = h.quality;
        if (options.dihedral) {
          for (const Hash256& v : h.hashes) r.dihedral_hex.push_back(v.ToHex());
        }
        break;
      }
      case Algorithm::kPhash:
        r.hex = PHash(full->view()).ToHex();
        break;
      case Algorithm::kDhash:
        r.hex = DHash(full->view()).ToHex();
        break;
      case Algorithm::kMd5:
        r.hex = Md5Hex(bytes);
        break;
      case Algorithm::kSha256:
        r.hex = Sha256Hex(bytes);
        break;
    }
    out.results.push_back(std::move(r));
  }
  return out;
}

}  // namespace hashmatch
