// Result types of the binary search indexes (flat_scan.h, mih_index.h,
// binary_index.h), and the Hamming helpers they share.
//
//   std::vector<Match> m = ...;
//   std::sort(m.begin(), m.end());   // by distance, then id
//
// Codes are passed as raw bytes (code_bits / 8 of them) and held internally as
// little-endian-loaded 64-bit words; Hamming distance does not depend on the
// byte order, so any consistent load works.
//
// Thread safety: value types and pure functions.
#ifndef HASHMATCH_INDEX_SEARCH_MATCH_H_
#define HASHMATCH_INDEX_SEARCH_MATCH_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hashmatch {

struct Match {
  uint64_t id = 0;
  int distance = 0;

  friend bool operator==(const Match&, const Match&) = default;
  friend bool operator<(const Match& a, const Match& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
  }
};

// A match of one of several query variants (e.g. the 8 PDQ dihedral hashes):
// `variant` is the index of the query it matched most closely (the lowest
// index among equally close ones).
struct DihedralMatch {
  uint64_t id = 0;
  int distance = 0;
  int variant = 0;

  friend bool operator==(const DihedralMatch&, const DihedralMatch&) = default;
  friend bool operator<(const DihedralMatch& a, const DihedralMatch& b) {
    if (a.distance != b.distance) return a.distance < b.distance;
    return a.id < b.id;
  }
};

namespace search_internal {

// Loads `words` 64-bit words from `bytes`.
inline void LoadWords(const uint8_t* bytes, int words, uint64_t* out) {
  std::memcpy(out, bytes, static_cast<size_t>(words) * 8);
}

template <int kWords>
inline int Distance(const uint64_t* a, const uint64_t* b) {
  int d = 0;
  for (int i = 0; i < kWords; ++i) d += std::popcount(a[i] ^ b[i]);
  return d;
}

inline int Distance(const uint64_t* a, const uint64_t* b, int words) {
  if (words == 4) return Distance<4>(a, b);
  if (words == 1) return Distance<1>(a, b);
  int d = 0;
  for (int i = 0; i < words; ++i) d += std::popcount(a[i] ^ b[i]);
  return d;
}

// The j-th 16-bit chunk of a code held as words.
inline uint16_t Chunk(const uint64_t* words, int j) {
  return static_cast<uint16_t>(words[j >> 2] >> ((j & 3) * 16));
}

}  // namespace search_internal
}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_SEARCH_MATCH_H_
