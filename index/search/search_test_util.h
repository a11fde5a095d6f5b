// Code generators for the search tests: random codes, near-duplicate
// clusters and codes at an exact distance.
#ifndef HASHMATCH_INDEX_SEARCH_SEARCH_TEST_UTIL_H_
#define HASHMATCH_INDEX_SEARCH_SEARCH_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace hashmatch::testing {

using Code = std::vector<uint8_t>;

inline Code RandomCode(std::mt19937_64& rng, int bits) {
  Code c(bits / 8);
  for (auto& b : c) b = static_cast<uint8_t>(rng());
  return c;
}

// `code` with exactly `n` distinct bits flipped.
inline Code FlipBits(const Code& code, int n, std::mt19937_64& rng) {
  std::vector<int> pos(code.size() * 8);
  std::iota(pos.begin(), pos.end(), 0);
  std::shuffle(pos.begin(), pos.end(), rng);
  Code out = code;
  for (int i = 0; i < n; ++i) out[pos[i] / 8] ^= uint8_t(1u << (pos[i] % 8));
  return out;
}

inline int CodeDistance(const Code& a, const Code& b) {
  int d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  }
  return d;
}

// `count` codes: clusters of `per_cluster` codes, each a centre with 0..
// max_flips random bits flipped (the first copy is the centre itself).
inline std::vector<Code> ClusteredCodes(std::mt19937_64& rng, int bits,
                                        size_t count, size_t per_cluster,
                                        int max_flips) {
  std::vector<Code> out;
  out.reserve(count);
  Code centre;
  for (size_t i = 0; i < count; ++i) {
    if (i % per_cluster == 0) {
      centre = RandomCode(rng, bits);
      out.push_back(centre);
    } else {
      out.push_back(
          FlipBits(centre, static_cast<int>(rng() % (max_flips + 1)), rng));
    }
  }
  return out;
}

}  // namespace hashmatch::testing

#endif  // HASHMATCH_INDEX_SEARCH_SEARCH_TEST_UTIL_H_
