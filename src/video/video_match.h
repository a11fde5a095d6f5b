// Scores a query video's frame hashes against one stored entry's frame hashes
// with vPDQ's semantics (ThreatExchange vpdq/README.md, "Comparison"; the
// reference's matchTwoHashBrute), and turns the score into a verdict.
//
//   VideoMatchScore s = ScoreVideoMatch(query.frames, entry_frames, {});
//   if (IsVideoMatch(s, {})) ...  // s.matches holds the matched timestamps
//
// Definitions (both sides first drop frames with quality < quality_threshold;
// frames are an unordered bag, frame numbers and timestamps are not used):
//   query_match_percent    = 100 * (query frames with at least one entry frame
//                            within distance_threshold) / (query frames).
//                            "How much of the upload is known material."
//   compared_match_percent = 100 * (entry frames with at least one query frame
//                            within distance_threshold) / (entry frames).
//                            "How much of the stored video the upload shows."
// If either side has no frame left, both percentages are 0.
// Scene-change frames of the query (VideoFrameHash::scene_change) are left
// out of query_match_percent's numerator and denominator unless the query
// has only such frames: they are sampled where the picture changes fast, so
// an entry sampled at other moments rarely has a frame near them (measured
// on cockatoo.mp4: every unmatched frame of a re-encode was a scene-change
// sample). They still match entry frames (compared_match_percent, matches).
// vPDQ samples by interval only, so this keeps its meaning of the number.
// A frame pair matches when the PDQ distance is <= distance_threshold (the
// README's pseudocode and PDQ's usual rule; the reference C++ uses < , so its
// threshold 31 equals our 30).
// With centred windows (VideoFrameHash::windows; those with quality below
// quality_threshold are ignored) the distance of a query frame to an entry
// frame is the smallest of: PDQ to PDQ; the query's PDQ to each entry
// window's (a copy cropped to that window); each query window's to the entry
// window of the same percent (both copies seen through the same window,
// which leaves out what was added near the edges, e.g. a watermark).
//
// Independent of any index: callers pass the candidate entries that an index
// lookup of the query's frames found. Cost O(query frames * entry frames *
// (1 + entry windows * (1 + query windows))) 256-bit distances (3600 x 3600
// frames without windows: ~13M, tens of ms; with 3 and 1 windows, 7 times
// that).
//
// Thread safety: pure functions, thread-safe.
#ifndef HASHMATCH_SRC_VIDEO_VIDEO_MATCH_H_
#define HASHMATCH_SRC_VIDEO_VIDEO_MATCH_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "src/video/video_hasher.h"

namespace hashmatch {

// python-threatexchange's vPDQ defaults (extensions/vpdq/vpdq_util.py):
// VPDQ_DISTANCE_THRESHOLD 31, VPDQ_QUALITY_THRESHOLD 50,
// VPDQ_QUERY_MATCH_THRESHOLD_PERCENT 80, VPDQ_INDEX_MATCH_THRESHOLD_PERCENT 0.
inline constexpr int kVpdqDefaultDistanceThreshold = 31;
inline constexpr int kVpdqDefaultQualityThreshold = 50;
inline constexpr double kVpdqDefaultQueryMatchPercent = 80.0;
inline constexpr double kVpdqDefaultComparedMatchPercent = 0.0;

struct VideoMatchOptions {
  // Two frames match when their PDQ distance is <= this. Default 31.
  int distance_threshold = kVpdqDefaultDistanceThreshold;
  // Frames (on both sides) with quality below this are ignored. Default 50.
  int quality_threshold = kVpdqDefaultQualityThreshold;
};

// One matched query frame and its nearest entry frame (smallest distance;
// the earliest entry frame on ties).
struct FrameMatch {
  int64_t query_frame_number = 0;
  double query_timestamp_seconds = 0;
  int64_t entry_frame_number = 0;
  double entry_timestamp_seconds = 0;
  int distance = 0;
};

struct VideoMatchScore {
  // See the definitions at the top of this file. 0..100.
  double query_match_percent = 0;
  double compared_match_percent = 0;
  // Frames left after the quality filter (query: the counted ones, see
  // above), and how many of them matched.
  int64_t query_frames = 0;
  int64_t query_frames_matched = 0;
  int64_t entry_frames = 0;
  int64_t entry_frames_matched = 0;
  // One per matched query frame (scene-change frames too), in query order.
  std::vector<FrameMatch> matches;
};

VideoMatchScore ScoreVideoMatch(absl::Span<const VideoFrameHash> query,
                                absl::Span<const VideoFrameHash> entry,
                                const VideoMatchOptions& options);

struct VideoMatchThresholds {
  // MATCH needs query_match_percent >= this. Default 80.
  double query_match_percent = kVpdqDefaultQueryMatchPercent;
  // ... and compared_match_percent >= this. Default 0 (an upload that shows
  // only part of a stored video still matches).
  double compared_match_percent = kVpdqDefaultComparedMatchPercent;
};

// True when both percentages reach their thresholds and at least one frame
// matched (so an empty query never matches, whatever the thresholds).
bool IsVideoMatch(const VideoMatchScore& score,
                  const VideoMatchThresholds& thresholds);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_VIDEO_VIDEO_MATCH_H_
