// Hash lists as exchanges share them: readers and writers for three formats.
//
//   ParseOptions options;                        // max_rows = 10M, ...
//   ParseResult r = ParseHashList(bytes, HashListFormat::kCsv, options);
//   if (!r.errors.empty()) { for (const LineError& e : r.errors) ... }
//   for (const ParsedEntry& p : r.entries) Submit(p.entry, p.has_quality);
//
//   std::unique_ptr<HashListWriter> w =
//       HashListWriter::New(HashListFormat::kHashmatch, &std::cout);
//   RETURN_IF_ERROR(w->Write(entry));            // per entry
//   RETURN_IF_ERROR(w->Finish());                // lossless: the end line
//
// Formats (docs/ingestion.md, "Import and export", is the user's copy):
//
// kCsv: RFC 4180 CSV, UTF-8, in the style of Meta's HMA / ThreatExchange
//   (signal type + signal value per row). A header row is REQUIRED; column
//   names are matched case-insensitively, in any order:
//     signal_type    required; alias indicator_type. Values (any case): pdq,
//                    phash, dhash, md5, sha256, or the ThreatExchange
//                    indicator types hash_pdq, hash_md5, hash_sha256.
//     signal_value   required; alias indicator. The hash in hex (either
//                    case): PDQ 64 digits, pHash/dHash 16, MD5 32, SHA-256 64.
//     external_id    optional; alias descriptor_id. At most 256 bytes.
//     quality        optional; empty or an integer 0..100.
//     classification optional; alias tags. At most 256 bytes.
//     note           optional; at most 4096 bytes.
//     id, source_agency, state, created_at, updated_at
//                    optional, written by export, IGNORED by the reader (the
//                    importing server assigns them).
//   Any other column is an error. Fields are separated by ',', records end
//   in LF or CRLF; a field in double quotes may hold ',', CR, LF and '""'
//   (one quote). Whitespace is data (not trimmed). A UTF-8 BOM at the start
//   is skipped; empty lines are skipped. The writer quotes a field only when
//   it holds ',', '"', CR or LF, ends records with LF and emits every column
//   above in that order (quality empty when 0 = unknown; times RFC 3339 UTC
//   with microseconds; state lower case: pending, active, ...).
//
// kJsonl: one JSON object per line, same keys and rules as the CSV columns
//   (no aliases): "signal_type" and "signal_value" (strings, required),
//   "external_id", "classification", "note" (strings), "quality" (integer or
//   null); "id" (integer), "source_agency", "state", "created_at",
//   "updated_at" (strings) are written by export and ignored by the reader.
//   Values must be flat (no arrays or objects); a key may appear once; an
//   unknown key is an error. Empty lines are skipped.
//
// kHashmatch: our lossless format: every field of every Entry, bit for bit.
//     hashmatch-entries v1
//     {"id":"1","signal_type":"SIGNAL_TYPE_PDQ","hash":"<base64>",...}
//     ...
//     end <count> <sha256>
//   Line 1 is exactly the header. Each record line is one Entry in
//   protobuf's JSON mapping (proto field names; the reader also takes the
//   lowerCamel names; unknown keys are errors). Lines end in LF. The last
//   line gives the number of records and the lower-case hex SHA-256 of all
//   record lines, each with its "\n", so a truncated or edited file is
//   detected. Nothing may follow it. Tombstones (RETRACTED) are kept.
//
// Validation, all formats: signal type known; hex digits and length per
// signal type; quality 0..100; field sizes above; text valid UTF-8. In
// kCsv/kJsonl a row without external_id gets the DETERMINISTIC id
// "<signal>:<lower-case hex>" (e.g. "pdq:f8f8..."), so re-importing the same
// file names the same entries; two rows with the same external_id (given or
// derived) are a duplicate-key error naming both lines. kHashmatch checks
// states, retractions (set exactly on RETRACTED), duplicate ids and duplicate
// (source_agency, external_id) among entries that are not retracted.
// Every problem is reported as a LineError with its 1-based line number (a
// CSV record's first line), up to ParseOptions::max_errors; `entries` is
// empty whenever there is an error (nothing of a bad file is used).
//
// Thread safety: ParseHashList and the free functions are pure. A
// HashListWriter is not thread-safe; one writer per stream.
#ifndef HASHMATCH_SRC_HASHLIST_HASH_LIST_FORMAT_H_
#define HASHMATCH_SRC_HASHLIST_HASH_LIST_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/entry.pb.h"
#include "proto/hashmatch/v1/ingest.pb.h"

namespace hashmatch {

// Appends `s` to `out` as one RFC 4180 CSV field: as is, or in double quotes
// (inner quotes doubled) when it holds a comma, quote, CR or LF.
void AppendCsvField(absl::string_view s, std::string* out);

enum class HashListFormat { kCsv, kJsonl, kHashmatch };

// "csv", "jsonl", "hashmatch" <-> the enum. INVALID_ARGUMENT on others.
absl::StatusOr<HashListFormat> ParseHashListFormat(absl::string_view name);
absl::string_view HashListFormatName(HashListFormat format);

// Field limits (bytes), as ingest.proto documents them for Submission.
inline constexpr size_t kMaxExternalIdBytes = 256;
inline constexpr size_t kMaxClassificationBytes = 256;
inline constexpr size_t kMaxNoteBytes = 4096;
inline constexpr int kMaxQuality = 100;

struct ParseOptions {
  // More data rows (records) than this is an error and parsing stops.
  // Default: 10,000,000.
  int64_t max_rows = 10'000'000;
  // At most this many errors are kept in ParseResult::errors (all are
  // counted in total_errors). Default: 100.
  size_t max_errors = 100;
};

struct LineError {
  int64_t line = 0;  // 1-based; 0 when the error concerns the whole file.
  std::string message;
};

struct ParsedEntry {
  // kCsv/kJsonl: signal_type, hash (raw bytes), quality, external_id,
  // classification, note are set. kHashmatch: the whole Entry as written.
  hashmatch::v1::Entry entry;
  // The row gave a quality (kCsv/kJsonl; kHashmatch: always true).
  bool has_quality = false;
  // external_id was derived from the hash (kCsv/kJsonl only).
  bool derived_external_id = false;
  int64_t line = 0;
};

struct ParseResult {
  std::vector<ParsedEntry> entries;
  std::vector<LineError> errors;  // In line order, at most max_errors.
  int64_t total_errors = 0;
  int64_t rows = 0;  // Data rows (records) read.
};

// Parses a whole file held in memory (the caller bounds its size).
ParseResult ParseHashList(absl::string_view data, HashListFormat format,
                          const ParseOptions& options);

// "pdq", "phash", "dhash", "md5", "sha256"; "" for others.
absl::string_view SignalTypeShortName(hashmatch::v1::SignalType type);
// The CSV/JSONL signal type names above (and hash_pdq, hash_md5,
// hash_sha256), any case. INVALID_ARGUMENT naming the accepted values.
absl::StatusOr<hashmatch::v1::SignalType> ParseSignalTypeName(
    absl::string_view name);
// "pending", "active", "disputed", "retracted"; INVALID_ARGUMENT on others.
absl::StatusOr<hashmatch::v1::VettingState> ParseStateName(
    absl::string_view name);
absl::string_view StateShortName(hashmatch::v1::VettingState state);

// The external id given to a kCsv/kJsonl row that has none:
// "<signal>:<lower-case hex of hash>".
std::string DerivedExternalId(hashmatch::v1::SignalType type,
                              absl::string_view hash);

// True if `entry` passes every set condition of `filter` (as
// IngestService.ExportEntries applies it; for offline export).
bool EntryMatchesFilter(const hashmatch::v1::EntryFilter& filter,
                        const hashmatch::v1::Entry& entry);

// Writes entries in one format to a stream: the header (kCsv, kHashmatch) at
// New, one record per Write, and for kHashmatch the end line at Finish.
// Errors: INVALID_ARGUMENT for an entry that its format cannot represent
// (kCsv/kJsonl: unknown signal type or wrong hash length), DATA_LOSS when the
// stream fails, FAILED_PRECONDITION after Finish.
class HashListWriter {
 public:
  // `out` must outlive the writer.
  static std::unique_ptr<HashListWriter> New(HashListFormat format,
                                             std::ostream* out);
  virtual ~HashListWriter() = default;
  virtual absl::Status Write(const hashmatch::v1::Entry& entry) = 0;
  // Writes the trailer (kHashmatch) and flushes the stream.
  virtual absl::Status Finish() = 0;
  // Records written so far.
  virtual int64_t count() const = 0;
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHLIST_HASH_LIST_FORMAT_H_
