#include "src/match/video_matcher.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/status_macros.h"
#include "src/video/video_match.h"

namespace hashmatch {
namespace {

absl::Span<const uint8_t> Code(const Hash256& h) {
  return absl::MakeConstSpan(h.bytes().data(), h.bytes().size());
}

absl::Status CheckRange(absl::string_view name, double value, double lo,
                        double hi) {
  if (!(value >= lo && value <= hi)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " is ", value, ", outside the allowed range ", lo, "..", hi));
  }
  return absl::OkStatus();
}

// One still-image entry hit by query frames: its best distance and the
// frames that hit it.
struct ImageHit {
  int distance = 1 << 30;
  std::vector<v1::MatchedFrame> frames;
};

absl::StatusOr<v1::Entry> ReadMatchedEntry(const HashStore& store,
                                           uint64_t id) {
  absl::StatusOr<v1::Entry> entry = store.Get(id);
  if (!entry.ok()) {
    return absl::InternalError(absl::StrCat(
        "reading matched entry ", id, " failed: ", entry.status().ToString()));
  }
  return entry;
}

// The entry's identity and labels in a match.
void Describe(const v1::Entry& entry, v1::VideoEntryMatch* m) {
  m->set_entry_id(entry.id());
  m->set_signal_type(entry.signal_type());
  m->set_classification(entry.classification());
  m->set_source_agency(entry.source_agency());
  m->set_state(entry.state());
}

}  // namespace

struct VideoMatcher::Resolved {
  VideoMatchOptions match;
  VideoMatchThresholds thresholds;
  bool image_entries = true;
  int max_matches = 100;
  int frames_per_match = 50;
};

// What HashVideo makes, the store accepts.
static_assert(kMaxFrameWindows == kMaxVideoFrameWindows);

v1::VideoFrame ToProto(const VideoFrameHash& f) {
  v1::VideoFrame p;
  p.set_pdq(std::string(reinterpret_cast<const char*>(f.pdq.bytes().data()),
                        f.pdq.bytes().size()));
  p.set_quality(f.quality);
  p.set_frame_number(f.frame_number);
  p.set_timestamp_seconds(f.timestamp_seconds);
  p.set_scene_change(f.scene_change);
  for (const VideoFrameHash::Window& w : f.windows) {
    v1::VideoFrameWindow* pw = p.add_windows();
    pw->set_percent(w.percent);
    pw->set_pdq(reinterpret_cast<const char*>(w.pdq.bytes().data()),
                w.pdq.bytes().size());
    pw->set_quality(w.quality);
  }
  return p;
}

VideoFrameHash FromProto(const v1::VideoFrame& p) {
  VideoFrameHash f;
  std::memcpy(f.pdq.mutable_bytes().data(), p.pdq().data(),
              std::min(p.pdq().size(), f.pdq.bytes().size()));
  f.quality = p.quality();
  f.frame_number = p.frame_number();
  f.timestamp_seconds = p.timestamp_seconds();
  f.scene_change = p.scene_change();
  for (const v1::VideoFrameWindow& pw : p.windows()) {
    VideoFrameHash::Window& w = f.windows.emplace_back();
    w.percent = pw.percent();
    std::memcpy(w.pdq.mutable_bytes().data(), pw.pdq().data(),
                std::min(pw.pdq().size(), w.pdq.bytes().size()));
    w.quality = pw.quality();
  }
  return f;
}

VideoMatcher::VideoMatcher(const HashStore* store, const VettedIndex* index,
                           const VideoMatcherOptions& options)
    : store_(store), index_(index), options_(options) {}

absl::Status VideoMatcher::Validate(const VideoMatcherOptions& o) {
  RETURN_IF_ERROR(CheckRange("video pdq_threshold", o.pdq_threshold, 0, 63));
  RETURN_IF_ERROR(
      CheckRange("video quality_threshold", o.quality_threshold, 0, 100));
  RETURN_IF_ERROR(
      CheckRange("query_match_percent", o.query_match_percent, 0, 100));
  RETURN_IF_ERROR(
      CheckRange("compared_match_percent", o.compared_match_percent, 0, 100));
  RETURN_IF_ERROR(
      CheckRange("video max_max_matches", o.max_max_matches, 1, 1 << 20));
  RETURN_IF_ERROR(CheckRange("video default_max_matches", o.default_max_matches,
                             1, o.max_max_matches));
  RETURN_IF_ERROR(
      CheckRange("max_frames_per_match", o.max_frames_per_match, 0, 1 << 20));
  RETURN_IF_ERROR(CheckRange("default_frames_per_match",
                             o.default_frames_per_match, 0,
                             o.max_frames_per_match));
  RETURN_IF_ERROR(
      CheckRange("max_query_frames", o.max_query_frames, 1, 1 << 24));
  RETURN_IF_ERROR(CheckRange("max_candidates", o.max_candidates, 1, 1 << 24));
  return CheckRange("max_content_ref_bytes", o.max_content_ref_bytes, 0,
                    1 << 20);
}

absl::StatusOr<VideoMatcher::Resolved> VideoMatcher::Resolve(
    const v1::MatchVideoHeader& header) const {
  if (header.content_ref().size() >
      static_cast<size_t>(options_.max_content_ref_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("content_ref is ", header.content_ref().size(),
                     " bytes, over the limit of ",
                     options_.max_content_ref_bytes, " bytes"));
  }
  const v1::VideoMatchOptions& o = header.options();
  Resolved r;
  r.match.distance_threshold =
      o.has_pdq_threshold() ? o.pdq_threshold() : options_.pdq_threshold;
  r.match.quality_threshold = o.has_quality_threshold()
                                  ? o.quality_threshold()
                                  : options_.quality_threshold;
  r.thresholds.query_match_percent = o.has_query_match_percent()
                                         ? o.query_match_percent()
                                         : options_.query_match_percent;
  r.thresholds.compared_match_percent = o.has_compared_match_percent()
                                            ? o.compared_match_percent()
                                            : options_.compared_match_percent;
  r.image_entries =
      o.has_image_entries() ? o.image_entries() : options_.image_entries;
  r.max_matches =
      o.has_max_matches() ? o.max_matches() : options_.default_max_matches;
  r.frames_per_match = o.has_max_frames_per_match()
                           ? o.max_frames_per_match()
                           : options_.default_frames_per_match;
  RETURN_IF_ERROR(
      CheckRange("options.pdq_threshold", r.match.distance_threshold, 0, 63));
  RETURN_IF_ERROR(CheckRange("options.quality_threshold",
                             r.match.quality_threshold, 0, 100));
  RETURN_IF_ERROR(CheckRange("options.query_match_percent",
                             r.thresholds.query_match_percent, 0, 100));
  RETURN_IF_ERROR(CheckRange("options.compared_match_percent",
                             r.thresholds.compared_match_percent, 0, 100));
  RETURN_IF_ERROR(CheckRange("options.max_matches", r.max_matches, 1,
                             options_.max_max_matches));
  RETURN_IF_ERROR(CheckRange("options.max_frames_per_match", r.frames_per_match,
                             0, options_.max_frames_per_match));
  return r;
}

absl::StatusOr<v1::MatchVideoResponse> VideoMatcher::MatchBytes(
    const v1::MatchVideoHeader& header, absl::string_view bytes) const {
  ASSIGN_OR_RETURN(Resolved resolved, Resolve(header));
  if (header.frames_size() > 0) {
    return absl::InvalidArgumentError(
        "a MatchVideo header with frames takes no video chunks");
  }
  if (bytes.empty()) return absl::InvalidArgumentError("video is empty");
  absl::StatusOr<VideoHashResult> hashed = HashVideo(bytes, options_.hash);
  if (!hashed.ok()) {
    return absl::Status(hashed.status().code(),
                        absl::StrCat("video: ", hashed.status().message()));
  }
  if (hashed->frames.size() > static_cast<size_t>(options_.max_query_frames)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "video: ", hashed->frames.size(), " frames kept, over the limit of ",
        options_.max_query_frames));
  }
  ASSIGN_OR_RETURN(v1::MatchVideoResponse response,
                   Match(hashed->frames, resolved, header));
  response.set_frames_decoded(hashed->frames_decoded);
  response.set_duration_seconds(hashed->duration_seconds);
  return response;
}

absl::StatusOr<v1::MatchVideoResponse> VideoMatcher::MatchFrames(
    const v1::MatchVideoHeader& header) const {
  ASSIGN_OR_RETURN(Resolved resolved, Resolve(header));
  if (header.frames_size() == 0) {
    return absl::InvalidArgumentError(
        "MatchVideo needs video chunks or frame hashes");
  }
  if (header.frames_size() > options_.max_query_frames) {
    return absl::ResourceExhaustedError(
        absl::StrCat(header.frames_size(), " frames, over the limit of ",
                     options_.max_query_frames));
  }
  std::vector<VideoFrameHash> frames;
  frames.reserve(header.frames_size());
  for (int i = 0; i < header.frames_size(); ++i) {
    absl::Status frame = ValidateVideoFrame(header.frames(i));
    if (!frame.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("frames[", i, "]: ", frame.message()));
    }
    frames.push_back(FromProto(header.frames(i)));
  }
  return Match(frames, resolved, header);
}

absl::StatusOr<v1::MatchVideoResponse> VideoMatcher::Match(
    const std::vector<VideoFrameHash>& frames, const Resolved& resolved,
    const v1::MatchVideoHeader& header) const {
  v1::MatchVideoResponse response;
  response.set_content_ref(header.content_ref());
  response.set_index_sequence(index_->applied_sequence());
  response.set_query_frames(static_cast<int32_t>(frames.size()));
  for (const VideoFrameHash& f : frames) {
    *response.add_query_frame_hashes() = ToProto(f);
  }
  const int radius = resolved.match.distance_threshold;
  std::vector<const VideoFrameHash*> usable;
  for (const VideoFrameHash& f : frames) {
    if (f.quality >= resolved.match.quality_threshold) usable.push_back(&f);
  }
  response.set_query_frames_usable(static_cast<int32_t>(usable.size()));

  // Candidates: video entries with a frame near a usable query frame, and
  // (image_entries) still images near one.
  absl::flat_hash_map<uint64_t, int> video_hits;
  absl::flat_hash_map<uint64_t, ImageHit> image_hits;
  for (const VideoFrameHash* f : usable) {
    // The frame's PDQ and its usable windows' find candidates; the score
    // (ScoreVideoMatch) decides which pairs count.
    std::vector<const Hash256*> codes = {&f->pdq};
    for (const VideoFrameHash::Window& w : f->windows) {
      if (w.quality >= resolved.match.quality_threshold)
        codes.push_back(&w.pdq);
    }
    for (const Hash256* code : codes) {
      absl::StatusOr<std::vector<VideoFrameMatch>> found =
          index_->SearchVideoFrames(Code(*code), radius);
      if (!found.ok()) {
        return absl::InternalError(absl::StrCat("video frame search failed: ",
                                                found.status().ToString()));
      }
      for (const VideoFrameMatch& m : *found) ++video_hits[m.entry_id];
    }
    if (!resolved.image_entries) continue;
    absl::StatusOr<std::vector<hashmatch::Match>> images =
        index_->Search(v1::SIGNAL_TYPE_PDQ, Code(f->pdq), radius);
    if (!images.ok()) {
      return absl::InternalError(
          absl::StrCat("index search failed: ", images.status().ToString()));
    }
    for (const hashmatch::Match& m : *images) {
      ImageHit& hit = image_hits[m.id];
      hit.distance = std::min(hit.distance, m.distance);
      v1::MatchedFrame mf;
      mf.set_query_timestamp_seconds(f->timestamp_seconds);
      mf.set_distance(m.distance);
      hit.frames.push_back(mf);
    }
  }
  std::vector<std::pair<uint64_t, int>> candidates(video_hits.begin(),
                                                   video_hits.end());
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) {
              return std::tie(b.second, a.first) < std::tie(a.second, b.first);
            });
  if (candidates.size() > static_cast<size_t>(options_.max_candidates)) {
    candidates.resize(options_.max_candidates);
  }

  std::vector<v1::VideoEntryMatch> matches;
  for (const auto& [id, hits] : candidates) {
    ASSIGN_OR_RETURN(const v1::Entry entry, ReadMatchedEntry(*store_, id));
    std::vector<VideoFrameHash> entry_frames;
    entry_frames.reserve(entry.video_frames_size());
    for (const v1::VideoFrame& f : entry.video_frames()) {
      entry_frames.push_back(FromProto(f));
    }
    const VideoMatchScore score =
        ScoreVideoMatch(frames, entry_frames, resolved.match);
    if (score.query_frames_matched == 0) continue;
    v1::VideoEntryMatch m;
    Describe(entry, &m);
    m.set_query_match_percent(score.query_match_percent);
    m.set_compared_match_percent(score.compared_match_percent);
    int best = 1 << 30;
    for (const FrameMatch& fm : score.matches) {
      best = std::min(best, fm.distance);
      if (m.frames_size() < resolved.frames_per_match) {
        v1::MatchedFrame* out = m.add_frames();
        out->set_query_timestamp_seconds(fm.query_timestamp_seconds);
        out->set_entry_timestamp_seconds(fm.entry_timestamp_seconds);
        out->set_distance(fm.distance);
      }
    }
    m.set_distance(best);
    m.set_decisive(IsVideoMatch(score, resolved.thresholds));
    matches.push_back(std::move(m));
  }
  for (auto& [id, hit] : image_hits) {
    ASSIGN_OR_RETURN(const v1::Entry entry, ReadMatchedEntry(*store_, id));
    v1::VideoEntryMatch m;
    Describe(entry, &m);
    m.set_distance(hit.distance);
    m.set_decisive(true);
    for (v1::MatchedFrame& f : hit.frames) {
      if (m.frames_size() >= resolved.frames_per_match) break;
      *m.add_frames() = std::move(f);
    }
    matches.push_back(std::move(m));
  }
  std::sort(matches.begin(), matches.end(),
            [](const v1::VideoEntryMatch& a, const v1::VideoEntryMatch& b) {
              return std::make_tuple(!a.decisive(), -a.query_match_percent(),
                                     a.distance(), a.entry_id()) <
                     std::make_tuple(!b.decisive(), -b.query_match_percent(),
                                     b.distance(), b.entry_id());
            });

  // The verdict: a decisive video entry first, then a still image.
  const v1::VideoEntryMatch* video = nullptr;
  const v1::VideoEntryMatch* image = nullptr;
  for (const v1::VideoEntryMatch& m : matches) {
    if (!m.decisive()) continue;
    if (m.signal_type() == v1::SIGNAL_TYPE_VPDQ && video == nullptr) video = &m;
    if (m.signal_type() != v1::SIGNAL_TYPE_VPDQ && image == nullptr) image = &m;
  }
  if (video != nullptr) {
    response.set_verdict(v1::VERDICT_MATCH);
    response.set_rule(v1::DECISION_RULE_VIDEO_FRAMES_PERCENT);
    response.set_rule_detail(absl::StrFormat(
        "vpdq entry %d: query frames matched %.1f%% >= %g%%, entry frames "
        "matched %.1f%% >= %g%%",
        video->entry_id(), video->query_match_percent(),
        resolved.thresholds.query_match_percent,
        video->compared_match_percent(),
        resolved.thresholds.compared_match_percent));
  } else if (image != nullptr) {
    response.set_verdict(v1::VERDICT_MATCH);
    response.set_rule(v1::DECISION_RULE_PDQ_THRESHOLD);
    response.set_rule_detail(absl::StrFormat(
        "frame at %.3f s: pdq distance %d <= %d, entry %d",
        image->frames_size() > 0 ? image->frames(0).query_timestamp_seconds()
                                 : 0.0,
        image->distance(), radius, image->entry_id()));
  } else if (usable.empty()) {
    response.set_verdict(v1::VERDICT_LOW_QUALITY);
    response.set_rule(v1::DECISION_RULE_QUALITY_GATE);
    response.set_rule_detail(absl::StrCat(
        "no frame of pdq quality >= ", resolved.match.quality_threshold, " (",
        frames.size(), " frames)"));
  } else {
    response.set_verdict(v1::VERDICT_NO_MATCH);
    response.set_rule(v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD);
    response.set_rule_detail(absl::StrFormat(
        "no entry matched (%d usable frames; vpdq query >= %g%%, compared >= "
        "%g%%, frame distance <= %d%s)",
        static_cast<int>(usable.size()),
        resolved.thresholds.query_match_percent,
        resolved.thresholds.compared_match_percent, radius,
        resolved.image_entries ? "; pdq image entries" : ""));
  }
  const size_t shown =
      std::min(matches.size(), static_cast<size_t>(resolved.max_matches));
  response.set_matches_truncated(shown < matches.size());
  for (size_t i = 0; i < shown; ++i) {
    *response.add_matches() = std::move(matches[i]);
  }
  return response;
}

}  // namespace hashmatch
