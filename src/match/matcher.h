// Matcher: the match policy and the request -> MatchResponse logic shared by
// every MatchService RPC (src/server) and by in-process callers (tests,
// benchmarks). It knows nothing about gRPC: errors are absl::Status with the
// codes MatchService documents (proto/hashmatch/v1/match.proto), which the
// service maps 1:1 to gRPC codes.
//
//   MatcherOptions options;                 // PDQ 31, quality gate 50, ...
//   ASSIGN_OR_RETURN(std::unique_ptr<Matcher> matcher,
//                    Matcher::Create(store, index, options));
//   ASSIGN_OR_RETURN(v1::MatchResponse r, matcher->MatchImage(request));
//
// Match policy (the one place it lives; see match.proto DecisionRule):
//   1. exact lanes (MD5, SHA-256) are always checked when the query has them;
//      an exact hit is MATCH whatever the PDQ quality;
//   2. quality gate: a PDQ query hash whose known quality is under
//      pdq_quality_gate, with no exact hit, gives LOW_QUALITY (its PDQ
//      near-matches are still listed, but do not decide);
//   3. perceptual lanes: an ACTIVE PDQ/pHash/dHash entry, or a frame of an
//      ACTIVE video entry (lane VPDQ, PDQ's threshold, options.video_frames),
//      within the lane's threshold gives MATCH; PDQ also looks up the 8
//      dihedral variants unless the request turns dihedral off (MatchImage
//      only: the variants come from the image's DCT, so MatchHashes matches
//      hashes as sent);
//   4. otherwise NO_MATCH.
// The policy itself is DecideMatch (match_policy.h). With several PDQ query
// hashes, the lowest known quality is the one gated. Matches list every lane
// (a gated query's PDQ near-matches included), each entry once at its best
// distance, exact lanes first, then by distance and entry id.
//
// Media: image bytes are decoded and hashed in memory and dropped; they are
// never logged, stored or copied into a response or error message.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef HASHMATCH_SRC_MATCH_MATCHER_H_
#define HASHMATCH_SRC_MATCH_MATCHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "proto/hashmatch/v1/match.pb.h"
#include "src/hashing/image_decoder.h"
#include "src/match/video_matcher.h"

namespace hashmatch {

struct MatcherOptions {
  // Default thresholds (distance <= threshold matches); requests may
  // override within [0, max].
  int pdq_threshold = 31;
  int phash_threshold = 10;
  int dhash_threshold = 10;
  // PDQ quality under which an undecided query is LOW_QUALITY. Default 50.
  int pdq_quality_gate = 50;
  // Dihedral PDQ lookup unless a request says otherwise. Default on.
  bool dihedral = true;
  // PDQ query hashes are also searched among the frames of video entries
  // (lane VPDQ) unless a request says otherwise. Default on.
  bool video_frames = true;
  // Signals MatchImage computes when the request names none.
  std::vector<hashmatch::v1::SignalType> default_signals = {
      hashmatch::v1::SIGNAL_TYPE_PDQ, hashmatch::v1::SIGNAL_TYPE_MD5,
      hashmatch::v1::SIGNAL_TYPE_SHA256};
  // Limits (each has a match_server flag). Over a limit: RESOURCE_EXHAUSTED.
  // Encoded bytes and decoded pixels of one image.
  DecodeOptions decode;
  // Images per MatchBatch.
  int max_batch = 16;
  // Hashes per MatchHashes.
  int max_hashes = 16;
  // Matches returned per response when the request does not say; and the
  // largest value a request may ask for.
  int default_max_matches = 100;
  int max_max_matches = 1000;
  // content_ref length limit (INVALID_ARGUMENT above it).
  int max_content_ref_bytes = 256;
  // GetIndexInfo's MD5/SHA-256 counts come from HashStore::Stats, a scan of
  // every entry: after the store changes they are recomputed at most this
  // often (by one caller; concurrent callers get the previous counts).
  // Default 5000.
  int exact_counts_max_age_ms = 5000;
  // Reported in IndexInfo.server_version.
  std::string server_version;
  // MatchVideo's defaults and limits (video_matcher.h).
  VideoMatcherOptions video;
};

// How long one call may work, and how its caller stops it: image decoding
// polls both while it runs (JPEG, see image_decoder.h) or around it.
struct MatchControl {
  // DEADLINE_EXCEEDED past it (the RPC's deadline).
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::time_point::max();
  // CANCELLED once it returns true (the RPC was cancelled, or the server
  // stops). May be empty; must be cheap and must not throw.
  std::function<bool()> cancelled;
};

class Matcher {
 public:
  // INVALID_ARGUMENT for out-of-range options. `store` and `index` are not
  // owned and must outlive the Matcher; `index` must be built over `store`.
  static absl::StatusOr<std::unique_ptr<Matcher>> Create(
      const HashStore* store, const VettedIndex* index,
      const MatcherOptions& options);

  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;
  ~Matcher();

  // Decodes and hashes with a pooled ImageHasher (no lock held while
  // hashing). With only MD5/SHA-256 requested, nothing is decoded but the
  // header must still parse within the limits.
  // Errors: INVALID_ARGUMENT (empty/corrupt/unsupported image, bad option,
  // content_ref too long), RESOURCE_EXHAUSTED (image bytes or pixels over
  // the limits, a JPEG over decode.max_jpeg_scans, decoding longer than
  // decode.max_decode_ms), DEADLINE_EXCEEDED and CANCELLED (`control`),
  // INTERNAL (store or index failure).
  absl::StatusOr<hashmatch::v1::MatchResponse> MatchImage(
      const hashmatch::v1::MatchImageRequest& request,
      const MatchControl& control = {}) const;

  // options.dihedral and options.signals are ignored; quality is used for
  // PDQ hashes only (range-checked for all).
  // Errors: INVALID_ARGUMENT (no hashes, a signal type other than PDQ,
  // PHASH, DHASH, MD5, SHA256: UNSPECIFIED, unknown, or VPDQ, whose "hash"
  // is a video's identity, not a query (its frames go to MatchVideo); both
  // or neither of raw/hex, bad hex, wrong length, quality outside 0..100,
  // bad option), RESOURCE_EXHAUSTED (more than max_hashes). The same signal
  // types are refused in MatchImage's options.signals.
  absl::StatusOr<hashmatch::v1::MatchResponse> MatchHashes(
      const hashmatch::v1::MatchHashesRequest& request) const;

  // RESOURCE_EXHAUSTED for more than max_batch images, INVALID_ARGUMENT for
  // none; otherwise OK with one item per image (a failing image gets an
  // item error with the code and message MatchImage would return).
  // A deadline or cancellation (`control`) ends the whole call with that
  // status rather than an item error, since nobody waits for the answer.
  absl::StatusOr<hashmatch::v1::MatchBatchResponse> MatchBatch(
      const hashmatch::v1::MatchBatchRequest& request,
      const MatchControl& control = {}) const;

  // Counts: PDQ/pHash/dHash from the index; MD5/SHA-256 from
  // HashStore::Stats (see exact_counts_max_age_ms: they may lag the store,
  // or run ahead of `sequence` while the index catches up).
  hashmatch::v1::IndexInfo GetIndexInfo() const;

  const MatcherOptions& options() const;

  // MatchVideo (video_matcher.h), over the same store and index.
  const VideoMatcher& video() const;

 private:
  struct Impl;
  explicit Matcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_MATCH_MATCHER_H_
