// FlatScan: an exact linear scan over binary codes with hardware popcount.
// It is the brute-force oracle of the tests, the baseline of the benchmarks,
// and the small "delta" segment of BinaryIndex (binary_index.h).
//
//   FlatScan scan(256);
//   scan.Add(42, code_bytes);
//   std::vector<Match> hits;
//   scan.RangeSearch(query_bytes, 31, &hits);   // distance <= 31
//
// Memory: 8 + code_bits / 8 bytes per code. Add is amortised O(1), Remove is
// O(size()) (swap with the last entry), searches are O(size()).
//
// Thread safety: const methods may run concurrently; Add/Remove need external
// synchronisation against everything else.
#ifndef HASHMATCH_INDEX_SEARCH_FLAT_SCAN_H_
#define HASHMATCH_INDEX_SEARCH_FLAT_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "index/search/match.h"

namespace hashmatch {

class FlatScan {
 public:
  // REQUIRES: code_bits is a positive multiple of 64.
  explicit FlatScan(int code_bits);

  int code_bits() const { return words_ * 64; }
  size_t size() const { return ids_.size(); }

  // Appends (id, code). Duplicate ids are not checked.
  // REQUIRES: `code` points at code_bits / 8 bytes.
  void Add(uint64_t id, const uint8_t* code);
  // Removes the entry with `id`; returns false if there is none.
  bool Remove(uint64_t id);

  // Appends every entry within `radius` bits of `query` (distance <= radius)
  // to `out`, in no particular order.
  void RangeSearch(const uint8_t* query, int radius,
                   std::vector<Match>* out) const;
  // The k nearest entries, sorted by (distance, id).
  std::vector<Match> Knn(const uint8_t* query, size_t k) const;

  // Entry i: its id and its code as code_bits / 64 words.
  uint64_t id(size_t i) const { return ids_[i]; }
  const uint64_t* words(size_t i) const { return &words_data_[i * words_]; }

 private:
  int words_;
  std::vector<uint64_t> ids_;
  std::vector<uint64_t> words_data_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_SEARCH_FLAT_SCAN_H_
