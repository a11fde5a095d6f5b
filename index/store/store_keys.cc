#include "index/store/store_keys.h"

namespace hashmatch {
namespace store_keys {

std::string EncodeId(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::optional<uint64_t> DecodeId(absl::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

std::string SignalPrefix(int signal_type) {
  return std::string(1, static_cast<char>(signal_type));
}

std::string HashPrefix(int signal_type, absl::string_view hash) {
  std::string out = SignalPrefix(signal_type);
  out.append(hash.data(), hash.size());
  return out;
}

std::string HashKey(int signal_type, absl::string_view hash, uint64_t id) {
  return HashPrefix(signal_type, hash) + EncodeId(id);
}

std::string ExternalKey(absl::string_view agency,
                        absl::string_view external_id) {
  std::string out;
  uint32_t n = static_cast<uint32_t>(agency.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(agency.data(), agency.size());
  out.append(external_id.data(), external_id.size());
  return out;
}

}  // namespace store_keys
}  // namespace hashmatch
