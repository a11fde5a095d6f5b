// MihIndex: exact Hamming search by multi-index hashing (Norouzi, Punjani and
// Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012),
// written as a faiss::IndexBinary so it plugs into FAISS's API.
//
//   MihIndex index(256);
//   index.Build(std::move(ids), std::move(words));   // or add_with_ids()
//   std::vector<Match> hits;
//   index.RangeSearchInclusive(query_bytes, 31, nullptr, &hits);
//
// Scheme. A code of B bits is split into m = B / 16 chunks of 16 bits (PDQ:
// 16 chunks; 64-bit pHash/dHash: 4). Table j maps the value of chunk j to the
// entries holding it, as a compressed array: 65537 offsets into a flat array
// of entry positions (uint32), so the index costs 4 * m + 8 + B / 8 bytes per
// code plus 256 KiB per table. By pigeonhole, a code within r bits of the
// query has some chunk within s = floor(r / m) bits of the query's chunk, so
// a range search probes, for level t = 0..s and every table j, the buckets at
// exactly t bits from the query chunk, and verifies full distances with
// hardware popcount. A candidate is reported only where it is first met: at
// level t = its smallest chunk distance, in the first table with that
// distance; so each code is reported once without a dedupe set. k-NN probes
// the same levels until the k-th best distance found is below m * (t + 1)
// (no unseen code can be closer), and falls back to a scan when probing would
// cost more than scanning (see set_scan_fallback).
//
// Mutation: the tables are rebuilt in O(ntotal * m) by every add/Build, so
// the index is meant to be built in one batch and then searched; live
// updates belong to BinaryIndex (binary_index.h), which keeps a MihIndex as
// an immutable base segment.
//
// FAISS conventions: add() numbers codes ntotal, ntotal + 1, ...;
// add_with_ids() takes the caller's ids (as uint64). FAISS's range_search()
// is strict, as in 1.7.3's IndexBinaryFlat: it returns distance < radius.
// Our own RangeSearchInclusive() returns distance <= radius. The FAISS
// overrides may throw faiss::FaissException (e.g. a bad argument); the
// native methods never throw.
//
// Thread safety: const methods may run concurrently (no shared scratch);
// add/add_with_ids/Build/reset/set_scan_fallback need exclusive access.
#ifndef HASHMATCH_INDEX_SEARCH_MIH_INDEX_H_
#define HASHMATCH_INDEX_SEARCH_MIH_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "faiss/IndexBinary.h"
#include "index/search/match.h"

namespace hashmatch {

class MihIndex : public faiss::IndexBinary {
 public:
  static constexpr int kChunkBits = 16;

  // REQUIRES: code_bits is a positive multiple of 64. (faiss::IndexBinary's
  // constructor throws faiss::FaissException only if code_bits % 8 != 0.)
  explicit MihIndex(int code_bits);

  // ---- faiss::IndexBinary ----
  void add(idx_t n, const uint8_t* x) override;
  void add_with_ids(idx_t n, const uint8_t* x, const idx_t* xids) override;
  // Exact k-NN; each query's results sorted by (distance, id), padded with
  // label -1 and distance INT32_MAX when fewer than k codes exist.
  void search(idx_t n, const uint8_t* x, idx_t k, int32_t* distances,
              idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
  // Every code with distance < radius (strict, FAISS's convention).
  void range_search(
      idx_t n, const uint8_t* x, int radius, faiss::RangeSearchResult* result,
      const faiss::SearchParameters* params = nullptr) const override;
  void reset() override;

  // ---- native API ----
  // Replaces the contents with the entries (ids[i], words[i * code_bits / 64
  // ...]). Rows are stored sorted by id (stable for equal ids), so after
  // Build (and after add/add_with_ids, which rebuild) row i is the entry with
  // the i-th smallest id, not the i-th argument. O(n log n + n * m).
  // REQUIRES: words.size() == ids.size() * code_bits / 64; n < 2^32.
  void Build(std::vector<uint64_t> ids, std::vector<uint64_t> words);

  // The row holding `id` (the first such row if ids repeat), by binary
  // search over the id-sorted rows; nullopt if no row has it. O(log n).
  std::optional<size_t> Find(uint64_t id) const;

  // Appends every entry within `radius` bits (distance <= radius) whose id is
  // not in `exclude` (may be null) to `out`, in no particular order.
  // REQUIRES: 0 <= radius.
  void RangeSearchInclusive(const uint8_t* query, int radius,
                            const absl::flat_hash_set<uint64_t>* exclude,
                            std::vector<Match>* out) const;
  // The k nearest entries not in `exclude`, sorted by (distance, id).
  std::vector<Match> Knn(const uint8_t* query, size_t k,
                         const absl::flat_hash_set<uint64_t>* exclude) const;

  // When true (the default), a search whose bucket probes would outnumber
  // ntotal / 4 scans all codes instead. Tests turn it off to exercise the
  // tables on small indexes.
  void set_scan_fallback(bool on) { scan_fallback_ = on; }

  int num_chunks() const { return chunks_; }
  int words_per_code() const { return words_; }
  size_t size() const { return ids_.size(); }
  uint64_t id(size_t i) const { return ids_[i]; }
  const uint64_t* words(size_t i) const { return &codes_[i * words_]; }
  // Bytes held by the ids, codes and tables.
  size_t MemoryBytes() const;

 private:
  // Sorts the rows by id, then rebuilds the tables.
  void SortRowsAndRebuild();
  void RebuildTables();
  bool ShouldScan(int max_level) const;
  // Calls fn(entry, code, chunk) for every entry in the buckets whose chunk
  // is exactly `level` bits from the query's, table by table, prefetching
  // codes ahead.
  template <int kWords, typename Fn>
  void ForEachAtLevel(const uint64_t* q, int level, Fn&& fn) const;
  template <int kWords>
  void RangeImpl(const uint64_t* q, int radius,
                 const absl::flat_hash_set<uint64_t>* exclude,
                 std::vector<Match>* out) const;
  template <int kWords>
  std::vector<Match> KnnImpl(
      const uint64_t* q, size_t k,
      const absl::flat_hash_set<uint64_t>* exclude) const;

  int words_;
  int chunks_;
  bool scan_fallback_ = true;
  std::vector<uint64_t> ids_;
  std::vector<uint64_t> codes_;
  // Table j's bucket v holds entries_[j * N + offsets_[j * 65537 + v] ...
  // j * N + offsets_[j * 65537 + v + 1]).
  std::vector<uint32_t> offsets_;
  std::vector<uint32_t> entries_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_SEARCH_MIH_INDEX_H_
