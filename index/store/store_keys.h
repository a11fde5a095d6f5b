// On-disk layout of the HashStore: column family names and key/value
// encodings. Internal to index/store; tests use it to inspect or damage a
// store directly.
//
//   entries   EncodeId(id)                                 -> Entry bytes
//   hashes    HashKey(signal, hash, id)                    -> 1 byte state
//   external  ExternalKey(agency, external_id)             -> EncodeId(id)
//   changes   EncodeId(sequence)                           -> Change bytes
//   meta      kMetaSchemaVersion / kMetaNextId / kMetaLastSequence
//                                                          -> EncodeId(value)
//
// Integers are 8 bytes big-endian so that byte order is numeric order. A hash
// key is (1 byte signal type, the hash bytes, 8 bytes id): a prefix scan on
// (signal, hash) yields the ids of every non-retracted entry with that hash.
//
// Thread safety: pure functions.
#ifndef HASHMATCH_INDEX_STORE_STORE_KEYS_H_
#define HASHMATCH_INDEX_STORE_STORE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace hashmatch {
namespace store_keys {

inline constexpr char kEntriesCf[] = "entries";
inline constexpr char kHashesCf[] = "hashes";
inline constexpr char kExternalCf[] = "external";
inline constexpr char kChangesCf[] = "changes";
inline constexpr char kMetaCf[] = "meta";

inline constexpr char kMetaSchemaVersion[] = "schema_version";
inline constexpr char kMetaNextId[] = "next_id";
inline constexpr char kMetaLastSequence[] = "last_sequence";

// 8 bytes big-endian.
std::string EncodeId(uint64_t v);
// nullopt unless `bytes` is exactly 8 bytes.
std::optional<uint64_t> DecodeId(absl::string_view bytes);

// (signal, hash): the prefix shared by every row of one hash.
std::string HashPrefix(int signal_type, absl::string_view hash);
// (signal): the prefix shared by every row of one signal type.
std::string SignalPrefix(int signal_type);
std::string HashKey(int signal_type, absl::string_view hash, uint64_t id);

// 4 bytes big-endian length of `agency`, `agency`, `external_id`.
std::string ExternalKey(absl::string_view agency,
                        absl::string_view external_id);

}  // namespace store_keys
}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_STORE_STORE_KEYS_H_
