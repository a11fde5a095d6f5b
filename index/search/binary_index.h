// BinaryIndex: exact Hamming search over one binary signal type (PDQ 256-bit,
// pHash/dHash 64-bit) with live add and remove.
//
//   BinaryIndexOptions options;              // PDQ: 256 bits, radius 31
//   ASSIGN_OR_RETURN(std::unique_ptr<BinaryIndex> index,
//                    BinaryIndex::Create(options));
//   RETURN_IF_ERROR(index->Add(17, hash.bytes()));
//   ASSIGN_OR_RETURN(std::vector<Match> hits,
//                    index->RangeSearch(query.bytes(),
//                    options.default_radius));
//
// Results are exact: every live entry within the radius (distance <= radius,
// inclusive) and nothing else, sorted by (distance, id).
//
// Scheme. Readers search an immutable Snapshot:
//   base       a MihIndex (mih_index.h, multi-index hashing) built in a batch;
//   delta      a FlatScan of entries added since the base was built;
//   removed    ids of base entries removed since then (tombstones).
// A search holds a shared_ptr to the current snapshot, taken under a mutex
// held only for that pointer copy, and never waits for a writer otherwise.
// Writers are serialised by a separate mutex; each builds a new snapshot
// copy-on-write (sharing the parts it does not change) and publishes it with
// one pointer swap. A single Add or Remove copies the delta or the tombstone
// set (bounded by merge_threshold); AddBatch copies them once per batch. When
// delta plus tombstones exceed merge_threshold, the writer merges everything
// into a new base: O(N * code_bits / 16) time and a second copy of the index
// in memory while it runs (0.2 s at 1M PDQ codes and 6.5 s at 10M on one
// core; a single Add with a delta under 1000 entries takes about 2 us:
// bench/index_benchmark).
// Readers keep searching the old snapshot meanwhile; other writers wait.
// An old snapshot is freed when its last reader drops it.
//
// Liveness of an id is read from the snapshot itself (no id -> location map):
// the base's id-sorted rows (MihIndex::Find, O(log n)) minus the tombstones,
// plus a writer-side set of the delta's ids (at most merge_threshold ids).
// Replace changes an entry's code in ONE published snapshot, so a concurrent
// search sees either the old code or the new one, never neither.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef HASHMATCH_INDEX_SEARCH_BINARY_INDEX_H_
#define HASHMATCH_INDEX_SEARCH_BINARY_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "index/search/flat_scan.h"
#include "index/search/match.h"
#include "index/search/mih_index.h"

namespace hashmatch {

struct BinaryIndexOptions {
  // Bits per code: 256 (PDQ, the default) or 64 (pHash, dHash).
  int code_bits = 256;
  // The radius callers should use unless configured otherwise (PDQ: 31).
  // Must be <= max_radius.
  int default_radius = 31;
  // Largest radius RangeSearch/SearchDihedral accept; at most 63. Default 63.
  int max_radius = 63;
  // Delta entries plus tombstones that trigger a merge into a new base.
  // Default 16384.
  size_t merge_threshold = 16384;
  // Passed to MihIndex::set_scan_fallback (tests turn it off). Default true.
  bool scan_fallback = true;
};

class BinaryIndex {
 public:
  // INVALID_ARGUMENT if code_bits is not 64 or 256, the radii are out of
  // range or merge_threshold is 0.
  static absl::StatusOr<std::unique_ptr<BinaryIndex>> Create(
      const BinaryIndexOptions& options);

  BinaryIndex(const BinaryIndex&) = delete;
  BinaryIndex& operator=(const BinaryIndex&) = delete;

  // Adds one entry. INVALID_ARGUMENT if code.size() != code_bits / 8;
  // ALREADY_EXISTS if `id` is live.
  absl::Status Add(uint64_t id, absl::Span<const uint8_t> code);
  // Adds ids.size() entries whose codes are concatenated in `codes`, as one
  // published change; a bulk load with an empty index builds the base
  // directly. Nothing is added if any argument is bad (as for Add, plus a
  // duplicate id within the batch).
  absl::Status AddBatch(absl::Span<const uint64_t> ids,
                        absl::Span<const uint8_t> codes);
  // Bulk load into an EMPTY index (size() == 0) from owned vectors: `words`
  // holds code_bits / 64 words per id, each code's bytes in memory order (as
  // memcpy from the code bytes gives). Cheaper than AddBatch at scale: no
  // copy of the codes before MihIndex::Build, repeated ids found after its
  // sort by id, and ids already in increasing order skip that sort.
  // FAILED_PRECONDITION if the index is not empty, INVALID_ARGUMENT on a size
  // mismatch, ALREADY_EXISTS on a repeated id; nothing is loaded on error.
  absl::Status Load(std::vector<uint64_t> ids, std::vector<uint64_t> words);
  // Removes a live entry; NOT_FOUND if there is none. The id may be re-added.
  absl::Status Remove(uint64_t id);
  // Gives live entry `id` the code `code`, atomically for readers: every
  // search sees the entry with its old or its new code. NOT_FOUND if `id` is
  // not live, INVALID_ARGUMENT on a bad code size.
  absl::Status Replace(uint64_t id, absl::Span<const uint8_t> code);
  // True if `id` is live in the current snapshot. O(log n + delta size).
  bool Contains(uint64_t id) const;

  // The live entries of one published snapshot, frozen: later writes do not
  // change it, and it keeps that snapshot's memory alive while held.
  class View {
   public:
    size_t size() const;
    int code_bits() const;
    // Calls fn(id, words) for every live entry in increasing id order
    // (code_bits / 64 words, valid during the call).
    void ForEach(const std::function<void(uint64_t id, const uint64_t* words)>&
                     fn) const;

   private:
    friend class BinaryIndex;
    View(std::shared_ptr<const void> snap, const MihIndex* base,
         const FlatScan* delta, const absl::flat_hash_set<uint64_t>* removed,
         size_t live)
        : snap_(std::move(snap)),
          base_(base),
          delta_(delta),
          removed_(removed),
          live_(live) {}
    std::shared_ptr<const void> snap_;
    const MihIndex* base_;
    const FlatScan* delta_;
    const absl::flat_hash_set<uint64_t>* removed_;
    size_t live_;
  };
  View LiveView() const;
  // Calls fn(id) for every live id of the current snapshot (see View).
  void ForEachLiveId(const std::function<void(uint64_t id)>& fn) const;

  // Every live entry with distance <= radius, sorted by (distance, id).
  // INVALID_ARGUMENT on a bad code size or radius outside [0, max_radius].
  absl::StatusOr<std::vector<Match>> RangeSearch(
      absl::Span<const uint8_t> query, int radius) const;
  // The k nearest live entries, sorted by (distance, id) (ties by id).
  absl::StatusOr<std::vector<Match>> Knn(absl::Span<const uint8_t> query,
                                         size_t k) const;
  // Range search for several variants of one query (the 8 PDQ dihedral
  // hashes), concatenated in `queries`, against one snapshot. Each entry
  // within `radius` of some variant appears once, with its smallest distance
  // and the lowest variant index reaching it; sorted by (distance, id).
  absl::StatusOr<std::vector<DihedralMatch>> SearchDihedral(
      absl::Span<const uint8_t> queries, int radius) const;

  // Number of live entries.
  size_t size() const;
  const BinaryIndexOptions& options() const { return options_; }
  // Sizes of the current snapshot's parts (for tests and stats).
  struct Stats {
    size_t base = 0;
    size_t delta = 0;
    size_t removed = 0;
    size_t merges = 0;
  };
  Stats stats() const;

 private:
  struct Snapshot {
    std::shared_ptr<const MihIndex> base;
    std::shared_ptr<const FlatScan> delta;
    std::shared_ptr<const absl::flat_hash_set<uint64_t>> removed;
    size_t live = 0;
    size_t merges = 0;
  };
  BinaryIndex(const BinaryIndexOptions& options,
              std::shared_ptr<const Snapshot> initial);

  std::shared_ptr<const Snapshot> Current() const;
  void Publish(std::shared_ptr<const Snapshot> next);
  absl::Status CheckCode(absl::Span<const uint8_t> code) const;
  absl::Status CheckRadius(int radius) const;
  // Merges base, delta and tombstones of `snap` into a new base if they
  // passed the threshold; returns the snapshot to publish.
  absl::StatusOr<std::shared_ptr<const Snapshot>> MaybeMerge(Snapshot snap)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // True if `id` is live in `snap`; delta_ids_ must describe snap's delta.
  bool LiveIn(const Snapshot& snap, uint64_t id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const BinaryIndexOptions options_;

  mutable std::mutex snapshot_mu_;  // Held only to copy or swap snapshot_.
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);

  std::mutex write_mu_;  // Serialises writers.
  // Ids in the published snapshot's delta (at most merge_threshold + one
  // batch); cleared by a merge or a bulk load.
  absl::flat_hash_set<uint64_t> delta_ids_ ABSL_GUARDED_BY(write_mu_);
};

// Builds an empty MihIndex, converting a faiss::FaissException into a Status.
// The one place where this library lets FAISS throw.
absl::StatusOr<std::unique_ptr<MihIndex>> NewMihIndex(int code_bits);

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_SEARCH_BINARY_INDEX_H_
