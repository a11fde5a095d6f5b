// Test helpers: read and rewrite an audit log file record by record, as an
// attacker with write access to DATA/audit would.
//
//   std::vector<v1::AuditRecord> records = ReadLogRecords(path);
//   records[4].set_actor("mallory");
//   WriteLogRecords(path, records);
//
// Thread safety: none needed (tests).
#ifndef HASHMATCH_SRC_AUDIT_AUDIT_TEST_UTIL_H_
#define HASHMATCH_SRC_AUDIT_AUDIT_TEST_UTIL_H_

#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/hashmatch/v1/ingest.pb.h"
#include "src/audit/audit_log.h"

namespace hashmatch {
namespace audit {
namespace testing {

inline std::string LogPath(const std::string& dir) {
  return absl::StrCat(dir, "/", kAuditFileName);
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Every complete frame's record (stops at the first incomplete frame).
inline std::vector<hashmatch::v1::AuditRecord> ReadLogRecords(
    const std::string& path) {
  const std::string bytes = ReadBytes(path);
  std::vector<hashmatch::v1::AuditRecord> records;
  size_t at = 8;
  while (at + 8 <= bytes.size()) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i]))
           << (8 * i);
    }
    if (at + 8 + n > bytes.size()) break;
    records.emplace_back().ParseFromString(bytes.substr(at + 8, n));
    at += 8 + n;
  }
  return records;
}

inline std::string Frame(const hashmatch::v1::AuditRecord& record) {
  const std::string payload = record.SerializeAsString();
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out;
  for (uint32_t v : {n, ~n}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  }
  return out + payload;
}

inline void WriteLogRecords(
    const std::string& path,
    const std::vector<hashmatch::v1::AuditRecord>& records) {
  std::string bytes = "HMAUDIT1";
  for (const auto& r : records) bytes += Frame(r);
  WriteBytes(path, bytes);
}

}  // namespace testing
}  // namespace audit
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_AUDIT_AUDIT_TEST_UTIL_H_
