// Index snapshot files: the live entries of one BinaryIndex (ids and codes)
// and the store change sequence they reflect, so VettedIndex::Open can load
// them instead of scanning the store. FAISS's write_index_binary cannot
// serialise MihIndex (a subclass it does not know), hence this small format.
//
//   ASSIGN_OR_RETURN(LoadedIndexSnapshot snap, ReadIndexSnapshot(path));
//   RETURN_IF_ERROR(index->Load(std::move(snap.ids), std::move(snap.words)));
//
// Format, version 1, all integers little-endian:
//   offset  0  magic "HMBINIDX" (8 bytes)
//           8  u32 format version (kIndexSnapshotVersion)
//          12  u32 signal type (hashmatch.v1.SignalType)
//          16  u32 code bits (64 or 256, as the signal type requires)
//          20  u32 flags, 0
//          24  u64 count of entries
//          32  u64 store change sequence reflected
//          40  u32 CRC32C of the payload
//          44  u32 CRC32C of bytes 0..43
//          48  payload: count records of (u64 id, code_bits / 8 code bytes)
// The file size must be exactly 48 + count * (8 + code_bits / 8). Writers
// store entries in increasing id order (BinaryIndex::View::ForEach), so a
// load skips sorting; readers accept any order.
//
// Errors from ReadIndexSnapshot: NOT_FOUND for a missing file; DATA_LOSS for
// anything malformed (short or long file, bad magic, checksum mismatch, code
// bits that do not fit the signal type); FAILED_PRECONDITION for a newer
// format version. It never trusts the header before checking it, so a
// corrupt file cannot make it allocate more than the file's size.
//
// Thread safety: the functions are thread-compatible; concurrent writers of
// one path must be serialised by the caller.
#ifndef HASHMATCH_INDEX_VETTED_INDEX_SNAPSHOT_H_
#define HASHMATCH_INDEX_VETTED_INDEX_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/search/binary_index.h"
#include "proto/hashmatch/v1/entry.pb.h"

namespace hashmatch {

inline constexpr uint32_t kIndexSnapshotVersion = 1;
inline constexpr size_t kIndexSnapshotHeaderBytes = 48;

struct IndexSnapshotHeader {
  uint32_t version = kIndexSnapshotVersion;
  hashmatch::v1::SignalType signal_type =
      hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED;
  int code_bits = 0;
  uint64_t count = 0;
  uint64_t sequence = 0;
};

struct LoadedIndexSnapshot {
  IndexSnapshotHeader header;
  std::vector<uint64_t> ids;  // header.count ids, in file order.
  // header.count codes of code_bits / 64 words each, concatenated; each
  // code's bytes in memory order (as BinaryIndex::Load takes them).
  std::vector<uint64_t> words;
};

// Writes the entries of `view` to `path` as a snapshot of `signal_type` at
// store sequence `sequence`: to `path`.tmp, fsynced, renamed over `path`,
// then the directory fsynced. A crash leaves the old file or the new one.
// The file is 0600 whatever the umask (it is the hash list).
// INVALID_ARGUMENT if view.code_bits() does not fit `signal_type`.
absl::Status WriteIndexSnapshot(const std::string& path,
                                hashmatch::v1::SignalType signal_type,
                                uint64_t sequence,
                                const BinaryIndex::View& view);

// Reads and checks a snapshot file (see the errors above).
absl::StatusOr<LoadedIndexSnapshot> ReadIndexSnapshot(const std::string& path);

// CRC32C (Castagnoli) of `n` bytes, continuing from `crc` (0 to start).
// Crc32c(0, "123456789", 9) == 0xE3069283.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_VETTED_INDEX_SNAPSHOT_H_
