// VideoMatcher: MatchVideo's logic, from a video (bytes, or the caller's
// frame hashes) to a MatchVideoResponse. No gRPC here: errors are
// absl::Status with the codes match.proto documents.
//
//   VideoMatcher matcher(store, index, VideoMatcherOptions());
//   ASSIGN_OR_RETURN(v1::MatchVideoResponse r,
//                    matcher.MatchBytes(header, video_bytes));
//   ASSIGN_OR_RETURN(r, matcher.MatchFrames(header));  // header.frames
//
// How a video is matched:
//   1. bytes are decoded in memory and sampled (HashVideo: 1 frame per
//      second and scene changes, PDQ per frame, near-duplicates dropped);
//      the caller's frames are taken as sent;
//   2. the frames of quality >= quality_threshold are the usable query
//      frames; none usable: LOW_QUALITY (rule QUALITY_GATE);
//   3. each usable frame is searched in the video frame index within the
//      PDQ threshold; every video entry hit is a candidate (at most
//      max_candidates, those with most hits first), scored against its
//      whole frame list with vPDQ semantics (ScoreVideoMatch):
//        query_match_percent    = share of usable query frames with a
//                                 match among the entry's frames,
//        compared_match_percent = share of the entry's usable frames with
//                                 a match among the query's;
//      it decides MATCH (rule VIDEO_FRAMES_PERCENT) when both reach their
//      thresholds (defaults 80 and 0, vPDQ's);
//   4. with image_entries, each usable frame is also searched among still
//      image PDQ entries: one within the threshold decides MATCH (rule
//      PDQ_THRESHOLD) — a video that shows a vetted image matches it;
//   5. otherwise NO_MATCH.
// Matches: decisive first, then by query_match_percent (descending),
// distance and entry id.
//
// Media: the bytes are decoded in memory and dropped; never logged, stored
// or copied into a response or error message.
//
// Thread safety: all methods may be called concurrently.
#ifndef HASHMATCH_SRC_MATCH_VIDEO_MATCHER_H_
#define HASHMATCH_SRC_MATCH_VIDEO_MATCHER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "proto/hashmatch/v1/match.pb.h"
#include "src/video/video_hasher.h"

namespace hashmatch {

struct VideoMatcherOptions {
  // Decoding limits and sampling of uploaded videos (video_hasher.h; every
  // default there: 256 MiB, 2 h, 8K, 120 s of decoding, 1 frame/s) and the
  // 70% window (QueryVideoHashOptions).
  VideoHashOptions hash = QueryVideoHashOptions();
  // Server defaults of VideoMatchOptions (requests may override).
  int pdq_threshold = 31;
  int quality_threshold = 50;
  double query_match_percent = 80;
  double compared_match_percent = 0;
  bool image_entries = true;
  int default_max_matches = 100;
  int max_max_matches = 1000;
  int default_frames_per_match = 50;
  int max_frames_per_match = 10000;
  // Most query frames (sent by the caller, or kept from a decode); more is
  // RESOURCE_EXHAUSTED. Default 20000.
  int max_query_frames = 20000;
  // Most video entries scored for one query. Default 1000.
  int max_candidates = 1000;
  // content_ref length limit (INVALID_ARGUMENT above it). Default 256.
  int max_content_ref_bytes = 256;
};

class VideoMatcher {
 public:
  // `store` and `index` are not owned and must outlive the matcher.
  VideoMatcher(const HashStore* store, const VettedIndex* index,
               const VideoMatcherOptions& options);

  // INVALID_ARGUMENT for options out of range.
  static absl::Status Validate(const VideoMatcherOptions& options);

  // Decodes and matches `bytes` (the header must carry no frames).
  // Errors: INVALID_ARGUMENT (bad option, content_ref too long, frames in
  // the header, empty, not a video, unsupported codec, corrupt),
  // RESOURCE_EXHAUSTED (a decode limit, too many kept frames),
  // DEADLINE_EXCEEDED (decode time), INTERNAL (store or index failure).
  absl::StatusOr<hashmatch::v1::MatchVideoResponse> MatchBytes(
      const hashmatch::v1::MatchVideoHeader& header,
      absl::string_view bytes) const;

  // Matches header.frames. INVALID_ARGUMENT for no frames, a PDQ not 32
  // bytes, quality outside 0..100, a bad option; RESOURCE_EXHAUSTED for
  // more than max_query_frames.
  absl::StatusOr<hashmatch::v1::MatchVideoResponse> MatchFrames(
      const hashmatch::v1::MatchVideoHeader& header) const;

  const VideoMatcherOptions& options() const { return options_; }

 private:
  struct Resolved;
  absl::StatusOr<Resolved> Resolve(
      const hashmatch::v1::MatchVideoHeader& header) const;
  absl::StatusOr<hashmatch::v1::MatchVideoResponse> Match(
      const std::vector<VideoFrameHash>& frames, const Resolved& resolved,
      const hashmatch::v1::MatchVideoHeader& header) const;

  const HashStore* const store_;
  const VettedIndex* const index_;
  const VideoMatcherOptions options_;
};

// Proto <-> VideoFrameHash (the PDQ must be 32 bytes: checked by callers).
hashmatch::v1::VideoFrame ToProto(const VideoFrameHash& frame);
VideoFrameHash FromProto(const hashmatch::v1::VideoFrame& frame);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_MATCH_VIDEO_MATCHER_H_
