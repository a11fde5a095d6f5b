// Fuzzes the HashStore's key encodings (index/store/store_keys.h): the id
// decoder the store runs on every key and value it reads back, and the
// layouts of hash and external keys, whose prefix scans must not mix rows
// of different hashes or agencies.
//
// Input: raw bytes for DecodeId, and the same bytes cut into a signal type,
// hash, id, agency and external id (two of each, to compare).
//
// Checks: DecodeId accepts exactly 8 bytes and EncodeId inverts it;
// EncodeId's byte order is numeric order; a HashKey starts with its
// HashPrefix and SignalPrefix and ends with EncodeId(id); two different
// (signal, hash) of the store's fixed hash lengths never share a prefix
// scan; ExternalKey is injective (different (agency, external_id) pairs give
// different keys, and the agency is recoverable from the key).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "fuzz/fuzz_util.h"
#include "index/store/hash_store.h"
#include "index/store/store_keys.h"

namespace hashmatch {
namespace {

namespace keys = store_keys;

// Consumes bytes from the front of the input.
class Reader {
 public:
  explicit Reader(absl::string_view s) : s_(s) {}
  uint8_t Byte() {
    if (s_.empty()) return 0;
    const auto b = static_cast<uint8_t>(s_[0]);
    s_.remove_prefix(1);
    return b;
  }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }
  absl::string_view Bytes(size_t n) {
    n = std::min(n, s_.size());
    absl::string_view out = s_.substr(0, n);
    s_.remove_prefix(n);
    return out;
  }

 private:
  absl::string_view s_;
};

void CheckHashKey(int signal, absl::string_view hash, uint64_t id) {
  const std::string key = keys::HashKey(signal, hash, id);
  FUZZ_CHECK(key.size() == 1 + hash.size() + 8);
  FUZZ_CHECK(absl::StartsWith(key, keys::HashPrefix(signal, hash)));
  FUZZ_CHECK(absl::StartsWith(key, keys::SignalPrefix(signal)));
  const std::optional<uint64_t> tail =
      keys::DecodeId(absl::string_view(key).substr(1 + hash.size()));
  FUZZ_CHECK(tail.has_value() && *tail == id);
}

void Run(absl::string_view input) {
  // The decoder on raw bytes.
  const std::optional<uint64_t> v = keys::DecodeId(input);
  FUZZ_CHECK(v.has_value() == (input.size() == 8)) << input.size();
  if (v.has_value()) FUZZ_CHECK(keys::EncodeId(*v) == input);

  Reader r(input);
  const uint64_t a = r.U64(), b = r.U64();
  FUZZ_CHECK(keys::DecodeId(keys::EncodeId(a)) == a);
  FUZZ_CHECK((a < b) == (keys::EncodeId(a) < keys::EncodeId(b)));

  // Hash keys of the store's signal types and hash lengths.
  const int signal = 1 + r.Byte() % 6;
  const size_t len =
      HashLengthForSignal(static_cast<hashmatch::v1::SignalType>(signal));
  FUZZ_CHECK(len == 8 || len == 16 || len == 32) << signal << " " << len;
  std::string h1(r.Bytes(len)), h2(r.Bytes(len));
  h1.resize(len, '\0');
  h2.resize(len, '\0');
  CheckHashKey(signal, h1, a);
  CheckHashKey(signal, h2, b);
  if (h1 != h2) {
    FUZZ_CHECK(!absl::StartsWith(keys::HashKey(signal, h2, b),
                                 keys::HashPrefix(signal, h1)));
  }
  const int other_signal = 1 + (signal % 6);
  FUZZ_CHECK(!absl::StartsWith(keys::HashKey(other_signal, h1, a),
                               keys::SignalPrefix(signal)));

  // External keys.
  const absl::string_view agency1 = r.Bytes(r.Byte() % 32);
  const absl::string_view ext1 = r.Bytes(r.Byte() % 32);
  const absl::string_view agency2 = r.Bytes(r.Byte() % 32);
  const absl::string_view ext2 = r.Bytes(r.Byte() % 32);
  const std::string k1 = keys::ExternalKey(agency1, ext1);
  const std::string k2 = keys::ExternalKey(agency2, ext2);
  FUZZ_CHECK(k1.size() == 4 + agency1.size() + ext1.size());
  const uint64_t n = (uint64_t{static_cast<uint8_t>(k1[0])} << 24) |
                     (uint64_t{static_cast<uint8_t>(k1[1])} << 16) |
                     (uint64_t{static_cast<uint8_t>(k1[2])} << 8) |
                     uint64_t{static_cast<uint8_t>(k1[3])};
  FUZZ_CHECK(n == agency1.size());
  FUZZ_CHECK(absl::string_view(k1).substr(4, n) == agency1);
  FUZZ_CHECK(absl::string_view(k1).substr(4 + n) == ext1);
  FUZZ_CHECK((k1 == k2) == (agency1 == agency2 && ext1 == ext2))
      << "external keys collide";
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
