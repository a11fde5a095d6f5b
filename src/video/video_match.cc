#include "src/video/video_match.h"

#include <algorithm>
#include <limits>

namespace hashmatch {
namespace {

int FrameDistance(const VideoFrameHash& query, const VideoFrameHash& entry,
                  int quality_threshold) {
  int d = HammingDistance(query.pdq, entry.pdq);
  for (const VideoFrameHash::Window& ew : entry.windows) {
    if (ew.quality < quality_threshold) continue;
    d = std::min(d, HammingDistance(query.pdq, ew.pdq));
    for (const VideoFrameHash::Window& qw : query.windows) {
      if (qw.percent == ew.percent && qw.quality >= quality_threshold) {
        d = std::min(d, HammingDistance(qw.pdq, ew.pdq));
      }
    }
  }
  return d;
}

std::vector<const VideoFrameHash*> Filter(
    absl::Span<const VideoFrameHash> frames, int quality_threshold) {
  std::vector<const VideoFrameHash*> out;
  out.reserve(frames.size());
  for (const VideoFrameHash& f : frames) {
    if (f.quality >= quality_threshold) out.push_back(&f);
  }
  return out;
}

}  // namespace

VideoMatchScore ScoreVideoMatch(absl::Span<const VideoFrameHash> query,
                                absl::Span<const VideoFrameHash> entry,
                                const VideoMatchOptions& options) {
  VideoMatchScore score;
  const std::vector<const VideoFrameHash*> q =
      Filter(query, options.quality_threshold);
  const std::vector<const VideoFrameHash*> e =
      Filter(entry, options.quality_threshold);
  // Scene-change frames of the query count only when it has no other.
  const bool counted_all =
      std::none_of(q.begin(), q.end(),
                   [](const VideoFrameHash* f) { return !f->scene_change; });
  auto counted = [&](const VideoFrameHash* f) {
    return counted_all || !f->scene_change;
  };
  score.query_frames = std::count_if(q.begin(), q.end(), counted);
  score.entry_frames = static_cast<int64_t>(e.size());
  if (q.empty() || e.empty()) return score;

  std::vector<bool> entry_matched(e.size(), false);
  for (const VideoFrameHash* qf : q) {
    int best = std::numeric_limits<int>::max();
    size_t best_j = 0;
    for (size_t j = 0; j < e.size(); ++j) {
      const int d = FrameDistance(*qf, *e[j], options.quality_threshold);
      if (d > options.distance_threshold) continue;
      entry_matched[j] = true;
      if (d < best) {
        best = d;
        best_j = j;
      }
    }
    if (best == std::numeric_limits<int>::max()) continue;
    if (counted(qf)) ++score.query_frames_matched;
    score.matches.push_back(FrameMatch{qf->frame_number, qf->timestamp_seconds,
                                       e[best_j]->frame_number,
                                       e[best_j]->timestamp_seconds, best});
  }
  for (bool m : entry_matched) score.entry_frames_matched += m ? 1 : 0;
  score.query_match_percent = 100.0 *
                              static_cast<double>(score.query_frames_matched) /
                              static_cast<double>(score.query_frames);
  score.compared_match_percent =
      100.0 * static_cast<double>(score.entry_frames_matched) /
      static_cast<double>(score.entry_frames);
  return score;
}

bool IsVideoMatch(const VideoMatchScore& score,
                  const VideoMatchThresholds& thresholds) {
  return score.query_frames_matched > 0 &&
         score.query_match_percent >= thresholds.query_match_percent &&
         score.compared_match_percent >= thresholds.compared_match_percent;
}

}  // namespace hashmatch
