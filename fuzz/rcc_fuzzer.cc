// Fuzzes RccArchive (src/eval/rcc_archive.h), the strict reader of Qt
// resource archives that the accuracy corpus unpacks, with small limits:
// 4 MiB archives, 4096 nodes, depth 16, 1 MiB per file, 8 MiB extracted.
//
// Checks: errors are INVALID_ARGUMENT, DATA_LOSS or RESOURCE_EXHAUSTED; an
// opened archive has version 1..3, files sorted by path, each path absolute
// with no empty, "." or ".." component and valid UTF-8, and its stored bytes
// inside the archive; Extract of every file returns at most max_file_bytes
// (or a documented error), the same bytes by path as by the first file of
// that path, and the extracted total never exceeds max_total_bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "fuzz/fuzz_util.h"
#include "src/eval/rcc_archive.h"

namespace hashmatch {
namespace {

void CheckError(const absl::Status& s) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument ||
             s.code() == absl::StatusCode::kDataLoss ||
             s.code() == absl::StatusCode::kResourceExhausted)
      << s;
  FUZZ_CHECK(!s.message().empty());
}

void Run(absl::string_view bytes) {
  eval::RccOptions options;
  options.max_archive_bytes = 4 << 20;
  options.max_nodes = 4096;
  options.max_depth = 16;
  options.max_file_bytes = 1 << 20;
  options.max_total_bytes = 8 << 20;
  // Half the inputs skip the name-hash checks, which the fuzzer can rarely
  // satisfy, so that the deeper checks and Extract are reached.
  options.check_name_hashes = bytes.size() % 2 == 0;
  absl::StatusOr<eval::RccArchive> archive =
      eval::RccArchive::Open(std::string(bytes), options);
  if (!archive.ok()) {
    CheckError(archive.status());
    return;
  }
  FUZZ_CHECK(archive->version() >= 1 && archive->version() <= 3)
      << archive->version();
  const std::vector<eval::RccFile>& files = archive->files();
  for (size_t i = 0; i < files.size(); ++i) {
    const eval::RccFile& f = files[i];
    if (i > 0) FUZZ_CHECK(files[i - 1].path <= f.path);
    FUZZ_CHECK(f.path.size() > 1 && f.path[0] == '/') << f.path;
    FUZZ_CHECK(fuzz::ValidUtf8(f.path)) << f.path;
    for (absl::string_view part :
         absl::StrSplit(absl::string_view(f.path).substr(1), '/')) {
      FUZZ_CHECK(!part.empty() && part != "." && part != "..") << f.path;
    }
    FUZZ_CHECK(uint64_t{f.stored_offset} + f.stored_size <= bytes.size())
        << f.stored_offset << "+" << f.stored_size << " > " << bytes.size();
    FUZZ_CHECK(f.stored_size <= options.max_file_bytes);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const eval::RccFile& f = files[i];
    absl::StatusOr<std::string> out = archive->Extract(f);
    if (!out.ok()) {
      CheckError(out.status());
    } else {
      FUZZ_CHECK(static_cast<int64_t>(out->size()) <= options.max_file_bytes)
          << out->size();
      if (f.compression == eval::RccCompression::kNone) {
        FUZZ_CHECK(*out == bytes.substr(f.stored_offset, f.stored_size));
      }
      // By path: the first file with that path.
      if (i == 0 || files[i - 1].path != f.path) {
        absl::StatusOr<std::string> by_path = archive->Extract(f.path);
        if (by_path.ok()) FUZZ_CHECK(*by_path == *out) << f.path;
      }
    }
    FUZZ_CHECK(archive->extracted_bytes() <= options.max_total_bytes)
        << archive->extracted_bytes();
  }
  absl::StatusOr<std::string> missing = archive->Extract("/no/such/file");
  FUZZ_CHECK(!missing.ok());
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
