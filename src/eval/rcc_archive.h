// A strict reader of Qt binary resource files (.rcc, as `rcc --binary`
// writes them), so that the accuracy corpus can use photos that Debian
// packages ship only inside such archives (gcompris-qt-data).
//
//   ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, 256 << 20));
//   ASSIGN_OR_RETURN(RccArchive archive, RccArchive::Open(std::move(bytes)));
//   for (const RccFile& f : archive.files()) { ... f.path ... }
//   ASSIGN_OR_RETURN(std::string jpeg, archive.Extract("/a/b/photo.jpg"));
//
// Format (every integer big-endian):
//   header: "qres", u32 version (1..3), u32 tree offset, u32 data offset,
//           u32 names offset, and for version 3 a u32 of overall flags
//           (the compressions used: 1 zlib, 4 zstd).
//   tree:   node i at tree offset + i * node size; 14 bytes in version 1,
//           22 from version 2 (with a u64 last-modified time in ms).
//           u32 name offset, u16 flags (1 Compressed, 2 Directory,
//           4 CompressedZstd), then for a directory u32 child count and u32
//           index of the first child (children are consecutive nodes, sorted
//           by name hash), for a file u16 country, u16 language and u32 data
//           offset. Node 0 is the root directory (its name is not read).
//   names:  at names offset + name offset: u16 length in UTF-16 units, u32
//           hash (Qt's qt_hash of the name), the name in UTF-16BE.
//   data:   at data offset + data offset: u32 stored length, the stored
//           bytes. Compressed (zlib): qCompress's format, a u32 uncompressed
//           length then a zlib stream; CompressedZstd: one zstd frame.
//
// Open walks and checks the whole tree: every offset and count against the
// buffer, every node reached once, names (valid UTF-16, no '/', '.', '..',
// matching hashes, children sorted by hash), flags (no unknown bit, no
// compressed directory, a file's compression among the version 3 overall
// flags) and every file's stored length. Extract decompresses and checks the
// declared sizes and that the stream ends exactly at the stored length.
//
// Errors: INVALID_ARGUMENT when the bytes are not an rcc of a supported
// version ("not a Qt resource file", "unsupported rcc format version N");
// DATA_LOSS naming the node or file and what is wrong for a damaged one;
// RESOURCE_EXHAUSTED over a limit of RccOptions; NOT_FOUND from Extract for a
// path that is not a file of the archive. Never crashes on any input.
//
// Thread safety: const methods may be called concurrently; Extract counts
// the bytes it returns against RccOptions::max_total_bytes and needs
// external synchronisation.
#ifndef HASHMATCH_SRC_EVAL_RCC_ARCHIVE_H_
#define HASHMATCH_SRC_EVAL_RCC_ARCHIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace eval {

struct RccOptions {
  // Open refuses a larger archive. Default 256 MiB (GCompris's largest is
  // 4.5 MiB).
  int64_t max_archive_bytes = int64_t{256} << 20;
  // Tree nodes (directories and files, the root included). Default 1 << 20.
  int64_t max_nodes = int64_t{1} << 20;
  // Directory levels below the root. Default 64.
  int max_depth = 64;
  // Largest stored and largest uncompressed size of one file. Default
  // 64 MiB.
  int64_t max_file_bytes = int64_t{64} << 20;
  // Bytes that Extract may return over the archive's life. Default 1 GiB.
  int64_t max_total_bytes = int64_t{1} << 30;
  // Check each name's stored qt_hash and that a directory's children are
  // sorted by it (Qt's own lookup relies on both). Default true.
  bool check_name_hashes = true;
};

enum class RccCompression { kNone, kZlib, kZstd };

struct RccFile {
  std::string path;  // UTF-8, "/dir/sub/name.ext".
  uint16_t country = 0;
  uint16_t language = 0;
  RccCompression compression = RccCompression::kNone;
  uint32_t stored_offset = 0;  // Of the stored bytes in the archive.
  uint32_t stored_size = 0;
  uint64_t last_modified_ms = 0;  // 0 in version 1.
};

// Qt's qt_hash of a name given as UTF-16 code units.
uint32_t RccNameHash(const std::u16string& name);

class RccArchive {
 public:
  // Takes ownership of the archive's bytes and checks them (see above).
  static absl::StatusOr<RccArchive> Open(std::string bytes,
                                         const RccOptions& options = {});

  RccArchive(RccArchive&&) = default;
  RccArchive& operator=(RccArchive&&) = default;

  int version() const { return version_; }
  uint32_t overall_flags() const { return overall_flags_; }
  // Every file (not directory), sorted by path (several files may share a
  // path under different country/language).
  const std::vector<RccFile>& files() const { return files_; }

  // The file's bytes, decompressed. By path: the first file of files() with
  // that path. `file` must come from this archive's files().
  absl::StatusOr<std::string> Extract(absl::string_view path);
  absl::StatusOr<std::string> Extract(const RccFile& file);
  int64_t extracted_bytes() const { return extracted_bytes_; }

 private:
  RccArchive() = default;

  std::string bytes_;
  RccOptions options_;
  int version_ = 0;
  uint32_t overall_flags_ = 0;
  std::vector<RccFile> files_;
  int64_t extracted_bytes_ = 0;
};

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_RCC_ARCHIVE_H_
