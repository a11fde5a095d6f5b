// VettedIndex: the searchable view of a HashStore. One BinaryIndex per binary
// signal type (PDQ 256-bit; pHash, dHash 64-bit) holding entry ids, built
// from HashStore::ForEachActive at Open and kept current by CatchUp, which
// applies HashStore::ChangesSince. MD5 and SHA-256 are exact lookups in the
// store.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<VettedIndex> index,
//                    VettedIndex::Open(store.get(), VettedIndexOptions()));
//   ASSIGN_OR_RETURN(std::vector<Match> hits,
//                    index->Search(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq, 31));
//   ... store->Put(...) ...
//   RETURN_IF_ERROR(index->CatchUp());
//
// Video entries (SIGNAL_TYPE_VPDQ) are a set of frame PDQ hashes: their
// frames go into a PDQ index of their own whose ids are
// VideoFrameId(entry id, frame ordinal), searched by SearchVideoFrames.
//
// Matchable states: only ACTIVE entries are in the indexes (PENDING,
// DISPUTED and RETRACTED are not). Quorum rules come with ingestion.
// Several entries may share one hash; each is its own index id, so a search
// returns every matching entry id.
//
// Thread safety: CatchUp is the single writer (calls to it are serialised by
// an internal mutex); Search, SearchDihedral, LookupExact, Verify and
// applied_sequence may run concurrently with it and with each other. A search
// sees the index state between two applied changes: an update to an indexed
// entry (its hash may have changed) is one BinaryIndex::Replace, so an entry
// that stays ACTIVE is found by every search, at its old or new hash. Verify
// is only meaningful when no CatchUp and no store write run meanwhile.
//
// Snapshots. With VettedIndexOptions::snapshot_dir set, SaveSnapshot writes
// one file per binary signal type (index_snapshot.h: ids, codes and the
// applied sequence, checksummed) and Open loads each file instead of
// scanning the store, then CatchUp applies the changes after the oldest
// loaded sequence. A file is used only if it reads back intact (magic,
// version, checksums, size), names the right signal type, its sequence is
// <= the store's LastSequence, and the store's change log still holds the
// change right after that sequence (HashStore never deletes changes today;
// the check guards against a future log compaction). Otherwise that signal
// type is rebuilt from the store and open_info() says why. SaveSnapshot
// creates snapshot_dir and its missing parents 0700 and the files 0600,
// whatever the umask.
//
// Ownership: `store` is not owned and must outlive the VettedIndex.
#ifndef HASHMATCH_INDEX_VETTED_VETTED_INDEX_H_
#define HASHMATCH_INDEX_VETTED_VETTED_INDEX_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "index/search/binary_index.h"
#include "index/search/match.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/entry.pb.h"

namespace hashmatch {

struct VettedIndexOptions {
  // Default search radius for PDQ. Default 31.
  int pdq_default_radius = 31;
  // Default search radius for pHash and dHash. Default 10.
  int short_default_radius = 10;
  // Passed to each BinaryIndex. Default 16384.
  size_t merge_threshold = 16384;
  // Changes read per ChangesSince call in CatchUp. Default 10000.
  size_t catch_up_batch = 10000;
  // Directory of the index snapshot files (created by SaveSnapshot if
  // missing). Default empty: Open always scans the store and SaveSnapshot
  // fails.
  std::string snapshot_dir;
};

// How Open filled the index of one binary signal type.
struct SignalOpenInfo {
  hashmatch::v1::SignalType signal_type =
      hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED;
  bool from_snapshot = false;  // Else built from the store's ACTIVE entries.
  uint64_t sequence = 0;       // Sequence of the snapshot or store scan.
  // Why the snapshot was not used (OK when it was, or when snapshot_dir is
  // empty): e.g. NOT_FOUND (no file), DATA_LOSS (corrupt or truncated),
  // FAILED_PRECONDITION (newer format, sequence ahead of the store, change
  // log gap).
  absl::Status snapshot_status;
};

// Result of VettedIndex::Verify for one binary signal type.
struct SignalVerifyReport {
  hashmatch::v1::SignalType signal_type =
      hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED;
  uint64_t store_active = 0;  // ACTIVE entries in the store.
  uint64_t indexed = 0;       // Entries in the index.
  // ACTIVE in the store but not found in the index at its hash (absent, or
  // indexed with another hash), sorted.
  std::vector<uint64_t> missing;
  // Every id in the index that is not an ACTIVE store entry of this signal
  // type (retracted, no longer ACTIVE, or unknown), sorted.
  std::vector<uint64_t> extra;
};

// One indexed video frame hash within the radius of a query.
struct VideoFrameMatch {
  uint64_t entry_id = 0;
  int frame = 0;   // Ordinal in the entry's video_frames.
  int window = 0;  // 0: the frame's PDQ; k: its windows(k - 1).
  int distance = 0;
};

// Index id of one hash of a video entry's frame: bits 0-13 the frame ordinal
// (kMaxVideoFramesPerEntry = 2^14), bits 14-59 the entry id (< 2^46), bits
// 60-63 which hash of the frame: 0 its PDQ, k its windows(k - 1). Ids of
// window 0 are those of the layout without windows, so older snapshots load
// as they are. Windows with PDQ quality below kMinIndexedWindowQuality are
// not indexed (a flat window's hash would be near other flat windows').
inline constexpr int kMinIndexedWindowQuality = 50;
inline constexpr int kVideoFrameBits = 14;
inline constexpr int kVideoWindowShift = 60;
inline constexpr uint64_t kMaxVideoEntryId =
    uint64_t{1} << (kVideoWindowShift - kVideoFrameBits);
inline uint64_t VideoFrameId(uint64_t entry_id, int frame, int window = 0) {
  return (static_cast<uint64_t>(window) << kVideoWindowShift) |
         (entry_id << kVideoFrameBits) | static_cast<uint64_t>(frame);
}
inline uint64_t VideoFrameIdEntry(uint64_t id) {
  return (id >> kVideoFrameBits) & (kMaxVideoEntryId - 1);
}
inline int VideoFrameIdFrame(uint64_t id) {
  return static_cast<int>(id & ((uint64_t{1} << kVideoFrameBits) - 1));
}
inline int VideoFrameIdWindow(uint64_t id) {
  return static_cast<int>(id >> kVideoWindowShift);
}

struct VerifyReport {
  // PDQ, PHASH, DHASH, VPDQ. For VPDQ the counts are of entries: an entry
  // is missing when one of its frames is not indexed at its hash, extra when
  // it has indexed frames but is not an ACTIVE VPDQ entry.
  std::vector<SignalVerifyReport> signals;
  uint64_t store_sequence = 0;  // Sequence of the store snapshot compared.
  uint64_t applied_sequence = 0;
  // True when nothing is missing and nothing is extra for every signal.
  bool consistent() const;
};

class VettedIndex {
 public:
  // Builds the indexes from the ACTIVE entries of `store`. The store's
  // snapshot sequence becomes applied_sequence().
  static absl::StatusOr<std::unique_ptr<VettedIndex>> Open(
      HashStore* store, const VettedIndexOptions& options);

  VettedIndex(const VettedIndex&) = delete;
  VettedIndex& operator=(const VettedIndex&) = delete;

  // Applies every store change after applied_sequence() and advances it.
  absl::Status CatchUp();

  // Writes the snapshot files of all binary signal types (see Snapshots
  // above) at the current applied_sequence(). CatchUp waits only while the
  // current index states are taken, not during the writes; concurrent
  // SaveSnapshot calls run one at a time.
  // FAILED_PRECONDITION if options.snapshot_dir is empty.
  absl::Status SaveSnapshot() const;

  // Per binary signal type (PDQ, PHASH, DHASH): how Open built it.
  const std::vector<SignalOpenInfo>& open_info() const { return open_info_; }
  // The snapshot file of `signal` in `dir`.
  static std::string SnapshotPath(const std::string& dir,
                                  hashmatch::v1::SignalType signal);

  // Entry ids within `radius` of `code`, sorted by (distance, id).
  // INVALID_ARGUMENT for a non-binary signal type or a bad code/radius.
  absl::StatusOr<std::vector<Match>> Search(hashmatch::v1::SignalType signal,
                                            absl::Span<const uint8_t> code,
                                            int radius) const;
  // Dihedral variants concatenated in `queries` (see BinaryIndex).
  absl::StatusOr<std::vector<DihedralMatch>> SearchDihedral(
      hashmatch::v1::SignalType signal, absl::Span<const uint8_t> queries,
      int radius) const;
  // Frame hashes (PDQs and windows) of ACTIVE video entries within `radius`
  // of the PDQ `code`, sorted by (distance, entry id, frame, window).
  // INVALID_ARGUMENT on a bad code/radius.
  absl::StatusOr<std::vector<VideoFrameMatch>> SearchVideoFrames(
      absl::Span<const uint8_t> code, int radius) const;

  // ACTIVE entries whose hash is exactly `hash` (any signal type; the exact
  // path for MD5 and SHA-256), in id order.
  absl::StatusOr<std::vector<uint64_t>> LookupExact(
      hashmatch::v1::SignalType signal, absl::string_view hash) const;

  // Compares the indexes with the store's ACTIVE entries: every ACTIVE entry
  // is searched at its hash, and every indexed id is listed and checked
  // against the ACTIVE ids. Memory: 8 bytes per entry for the id lists.
  absl::StatusOr<VerifyReport> Verify() const;

  uint64_t applied_sequence() const { return applied_sequence_.load(); }
  // Entries in the index of `signal` (VPDQ: indexed frames); 0 for a
  // non-binary type.
  size_t size(hashmatch::v1::SignalType signal) const;

  // PDQ, PHASH, DHASH, and VPDQ (the frames of video entries).
  static constexpr std::array<hashmatch::v1::SignalType, 4> kBinarySignals = {
      hashmatch::v1::SIGNAL_TYPE_PDQ, hashmatch::v1::SIGNAL_TYPE_PHASH,
      hashmatch::v1::SIGNAL_TYPE_DHASH, hashmatch::v1::SIGNAL_TYPE_VPDQ};

 private:
  VettedIndex(HashStore* store, const VettedIndexOptions& options);
  BinaryIndex* IndexFor(hashmatch::v1::SignalType signal) const;
  absl::Status Apply(const hashmatch::v1::Change& change);
  // Apply for a VPDQ entry: its frames in, out or replaced.
  absl::Status ApplyVideo(const hashmatch::v1::Entry& entry, bool active);
  // Adds the frames of the ACTIVE VPDQ entries (read from the store) to the
  // VPDQ index; returns the sequence of the scan.
  absl::StatusOr<uint64_t> LoadVideoFromStore();
  absl::StatusOr<SignalVerifyReport> VerifyVideo(
      const BinaryIndex& index) const;
  // Loads the snapshot of kBinarySignals[slot] into its (empty) index;
  // returns its sequence.
  absl::StatusOr<uint64_t> LoadSnapshot(size_t slot);

  HashStore* const store_;
  const VettedIndexOptions options_;
  std::array<std::unique_ptr<BinaryIndex>, kBinarySignals.size()> indexes_;
  // What is indexed per video entry: ids VideoFrameId(entry, i, w) for some
  // i < frames, w <= windows. Written under catch_up_mu_ (and in Open).
  struct VideoIds {
    int frames = 0;
    int windows = 0;
  };
  std::unordered_map<uint64_t, VideoIds> video_ids_;
  std::atomic<uint64_t> applied_sequence_{0};
  mutable std::mutex catch_up_mu_;
  mutable std::mutex save_mu_;  // Serialises SaveSnapshot (one temp file).

  std::vector<SignalOpenInfo> open_info_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_VETTED_VETTED_INDEX_H_
