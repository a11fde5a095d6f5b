// MihIndex: exact Hamming search by multi-index hashing (Norouzi, Punjani and
// Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012),
// written as a faiss::IndexBinary so it plugs into FAISS's API.
//
//   MihIndex index(256);
//   index.Build(std::move(ids), std::move(words));   // or add_with_ids()
//   std::vector<Match> hits;
//   index.RangeSearchInclusive(query_bytes, 31, nullptr, &hits);
//
// Scheme. A code of B bits is split into m chunks of consecutive bits
// (lengths differ by at most one, longer chunks first). Table j maps the value
// of chunk j to the rows holding it, as a compressed array: 2^bits_j + 1
// uint32 offsets into a flat array of row numbers (3 bytes each while the
// index holds fewer than 2^24 rows, else 4). The chunking follows the index
// size unless set_chunk_bits() fixes it: 64-bit codes use 4 chunks of 16;
// longer codes use chunks of about log2(n) - 1 bits, between 16 and 22
// (10M PDQ codes: 12 chunks, 4 of 22 bits and 8 of 21, 16 MiB of offsets per
// 22-bit table, 128 MiB in all; 1M: 15 chunks).
//
// Search (Norouzi et al., generalized pigeonhole): write r = s * m + a with
// 0 <= a < m. A code within r bits of the query has one of the first a + 1
// chunks within s bits of the query's chunk, or one of the others within
// s - 1 bits (else its distance would be at least (a + 1)(s + 1) + (m - a -
// 1)s = r + 1). So table j probes every bucket at chunk distance 0..L_j (L_j
// = s for j <= a, s - 1 after), and candidates are verified on full
// distance with hardware popcount. Probes, bucket reads and candidate codes
// go through a prefetching pipeline. A candidate is reported only at the
// first (level t, table j) pair in level-then-table order where its chunk
// distance is t <= L_j, so each code is reported once without a dedupe set.
// k-NN probes every table at levels t = 0, 1, ... until the k-th best
// distance found is below m * (t + 1) (no unseen code can be closer). Both
// fall back to a scan when the expected probes plus candidates (for uniform
// codes) exceed ntotal / 8 (see set_scan_fallback); any radius stays exact.
//
// Memory per code: B / 8 (code) + 8 (id) + 3 * m (tables); plus the offsets
// (4 * 2^bits per table): at 10M PDQ codes about 320 + 80 + 360 + 134 MB.
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
namespace search_internal {

// Allocates blocks of 2 MiB or more aligned to 2 MiB and asks the kernel for
// transparent huge pages (madvise), so random reads over the tables and codes
// miss the TLB less; smaller blocks come from operator new.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(AllocateHuge(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { FreeHuge(p, n * sizeof(T)); }
  template <typename U>
  friend bool operator==(const HugePageAllocator&,
                         const HugePageAllocator<U>&) {
    return true;
  }
  static void* AllocateHuge(size_t bytes);
  static void FreeHuge(void* p, size_t bytes);
};

template <typename T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace search_internal

class MihIndex : public faiss::IndexBinary {
 public:
  // Chunk lengths allowed by set_chunk_bits().
  static constexpr int kMinChunkBits = 8;
  static constexpr int kMaxChunkBits = 24;

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
  // the i-th smallest id, not the i-th argument. O(n log n + n * m). The
  // codes are copied into huge-page-backed memory, so `words` is held twice
  // for a moment. Tables are built on up to 4 threads (from 2^16 rows).
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
  // What RangeSearchInclusive(query, radius) would do, for benchmarks:
  // scanned is true if it would scan; else the buckets it probes and the
  // candidate rows it reads (a row found in several tables counts each time).
  struct ProbeStats {
    bool scanned = false;
    size_t probes = 0;
    size_t candidates = 0;
  };
  ProbeStats RangeProbeStats(const uint8_t* query, int radius) const;

  // The k nearest entries not in `exclude`, sorted by (distance, id).
  std::vector<Match> Knn(const uint8_t* query, size_t k,
                         const absl::flat_hash_set<uint64_t>* exclude) const;

  // When true (the default), a search whose bucket probes would outnumber
  // ntotal / 4 scans all codes instead. Tests turn it off to exercise the
  // tables on small indexes.
  void set_scan_fallback(bool on) { scan_fallback_ = on; }
  // Fixes the chunk length (chunks of `bits` or `bits - 1`, m = ceil(B /
  // bits)) from the next Build/add on; 0 (the default) picks it from the
  // size as described above.
  // REQUIRES: bits == 0 or kMinChunkBits <= bits <= kMaxChunkBits.
  void set_chunk_bits(int bits) { chunk_bits_request_ = bits; }

  int num_chunks() const { return static_cast<int>(chunks_.size()); }
  // Length in bits of chunk j (0 <= j < num_chunks()).
  int chunk_bits(int j) const { return chunks_[j].bits; }
  int words_per_code() const { return words_; }
  size_t size() const { return ids_.size(); }
  uint64_t id(size_t i) const { return ids_[i]; }
  const uint64_t* words(size_t i) const { return &codes_[i * words_]; }
  // Bytes held by the ids, codes and tables.
  size_t MemoryBytes() const;

 private:
  struct ChunkSpec {
    int offset = 0;         // First bit of the chunk in the code.
    int bits = 0;           // Length in bits.
    size_t offsets_at = 0;  // Start of its 2^bits + 1 offsets in offsets_.
    size_t entries_at = 0;  // Start of its rows in entries_ (in bytes).
  };
  struct Plan;

  // Sorts the rows by id, then rebuilds the tables.
  void SortRowsAndRebuild();
  void RebuildTables();
  // Chunk lengths for n rows.
  std::vector<int> ChooseChunking(size_t n) const;
  uint32_t ChunkOf(const uint64_t* code, int j) const;
  uint32_t Row(const ChunkSpec& c, size_t p) const;
  // Expected work (probes + uniform-code candidates) of probing table j at
  // levels 0..max_level[j]; true if a scan is cheaper.
  bool ShouldScan(const int* max_level) const;
  // Calls fn(row, code, j, t) for every row in every bucket at chunk distance
  // t <= max_level[j] from the query's chunk j, for t in [min_level, ...].
  template <int kWords, typename Fn>
  void ForEachCandidate(const uint32_t* qchunks, int min_level,
                        const int* max_level, Fn&& fn) const;
  // True if the row found in table j at level t is reported there.
  bool FirstMet(const uint32_t* qchunks, const uint64_t* c, int j, int t,
                const int* max_level) const;
  template <int kWords>
  void RangeImpl(const uint64_t* q, int radius,
                 const absl::flat_hash_set<uint64_t>* exclude,
                 std::vector<Match>* out) const;
  template <int kWords>
  std::vector<Match> KnnImpl(
      const uint64_t* q, size_t k,
      const absl::flat_hash_set<uint64_t>* exclude) const;

  int words_;
  bool scan_fallback_ = true;
  int chunk_bits_request_ = 0;
  int entry_bytes_ = 3;
  std::vector<uint64_t> ids_;
  search_internal::HugeVector<uint64_t> codes_;
  std::vector<ChunkSpec> chunks_;
  // Table j's bucket v holds the rows at entries_[chunks_[j].entries_at +
  // entry_bytes_ * p] for p in [offsets_[o + v], offsets_[o + v + 1]), o =
  // chunks_[j].offsets_at. entries_ has 8 bytes of padding at the end.
  search_internal::HugeVector<uint32_t> offsets_;
  search_internal::HugeVector<uint8_t> entries_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_SEARCH_MIH_INDEX_H_
