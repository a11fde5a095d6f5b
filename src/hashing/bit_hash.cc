#include "src/hashing/bit_hash.h"

namespace hashmatch {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> HexToBytes(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex string has odd length ", hex.size()));
  }
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < hex.size(); ++i) {
    int v = HexValue(hex[i]);
    if (v < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid hex character at position ", i, " (byte value ",
          static_cast<int>(static_cast<unsigned char>(hex[i])), ")"));
    }
    out[i / 2] = static_cast<char>((i % 2 == 0) ? v << 4 : out[i / 2] | v);
  }
  return out;
}

std::string BytesToHex(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * bytes.size(), '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const unsigned char b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  return out;
}

}  // namespace hashmatch
