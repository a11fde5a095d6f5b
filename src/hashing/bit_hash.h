// Fixed-size binary hashes (PDQ 256-bit, pHash/dHash 64-bit) and their
// Hamming distance.
//
//   ASSIGN_OR_RETURN(Hash256 a, Hash256::FromHex(hex_a));
//   int d = HammingDistance(a, b);   // 0..256
//
// Storage is the hash as one big-endian integer: bytes()[0] holds bits
// kBits-1..kBits-8 and bytes()[kBytes-1] holds bits 7..0. Bit k is the k-th
// bit that the hash algorithm sets (for PDQ, k = 16 * row + column of the DCT
// coefficient), so ToHex() prints the same string as the PDQ reference, which
// prints its sixteen 16-bit words from the highest down.
//
// Thread safety: a value type; const methods are safe to call concurrently.
#ifndef HASHMATCH_SRC_HASHING_BIT_HASH_H_
#define HASHMATCH_SRC_HASHING_BIT_HASH_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

template <size_t kBits>
class BitHash {
 public:
  static_assert(kBits % 64 == 0, "hash sizes are whole 64-bit words");
  static constexpr size_t kNumBits = kBits;
  static constexpr size_t kNumBytes = kBits / 8;

  BitHash() { bytes_.fill(0); }

  // Parses exactly kBits/4 hex digits (either case). INVALID_ARGUMENT names
  // the problem: wrong length or the first non-hex character.
  static absl::StatusOr<BitHash> FromHex(absl::string_view hex);

  std::string ToHex() const;

  bool GetBit(size_t k) const {
    return (bytes_[kNumBytes - 1 - k / 8] >> (k % 8)) & 1;
  }
  void SetBit(size_t k) {
    bytes_[kNumBytes - 1 - k / 8] |= static_cast<uint8_t>(1u << (k % 8));
  }
  int PopCount() const;
  bool IsZero() const { return PopCount() == 0; }

  const std::array<uint8_t, kNumBytes>& bytes() const { return bytes_; }
  std::array<uint8_t, kNumBytes>& mutable_bytes() { return bytes_; }

  friend bool operator==(const BitHash& a, const BitHash& b) = default;

 private:
  std::array<uint8_t, kNumBytes> bytes_;
};

using Hash256 = BitHash<256>;
using Hash64 = BitHash<64>;

// Number of differing bits.
template <size_t kBits>
int HammingDistance(const BitHash<kBits>& a, const BitHash<kBits>& b) {
  int d = 0;
  for (size_t i = 0; i < kBits / 64; ++i) {
    uint64_t x, y;
    std::memcpy(&x, a.bytes().data() + 8 * i, 8);
    std::memcpy(&y, b.bytes().data() + 8 * i, 8);
    d += std::popcount(x ^ y);
  }
  return d;
}

// Decodes `hex` (even length, either case) into bytes. INVALID_ARGUMENT on
// odd length or a non-hex character (its position is in the message).
absl::StatusOr<std::string> HexToBytes(absl::string_view hex);
std::string BytesToHex(absl::string_view bytes);

// ---- implementation ----

template <size_t kBits>
absl::StatusOr<BitHash<kBits>> BitHash<kBits>::FromHex(absl::string_view hex) {
  if (hex.size() != 2 * kNumBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kBits, "-bit hash needs ", 2 * kNumBytes,
                     " hex digits, got ", hex.size()));
  }
  auto bytes = HexToBytes(hex);
  if (!bytes.ok()) return bytes.status();
  BitHash h;
  std::memcpy(h.bytes_.data(), bytes->data(), kNumBytes);
  return h;
}

template <size_t kBits>
std::string BitHash<kBits>::ToHex() const {
  return BytesToHex(absl::string_view(
      reinterpret_cast<const char*>(bytes_.data()), kNumBytes));
}

template <size_t kBits>
int BitHash<kBits>::PopCount() const {
  int n = 0;
  for (uint8_t b : bytes_) n += std::popcount(b);
  return n;
}

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_BIT_HASH_H_
