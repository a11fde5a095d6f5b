// The PDQ golden vectors in tests/data/pdq_reference_hashes.tsv, for the
// cross-library and end-to-end tests (test-only).
//
//   std::vector<ReferenceRow> rows = LoadReferenceRows();
//   for (const ReferenceRow& row : rows) {
//     std::optional<std::string> bytes = ReadInstalledFile(row);
//     if (!bytes.has_value()) continue;  // Not installed, or another version.
//     ...
//   }
//
// Columns: path, debian_package, format, width, height, bytes, md5, pdq_full,
// quality_full, pdq_cli512, quality_cli512. pdq_full is empty for WebP rows.
// HASHMATCH_TEST_DATA_DIR is set by tests/CMakeLists.txt.
#ifndef HASHMATCH_TESTS_REFERENCE_ROWS_H_
#define HASHMATCH_TESTS_REFERENCE_ROWS_H_

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace testing_util {

struct ReferenceRow {
  std::string path;
  std::string package;
  std::string format;  // "JPEG", "PNG" or "WEBP".
  int width = 0;
  int height = 0;
  std::string md5;
  std::string pdq_full;  // Empty when the reference could not decode it.
  int quality_full = 0;
  std::string pdq_cli512;
  int quality_cli512 = 0;
};

// The whole file, or nullopt if it cannot be read.
inline std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string ReferenceTsvPath() {
  return std::string(HASHMATCH_TEST_DATA_DIR) + "/pdq_reference_hashes.tsv";
}

// All rows of the TSV; fails the current test on a malformed file.
inline std::vector<ReferenceRow> LoadReferenceRows() {
  std::vector<ReferenceRow> rows;
  std::optional<std::string> text = ReadWholeFile(ReferenceTsvPath());
  if (!text.has_value()) {
    ADD_FAILURE() << "cannot read " << ReferenceTsvPath();
    return rows;
  }
  bool header = true;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line.empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() != 11) {
      ADD_FAILURE() << "malformed TSV line: " << line;
      continue;
    }
    ReferenceRow r;
    r.path = f[0];
    r.package = f[1];
    r.format = f[2];
    r.md5 = f[6];
    r.pdq_full = f[7];
    r.pdq_cli512 = f[9];
    bool ok = absl::SimpleAtoi(f[3], &r.width) &&
              absl::SimpleAtoi(f[4], &r.height) &&
              absl::SimpleAtoi(f[10], &r.quality_cli512) &&
              (r.pdq_full.empty() || absl::SimpleAtoi(f[8], &r.quality_full));
    if (!ok) {
      ADD_FAILURE() << "malformed numbers in TSV line: " << line;
      continue;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

// The row's file if it is installed and has the row's MD5 (the same package
// version the vectors were made from); nullopt otherwise.
inline std::optional<std::string> ReadInstalledFile(const ReferenceRow& row) {
  std::optional<std::string> bytes = ReadWholeFile(row.path);
  if (!bytes.has_value() || Md5Hex(*bytes) != row.md5) return std::nullopt;
  return bytes;
}

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_REFERENCE_ROWS_H_
