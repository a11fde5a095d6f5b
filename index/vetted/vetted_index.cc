#include "index/vetted/vetted_index.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "index/vetted/index_snapshot.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Change;
using hashmatch::v1::Entry;
using hashmatch::v1::SignalType;

int SlotOf(SignalType signal) {
  switch (signal) {
    case hashmatch::v1::SIGNAL_TYPE_PDQ:
      return 0;
    case hashmatch::v1::SIGNAL_TYPE_PHASH:
      return 1;
    case hashmatch::v1::SIGNAL_TYPE_DHASH:
      return 2;
    case hashmatch::v1::SIGNAL_TYPE_VPDQ:
      return 3;
    default:
      return -1;
  }
}

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                   s.size());
}

}  // namespace

bool VerifyReport::consistent() const {
  for (const SignalVerifyReport& s : signals) {
    if (!s.missing.empty() || !s.extra.empty()) {
      return false;
    }
  }
  return true;
}

VettedIndex::VettedIndex(HashStore* store, const VettedIndexOptions& options)
    : store_(store), options_(options) {}

absl::StatusOr<std::unique_ptr<VettedIndex>> VettedIndex::Open(
    HashStore* store, const VettedIndexOptions& options) {
  if (store == nullptr) return absl::InvalidArgumentError("store is null");
  std::unique_ptr<VettedIndex> index(new VettedIndex(store, options));
  uint64_t sequence = 0;
  bool first = true;
  for (size_t slot = 0; slot < kBinarySignals.size(); ++slot) {
    const SignalType signal = kBinarySignals[slot];
    BinaryIndexOptions bopts;
    const bool pdq = signal == hashmatch::v1::SIGNAL_TYPE_PDQ ||
                     signal == hashmatch::v1::SIGNAL_TYPE_VPDQ;
    bopts.code_bits = pdq ? 256 : 64;
    bopts.default_radius =
        pdq ? options.pdq_default_radius : options.short_default_radius;
    bopts.merge_threshold = options.merge_threshold;
    ASSIGN_OR_RETURN(index->indexes_[slot], BinaryIndex::Create(bopts));
    SignalOpenInfo info;
    info.signal_type = signal;
    if (!options.snapshot_dir.empty()) {
      absl::StatusOr<uint64_t> loaded = index->LoadSnapshot(slot);
      if (loaded.ok()) {
        info.from_snapshot = true;
        info.sequence = *loaded;
      } else {
        info.snapshot_status = loaded.status();
        // LoadSnapshot adds nothing on failure, but start from a fresh index
        // all the same.
        ASSIGN_OR_RETURN(index->indexes_[slot], BinaryIndex::Create(bopts));
      }
    }
    if (info.from_snapshot && signal == hashmatch::v1::SIGNAL_TYPE_VPDQ) {
      index->indexes_[slot]->ForEachLiveId([&](uint64_t id) {
        VideoIds& v = index->video_ids_[VideoFrameIdEntry(id)];
        v.frames = std::max(v.frames, VideoFrameIdFrame(id) + 1);
        v.windows = std::max(v.windows, VideoFrameIdWindow(id));
      });
    }
    if (!info.from_snapshot && signal == hashmatch::v1::SIGNAL_TYPE_VPDQ) {
      ASSIGN_OR_RETURN(info.sequence, index->LoadVideoFromStore());
    } else if (!info.from_snapshot) {
      const size_t code_bytes = static_cast<size_t>(bopts.code_bits) / 8;
      std::vector<uint64_t> ids;
      std::vector<uint64_t> words;
      ASSIGN_OR_RETURN(
          info.sequence,
          store->ForEachActive(
              signal, [&](uint64_t id, absl::string_view hash) -> absl::Status {
                if (hash.size() != code_bytes) {
                  return absl::DataLossError(
                      absl::StrCat("store entry ", id, " has a ", hash.size(),
                                   "-byte hash, expected ", code_bytes));
                }
                ids.push_back(id);
                words.resize(words.size() + code_bytes / 8);
                std::memcpy(&words[words.size() - code_bytes / 8], hash.data(),
                            code_bytes);
                return absl::OkStatus();
              }));
      RETURN_IF_ERROR(
          index->indexes_[slot]->Load(std::move(ids), std::move(words)));
    }
    // Each signal type is read from its own snapshot: start CatchUp from the
    // oldest one. Replaying a change already reflected is harmless (Apply is
    // idempotent, and replaying in order ends in the same state).
    sequence = first ? info.sequence : std::min(sequence, info.sequence);
    first = false;
    index->open_info_.push_back(std::move(info));
  }
  index->applied_sequence_.store(sequence);
  RETURN_IF_ERROR(index->CatchUp());
  return index;
}

std::string VettedIndex::SnapshotPath(const std::string& dir,
                                      SignalType signal) {
  std::string name = hashmatch::v1::SignalType_Name(signal);
  if (absl::StartsWith(name, "SIGNAL_TYPE_")) {
    name = name.substr(sizeof("SIGNAL_TYPE_") - 1);
  }
  return absl::StrCat(dir, "/", absl::AsciiStrToLower(name), ".hmsnap");
}

absl::StatusOr<uint64_t> VettedIndex::LoadSnapshot(size_t slot) {
  const SignalType signal = kBinarySignals[slot];
  const std::string path = SnapshotPath(options_.snapshot_dir, signal);
  ASSIGN_OR_RETURN(LoadedIndexSnapshot snap, ReadIndexSnapshot(path));
  if (snap.header.signal_type != signal) {
    return absl::DataLossError(
        absl::StrCat("index snapshot ", path, " holds ",
                     hashmatch::v1::SignalType_Name(snap.header.signal_type),
                     ", not ", hashmatch::v1::SignalType_Name(signal)));
  }
  const uint64_t last = store_->LastSequence();
  if (snap.header.sequence > last) {
    return absl::FailedPreconditionError(absl::StrCat(
        "index snapshot ", path, " is at sequence ", snap.header.sequence,
        ", ahead of the store's last sequence ", last,
        " (a snapshot of another store, or the store was restored)"));
  }
  if (snap.header.sequence < last) {
    ASSIGN_OR_RETURN(std::vector<Change> next,
                     store_->ChangesSince(snap.header.sequence, 1));
    if (next.empty() || next[0].sequence() != snap.header.sequence + 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "index snapshot ", path, " is at sequence ", snap.header.sequence,
          " but the store's change log no longer holds change ",
          snap.header.sequence + 1));
    }
  }
  absl::Status added =
      indexes_[slot]->Load(std::move(snap.ids), std::move(snap.words));
  if (!added.ok()) {
    return absl::DataLossError(absl::StrCat(
        "index snapshot ", path, " does not load: ", added.message()));
  }
  return snap.header.sequence;
}

absl::Status VettedIndex::SaveSnapshot() const {
  if (options_.snapshot_dir.empty()) {
    return absl::FailedPreconditionError(
        "VettedIndexOptions::snapshot_dir is empty");
  }
  std::lock_guard<std::mutex> save_lock(save_mu_);
  std::vector<BinaryIndex::View> views;
  uint64_t sequence;
  {
    // CatchUp holds this mutex while it applies changes, so the views and
    // the sequence describe the same state.
    std::lock_guard<std::mutex> lock(catch_up_mu_);
    for (const auto& index : indexes_) views.push_back(index->LiveView());
    sequence = applied_sequence_.load();
  }
  // 0700 for each directory created, whatever the umask.
  if (absl::Status s = CreatePrivateDirectories(options_.snapshot_dir);
      !s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("creating ", options_.snapshot_dir, ": ", s.message()));
  }
  for (size_t slot = 0; slot < kBinarySignals.size(); ++slot) {
    RETURN_IF_ERROR(WriteIndexSnapshot(
        SnapshotPath(options_.snapshot_dir, kBinarySignals[slot]),
        kBinarySignals[slot], sequence, views[slot]));
  }
  return absl::OkStatus();
}

BinaryIndex* VettedIndex::IndexFor(SignalType signal) const {
  const int slot = SlotOf(signal);
  return slot < 0 ? nullptr : indexes_[slot].get();
}

absl::StatusOr<uint64_t> VettedIndex::LoadVideoFromStore() {
  std::vector<uint64_t> ids;
  ASSIGN_OR_RETURN(const uint64_t sequence,
                   store_->ForEachActive(
                       hashmatch::v1::SIGNAL_TYPE_VPDQ,
                       [&](uint64_t id, absl::string_view) -> absl::Status {
                         ids.push_back(id);
                         return absl::OkStatus();
                       }));
  // The entries are read after the scan, so one may be newer than
  // `sequence`; CatchUp replays the changes after it, and Apply ends in the
  // same state whatever it starts from.
  for (uint64_t id : ids) {
    absl::StatusOr<Entry> entry = store_->Get(id);
    if (absl::IsNotFound(entry.status())) continue;
    if (!entry.ok()) return entry.status();
    RETURN_IF_ERROR(ApplyVideo(
        *entry, entry->state() == hashmatch::v1::VETTING_STATE_ACTIVE));
  }
  return sequence;
}

absl::Status VettedIndex::ApplyVideo(const Entry& entry, bool active) {
  BinaryIndex* index = indexes_[SlotOf(hashmatch::v1::SIGNAL_TYPE_VPDQ)].get();
  auto it = video_ids_.find(entry.id());
  const VideoIds old = it == video_ids_.end() ? VideoIds{} : it->second;
  VideoIds now;
  if (active) {
    now.frames = entry.video_frames_size();
    for (const hashmatch::v1::VideoFrame& f : entry.video_frames()) {
      now.windows = std::max(now.windows, f.windows_size());
    }
  }
  if (now.frames > (1 << kVideoFrameBits)) {
    return absl::InvalidArgumentError(
        absl::StrCat("video entry ", entry.id(), " has ", now.frames,
                     " frames, over ", 1 << kVideoFrameBits));
  }
  if (now.frames > 0 && entry.id() >= kMaxVideoEntryId) {
    return absl::InvalidArgumentError(
        absl::StrCat("video entry id ", entry.id(), " is over the ",
                     kMaxVideoEntryId, " the frame index can hold"));
  }
  // Whether the new version indexes hash w of frame i.
  auto indexed = [&](int i, int w) {
    if (i >= now.frames) return false;
    const hashmatch::v1::VideoFrame& f = entry.video_frames(i);
    return w == 0 || (w <= f.windows_size() &&
                      f.windows(w - 1).quality() >= kMinIndexedWindowQuality);
  };
  // Hashes at ids both versions have are replaced in place (a search never
  // misses them); the rest are added or removed.
  for (int i = 0; i < now.frames; ++i) {
    const hashmatch::v1::VideoFrame& f = entry.video_frames(i);
    for (int w = 0; w <= f.windows_size(); ++w) {
      if (!indexed(i, w)) continue;
      const uint64_t id = VideoFrameId(entry.id(), i, w);
      const auto code = Bytes(w == 0 ? f.pdq() : f.windows(w - 1).pdq());
      const bool was = i < old.frames && w <= old.windows;
      absl::Status s = was ? index->Replace(id, code) : index->Add(id, code);
      if (was && absl::IsNotFound(s)) s = index->Add(id, code);
      if (!was && absl::IsAlreadyExists(s)) s = index->Replace(id, code);
      RETURN_IF_ERROR(s);
    }
  }
  for (int i = 0; i < old.frames; ++i) {
    for (int w = 0; w <= old.windows; ++w) {
      if (indexed(i, w)) continue;
      absl::Status removed = index->Remove(VideoFrameId(entry.id(), i, w));
      if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
    }
  }
  if (now.frames == 0) {
    if (it != video_ids_.end()) video_ids_.erase(it);
  } else {
    video_ids_[entry.id()] = now;
  }
  return absl::OkStatus();
}

absl::Status VettedIndex::Apply(const Change& change) {
  const Entry& entry = change.entry();
  const bool active = change.kind() == Change::KIND_UPSERT &&
                      entry.state() == hashmatch::v1::VETTING_STATE_ACTIVE;
  if (entry.signal_type() == hashmatch::v1::SIGNAL_TYPE_VPDQ) {
    return ApplyVideo(entry, active);
  }
  BinaryIndex* index = IndexFor(entry.signal_type());
  if (index == nullptr) return absl::OkStatus();
  if (active) {
    absl::Status added = index->Add(entry.id(), Bytes(entry.hash()));
    if (!absl::IsAlreadyExists(added)) return added;
    // Already indexed: an update, whose hash may have changed. Replace
    // publishes it in one snapshot, so no search misses the entry.
    return index->Replace(entry.id(), Bytes(entry.hash()));
  }
  absl::Status removed = index->Remove(entry.id());
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  return absl::OkStatus();
}

absl::Status VettedIndex::CatchUp() {
  std::lock_guard<std::mutex> lock(catch_up_mu_);
  while (true) {
    ASSIGN_OR_RETURN(std::vector<Change> changes,
                     store_->ChangesSince(applied_sequence_.load(),
                                          options_.catch_up_batch));
    if (changes.empty()) return absl::OkStatus();
    for (const Change& change : changes) {
      RETURN_IF_ERROR(Apply(change));
      applied_sequence_.store(change.sequence());
    }
  }
}

absl::StatusOr<std::vector<VideoFrameMatch>> VettedIndex::SearchVideoFrames(
    absl::Span<const uint8_t> code, int radius) const {
  ASSIGN_OR_RETURN(
      std::vector<Match> hits,
      indexes_[SlotOf(hashmatch::v1::SIGNAL_TYPE_VPDQ)]->RangeSearch(code,
                                                                     radius));
  std::vector<VideoFrameMatch> out;
  out.reserve(hits.size());
  for (const Match& m : hits) {
    out.push_back(VideoFrameMatch{VideoFrameIdEntry(m.id),
                                  VideoFrameIdFrame(m.id),
                                  VideoFrameIdWindow(m.id), m.distance});
  }
  // (distance, id) order of composite ids is (distance, window, entry,
  // frame); callers want (distance, entry, frame, window).
  std::sort(out.begin(), out.end(),
            [](const VideoFrameMatch& a, const VideoFrameMatch& b) {
              return std::tie(a.distance, a.entry_id, a.frame, a.window) <
                     std::tie(b.distance, b.entry_id, b.frame, b.window);
            });
  return out;
}

absl::StatusOr<std::vector<Match>> VettedIndex::Search(
    SignalType signal, absl::Span<const uint8_t> code, int radius) const {
  const BinaryIndex* index = IndexFor(signal);
  if (signal == hashmatch::v1::SIGNAL_TYPE_VPDQ) {
    return absl::InvalidArgumentError(
        "video entries are searched by frame: use SearchVideoFrames");
  }
  if (index == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no Hamming index for signal type ",
        hashmatch::v1::SignalType_Name(signal), "; use LookupExact"));
  }
  return index->RangeSearch(code, radius);
}

absl::StatusOr<std::vector<DihedralMatch>> VettedIndex::SearchDihedral(
    SignalType signal, absl::Span<const uint8_t> queries, int radius) const {
  const BinaryIndex* index =
      signal == hashmatch::v1::SIGNAL_TYPE_VPDQ ? nullptr : IndexFor(signal);
  if (index == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no Hamming index for signal type ",
                     hashmatch::v1::SignalType_Name(signal)));
  }
  return index->SearchDihedral(queries, radius);
}

absl::StatusOr<std::vector<uint64_t>> VettedIndex::LookupExact(
    SignalType signal, absl::string_view hash) const {
  ASSIGN_OR_RETURN(std::vector<Entry> entries,
                   store_->LookupHash(signal, hash));
  std::vector<uint64_t> ids;
  for (const Entry& e : entries) {
    if (e.state() == hashmatch::v1::VETTING_STATE_ACTIVE) ids.push_back(e.id());
  }
  return ids;
}

size_t VettedIndex::size(SignalType signal) const {
  const BinaryIndex* index = IndexFor(signal);
  return index == nullptr ? 0 : index->size();
}

absl::StatusOr<SignalVerifyReport> VettedIndex::VerifyVideo(
    const BinaryIndex& index) const {
  SignalVerifyReport s;
  s.signal_type = hashmatch::v1::SIGNAL_TYPE_VPDQ;
  std::vector<uint64_t> active;
  RETURN_IF_ERROR(store_
                      ->ForEachActive(hashmatch::v1::SIGNAL_TYPE_VPDQ,
                                      [&](uint64_t id, absl::string_view) {
                                        active.push_back(id);
                                        return absl::OkStatus();
                                      })
                      .status());
  s.store_active = active.size();
  for (uint64_t id : active) {
    ASSIGN_OR_RETURN(Entry entry, store_->Get(id));
    bool complete = true;
    for (int i = 0; i < entry.video_frames_size() && complete; ++i) {
      const hashmatch::v1::VideoFrame& f = entry.video_frames(i);
      for (int w = 0; w <= f.windows_size() && complete; ++w) {
        if (w > 0 && f.windows(w - 1).quality() < kMinIndexedWindowQuality) {
          continue;
        }
        ASSIGN_OR_RETURN(
            std::vector<Match> hits,
            index.RangeSearch(Bytes(w == 0 ? f.pdq() : f.windows(w - 1).pdq()),
                              0));
        bool present = false;
        for (const Match& m : hits) {
          present = present || m.id == VideoFrameId(id, i, w);
        }
        complete = present;
      }
    }
    if (!complete) s.missing.push_back(id);
  }
  std::vector<uint64_t> live;
  index.ForEachLiveId(
      [&](uint64_t frame_id) { live.push_back(VideoFrameIdEntry(frame_id)); });
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  s.indexed = live.size();
  std::sort(active.begin(), active.end());
  std::set_difference(live.begin(), live.end(), active.begin(), active.end(),
                      std::back_inserter(s.extra));
  std::sort(s.missing.begin(), s.missing.end());
  return s;
}

absl::StatusOr<VerifyReport> VettedIndex::Verify() const {
  VerifyReport report;
  report.applied_sequence = applied_sequence();
  for (size_t slot = 0; slot < kBinarySignals.size(); ++slot) {
    const SignalType signal = kBinarySignals[slot];
    const BinaryIndex& index = *indexes_[slot];
    if (signal == hashmatch::v1::SIGNAL_TYPE_VPDQ) {
      ASSIGN_OR_RETURN(SignalVerifyReport s, VerifyVideo(index));
      report.signals.push_back(std::move(s));
      continue;
    }
    SignalVerifyReport s;
    s.signal_type = signal;
    std::vector<uint64_t> active;
    ASSIGN_OR_RETURN(
        report.store_sequence,
        store_->ForEachActive(
            signal, [&](uint64_t id, absl::string_view hash) -> absl::Status {
              ++s.store_active;
              active.push_back(id);
              ASSIGN_OR_RETURN(std::vector<Match> hits,
                               index.RangeSearch(Bytes(hash), 0));
              bool present = false;
              for (const Match& m : hits) present = present || m.id == id;
              if (!present) s.missing.push_back(id);
              return absl::OkStatus();
            }));
    const BinaryIndex::View view = index.LiveView();
    s.indexed = view.size();
    std::vector<uint64_t> live;
    live.reserve(view.size());
    view.ForEach([&](uint64_t id, const uint64_t*) { live.push_back(id); });
    std::sort(active.begin(), active.end());
    std::sort(live.begin(), live.end());
    std::set_difference(live.begin(), live.end(), active.begin(), active.end(),
                        std::back_inserter(s.extra));
    std::sort(s.missing.begin(), s.missing.end());
    std::sort(s.extra.begin(), s.extra.end());
    report.signals.push_back(std::move(s));
  }
  return report;
}

}  // namespace hashmatch
