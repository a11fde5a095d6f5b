// The accuracy evaluation (issue 7): how often a hasher finds an altered
// copy of a vetted photo, and how often it flags an innocent one, over a
// corpus of benign photos from Debian packages.
//
//   EvalOptions options;
//   ASSIGN_OR_RETURN(options.methods, ParseMethodList("pdq,phash"));
//   ASSIGN_OR_RETURN(options.transforms, ParseTransformList("all"));
//   ASSIGN_OR_RETURN(AccuracyResult r, RunAccuracy(manifest, options));
//
// Protocol:
//   1. Originals. Each manifest file is read and checked against its MD5
//      (a mismatch stops the run: DATA_LOSS), decoded, and area-downscaled
//      so its longer side is at most options.max_side. The original's bytes
//      are the file itself when it was not downscaled, else a lossless PNG of
//      the downscaled pixels. A file that does not decode is skipped and
//      listed in `failures`.
//   2. Split, by content: never by path, so the same pictures give the same
//      split wherever they sit. A group (variants of one picture: see
//      manifest.h) is "vetted" when IsVettedPicture(MD5 of its file's bytes)
//      (the smallest MD5 when a hand-written manifest gives a group several
//      files): the first byte of SHA-256(kSplitSeed + MD5 hex) is even. The
//      vetted set V is indexed; the others are innocent.
//   3. Queries. Every transform (transforms.h) of every original, with seed
//      TransformSeed(MD5 hex of the file, transform, options.seed), encoded
//      as a file.
//      Transforms of vetted originals are positives, of the others
//      negatives ("identity" of a non-vetted original is that photo itself).
//   4. Scores. Each method hashes every original and query from its encoded
//      bytes. A PDQ query hash whose quality is below options.pdq_quality_gate
//      matches nothing (the query still counts: a missed positive, a clean
//      negative); options.ungated_methods are also scored without the gate. The
//      distance from a query to an entry is the smallest Hamming distance
//      between any of the query's codes and any of the entry's codes (one code
//      each, except that dihedral methods give the query 8 codes, its dihedral
//      variants, as match_server --dihedral does). The search is brute force
//      over V (exact). For a positive, own = smallest distance to a V entry of
//      its group, other = smallest distance to a V entry of another group; for
//      a negative, the smallest distance to V.
//   5. Pairs. Every unordered pair {a, b} of originals of different groups
//      (both halves) gives the distance from a's query codes to b's entry
//      codes, a before b in path order.
//   6. Metrics (metrics.h): per transform, from that transform's positives
//      and negatives; "all" pools every transform's positives and
//      negatives and adds the pairs. At options.target_precision and at the
//      method's default threshold (31 for the PDQ family, 10 for phash and
//      dhash: PolicyThresholds' defaults).
//
// Thread safety: RunAccuracy may be called from any thread; it uses
// options.threads worker threads of its own.
#ifndef HASHMATCH_SRC_EVAL_EVALUATION_H_
#define HASHMATCH_SRC_EVAL_EVALUATION_H_

#include <array>
#include <bit>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/eval/border_trim.h"
#include "src/eval/manifest.h"
#include "src/eval/metrics.h"
#include "src/eval/transforms.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {
namespace eval {

// A way of hashing and looking up: one of ImageHasher's perceptual
// algorithms, optionally with dihedral lookup and/or border trimming
// (border_trim.h). A trim method gives the entry and the query two hashes
// each, of the whole image and of its content rectangle (one when nothing
// was trimmed), so trimming can only add matches: it cannot lose one that
// the untrimmed hash finds. A regions method indexes each entry under
// kNumRegions + 1 hashes: the whole image and the windows of kRegions (90% of
// each side at the centre and at the four corners, 80% at the centre); the
// query keeps one hash.
//
// A method with a second vote (issue 7 item 7, "combining signals") scores a
// query against an entry by its PDQ distance d (as the method's base: plain,
// dihedral or trimmed) and the pHash distance p of the two whole images
// (pHash has no quality gate; the PDQ gate still applies):
//   kPhashBonus: score = p <= vote_max ? max(0, d - bonus) : d, so that for
//     every T >= 0, score <= T exactly when d <= T, or d <= T + bonus and
//     p <= vote_max: a looser PDQ threshold where pHash agrees;
//   kPhashSum:   score = (d + 4 * p) / 2 (integer division; 0..256): both
//     distances on PDQ's 256-bit scale, averaged.
// The score replaces the distance everywhere (own, other, negatives, pairs),
// so the T* search of metrics.h applies to it unchanged and stays exact.
enum class Vote { kNone, kPhashBonus, kPhashSum };

struct MethodSpec {
  const char* name;
  Algorithm algorithm;
  bool dihedral;
  bool trim;
  bool regions;
  const char* description;
  Vote vote = Vote::kNone;
  int bonus = 0;     // kPhashBonus: how much looser the PDQ threshold gets.
  int vote_max = 0;  // kPhashBonus: pHash distance that counts as agreeing.
};

// The combined score of a vote method from its PDQ distance and the pHash
// distance (see MethodSpec); the PDQ distance itself for other methods.
// kNoDistance when pdq_distance is (a gated or empty query).
int VoteScore(const MethodSpec& m, int pdq_distance, int phash_distance);

// Windows of the regions methods: x, y, width, height as fractions of the
// image's width and height.
struct RegionWindow {
  double x, y, w, h;
};
inline constexpr RegionWindow kRegions[] = {
    {0.05, 0.05, 0.9, 0.9}, {0.0, 0.0, 0.9, 0.9}, {0.1, 0.0, 0.9, 0.9},
    {0.0, 0.1, 0.9, 0.9},   {0.1, 0.1, 0.9, 0.9}, {0.1, 0.1, 0.8, 0.8}};
inline constexpr int kNumRegions = 6;

// pdq, pdq-cli512, pdq-fast, phash, dhash, then the experiments
// pdq+dihedral, pdq+trim, pdq+trim+dihedral, pdq+regions, and the vote
// methods pdq&phash, pdq&phash-k8, pdq&phash-p4, pdq+trim&phash,
// pdq+dihedral&phash,
// pdq+trim+dihedral&phash (bonus 16 at pHash <= 8 unless named otherwise)
// and pdq+phash-mean (kPhashSum).
const std::vector<MethodSpec>& AllMethods();
// Comma-separated names (duplicates kept once) or "all"; INVALID_ARGUMENT
// naming an unknown one and listing the valid ones.
absl::StatusOr<std::vector<const MethodSpec*>> ParseMethodList(
    absl::string_view names);
int MethodBits(const MethodSpec& m);
int DefaultThreshold(const MethodSpec& m);

// The fixed seed of the split (step 2). Changing it changes which pictures
// are vetted, and so every published figure.
inline constexpr char kSplitSeed[] = "hashmatch eval split v2|";

// Whether the picture whose file has MD5 `md5_hex` (ManifestEntry::md5, 32
// lower-case hex digits) falls in the vetted half (step 2).
bool IsVettedPicture(absl::string_view md5_hex);

// Step 2 for a manifest: each group's side, IsVettedPicture of the smallest
// MD5 among the group's entries. Depends only on the entries' groups and
// MD5s, not on their paths or order.
std::map<std::string, bool> SplitGroups(
    const std::vector<ManifestEntry>& manifest);

// A binary hash of up to 256 bits, unused words zero.
struct Code {
  std::array<uint64_t, 4> w{};
  friend bool operator==(const Code&, const Code&) = default;
};
inline int CodeDistance(const Code& a, const Code& b) {
  return std::popcount(a.w[0] ^ b.w[0]) + std::popcount(a.w[1] ^ b.w[1]) +
         std::popcount(a.w[2] ^ b.w[2]) + std::popcount(a.w[3] ^ b.w[3]);
}
// Smallest distance between any code of `query` and any of `entry`;
// kNoDistance when either is empty.
int SetDistance(const std::vector<Code>& query, const std::vector<Code>& entry);

// One method's codes of one image.
struct ImageCodes {
  std::vector<Code> entry;  // As an indexed (vetted) entry.
  // As a query. For PDQ methods, codes whose PDQ quality is below the gate
  // are left out (the service answers NO_MATCH for them), so a low-quality
  // query matches nothing.
  std::vector<Code> query;
  // As a query with no quality gate.
  std::vector<Code> query_ungated;
  // Vote methods: the image's pHash (one code, as entry and as query).
  std::vector<Code> vote;
  int quality = -1;  // PDQ quality of the whole image; -1 for the others.
};

// The score of `query` (its gated or ungated codes) against `entry` for
// method m: SetDistance of the codes, combined with the vote for vote
// methods.
int MethodDistance(const MethodSpec& m, const ImageCodes& query,
                   const ImageCodes& entry, bool gated);

struct EvalOptions {
  // REQUIRES: not empty.
  std::vector<const MethodSpec*> methods;
  // REQUIRES: not empty.
  std::vector<const TransformSpec*> transforms;
  // Originals are area-downscaled to this longer side first. Default 1024
  // (PDQ filters to 64x64 anyway; larger only costs time).
  int max_side = 1024;
  // Base seed of the transforms. Default 1.
  uint64_t seed = 1;
  // Worker threads. Default 1. REQUIRES: >= 1.
  int threads = 1;
  // When > 0 and smaller than the manifest, only the `limit` files with the
  // smallest MD5 (of their bytes; path order on a tie) are used (a fixed
  // pseudo-random sample, the same wherever the files sit; each group keeps
  // the side it has in the whole manifest). Default 0.
  int64_t limit = 0;
  // Precision at which the threshold is searched. Default 0.9999.
  double target_precision = 0.9999;
  // PDQ queries (and the query side of pairs) whose quality is below this
  // match nothing, as match_server's --pdq_quality_gate. Default 50
  // (kPdqMinTrustedQuality); 0 turns the gate off. Entries are indexed
  // whatever their quality.
  int pdq_quality_gate = kPdqMinTrustedQuality;
  // PDQ methods also scored with no quality gate, as "<name> (no gate)"
  // (for comparison with studies that apply none). Default {"pdq"}.
  std::vector<std::string> ungated_methods = {"pdq"};
  // Decoder limits for originals and queries (defaults: 32 MiB, 64 MP).
  DecodeOptions decode;
  TrimOptions trim;
  // Called after each original with (done, total), on a worker thread,
  // one call at a time. May be empty.
  std::function<void(int64_t, int64_t)> progress;
};

// Codes of one image (encoded bytes) for every method in `methods`, in that
// order. `as_entry`: the image is an original, so regions methods also hash
// its windows (a query's entry codes are never used). Errors are the
// decoder's.
absl::StatusOr<std::vector<ImageCodes>> HashImage(
    ImageHasher& hasher, absl::string_view bytes,
    const std::vector<const MethodSpec*>& methods, const EvalOptions& options,
    bool as_entry);

struct OriginalInfo {
  std::string path;
  std::string group;
  std::string package;  // From the manifest ("-" when unknown).
  bool vetted = false;
  bool ok = false;  // Decoded and hashed.
  int width = 0;    // After downscaling.
  int height = 0;
};

struct CorpusCodes {
  std::vector<OriginalInfo> originals;
  // original[m][i]: method m's codes of original i.
  std::vector<std::vector<ImageCodes>> original;
  // query[m][t][i]: method m's codes of transform t of original i; nullopt
  // when the original or the transform failed (such queries are left out of
  // every count).
  std::vector<std::vector<std::vector<std::optional<ImageCodes>>>> query;
  // "PATH: [TRANSFORM: ]message" for every skipped original or query.
  std::vector<std::string> failures;
  double seconds = 0;
};

// Steps 1-4 (hashing). Errors: INVALID_ARGUMENT for empty methods or
// transforms or threads < 1; a manifest file missing or not matching its
// MD5 (manifest.h ReadVerified) stops the run with that error.
absl::StatusOr<CorpusCodes> HashCorpus(
    const std::vector<ManifestEntry>& manifest, const EvalOptions& options);

struct TransformScore {
  std::string transform;  // "all" for the pooled score.
  DistanceSet distances;
  // At the largest threshold where this set's own precision holds the
  // target (few negatives per transform make it loose: see at_pooled).
  OperatingPoint at_target;
  OperatingPoint at_default;
  // At the pooled set's threshold for the target (MethodScore::all
  // .at_target.threshold): the per-transform recall of one operating point.
  OperatingPoint at_pooled;
};

struct MethodScore {
  std::string method;
  int bits = 0;
  int default_threshold = 0;
  std::vector<TransformScore> transforms;  // In options.transforms order.
  TransformScore all;
  // Per Debian package of the originals (every transform's positives and
  // negatives of that package's photos, no pairs), sorted by package name;
  // `transform` holds the package name. at_pooled is at all's T*.
  std::vector<TransformScore> packages;
};

struct AccuracyResult {
  int64_t originals = 0;  // Hashed successfully.
  int64_t vetted = 0;
  int64_t innocent = 0;
  int64_t groups = 0;
  int pdq_quality_gate = 0;
  std::vector<std::string> failures;
  std::vector<std::string> transforms;
  std::vector<MethodScore> methods;
  double target_precision = 0;
  int max_side = 0;
  uint64_t seed = 0;
  double hash_seconds = 0;
  double search_seconds = 0;  // Brute-force scoring of every method.
};

// Steps 5-6 from the codes.
AccuracyResult ScoreCorpus(const CorpusCodes& codes,
                           const EvalOptions& options);

// HashCorpus then ScoreCorpus.
absl::StatusOr<AccuracyResult> RunAccuracy(
    const std::vector<ManifestEntry>& manifest, const EvalOptions& options);

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_EVALUATION_H_
