// The checks shared by the hash-list fuzz targets (hashlist_csv_fuzzer.cc,
// hashlist_jsonl_fuzzer.cc, hashlist_lossless_fuzzer.cc), one per format of
// src/hashlist/hash_list_format.h.
//
//   hashmatch::fuzz::CheckHashList(data, HashListFormat::kCsv);
//
// For every input, with max_rows 1000 and max_errors 10:
//   - the result is consistent: at most max_errors errors kept, in line
//     order, total_errors counting them, no entry kept when there is an
//     error, no more entries than rows;
//   - every entry obeys the format's validation (signal type and hash
//     length, quality 0..100, field sizes, UTF-8, unique external ids or,
//     lossless, unique ids, states and retractions);
//   - round trips: the entries written by HashListWriter in the same format
//     parse back without error to the same entries, and writing those again
//     gives the same bytes; CSV and JSON lines entries also survive the other
//     of the two formats.
#ifndef HASHMATCH_FUZZ_HASHLIST_FUZZ_H_
#define HASHMATCH_FUZZ_HASHLIST_FUZZ_H_

#include <cstdint>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "src/hashlist/hash_list_format.h"

namespace hashmatch {
namespace fuzz {

inline ParseOptions HashListLimits() {
  ParseOptions o;
  o.max_rows = 1000;
  o.max_errors = 10;
  return o;
}

inline size_t ExpectedHashBytes(hashmatch::v1::SignalType type) {
  switch (type) {
    case hashmatch::v1::SIGNAL_TYPE_PDQ:
    case hashmatch::v1::SIGNAL_TYPE_SHA256:
      return 32;
    case hashmatch::v1::SIGNAL_TYPE_PHASH:
    case hashmatch::v1::SIGNAL_TYPE_DHASH:
      return 8;
    case hashmatch::v1::SIGNAL_TYPE_MD5:
      return 16;
    default:
      return 0;
  }
}

inline void CheckResultShape(const ParseResult& r, const ParseOptions& o) {
  FUZZ_CHECK(r.errors.size() <= o.max_errors) << r.errors.size();
  FUZZ_CHECK(r.total_errors >= static_cast<int64_t>(r.errors.size()));
  FUZZ_CHECK((r.total_errors > 0) == !r.errors.empty()) << r.total_errors;
  if (r.total_errors > 0) FUZZ_CHECK(r.entries.empty());
  FUZZ_CHECK(static_cast<int64_t>(r.entries.size()) <= r.rows)
      << r.entries.size() << " entries from " << r.rows << " rows";
  FUZZ_CHECK(r.rows <= o.max_rows + 1) << r.rows;
  for (size_t i = 0; i < r.errors.size(); ++i) {
    FUZZ_CHECK(r.errors[i].line >= 0);
    FUZZ_CHECK(!r.errors[i].message.empty());
    if (i > 0) FUZZ_CHECK(r.errors[i - 1].line <= r.errors[i].line);
  }
}

inline void CheckEntries(const ParseResult& r, HashListFormat format) {
  std::set<std::string> external_ids;
  std::set<uint64_t> ids;
  int64_t last_line = 0;
  for (const ParsedEntry& p : r.entries) {
    const hashmatch::v1::Entry& e = p.entry;
    FUZZ_CHECK(p.line > last_line) << p.line << " after " << last_line;
    last_line = p.line;
    const size_t want = ExpectedHashBytes(e.signal_type());
    FUZZ_CHECK(want != 0) << "signal type " << e.signal_type();
    FUZZ_CHECK(e.hash().size() == want) << e.hash().size();
    FUZZ_CHECK(e.quality() >= 0 && e.quality() <= 100) << e.quality();
    FUZZ_CHECK(e.external_id().size() <= kMaxExternalIdBytes);
    FUZZ_CHECK(e.classification().size() <= kMaxClassificationBytes);
    FUZZ_CHECK(e.note().size() <= kMaxNoteBytes);
    FUZZ_CHECK(ValidUtf8(e.external_id()) && ValidUtf8(e.classification()) &&
               ValidUtf8(e.note()));
    if (format == HashListFormat::kHashmatch) {
      FUZZ_CHECK(p.has_quality && !p.derived_external_id);
      FUZZ_CHECK(e.id() != 0);
      FUZZ_CHECK(ids.insert(e.id()).second) << "duplicate id " << e.id();
      FUZZ_CHECK(e.state() >= hashmatch::v1::VETTING_STATE_PENDING &&
                 e.state() <= hashmatch::v1::VETTING_STATE_RETRACTED)
          << e.state();
      FUZZ_CHECK((e.state() == hashmatch::v1::VETTING_STATE_RETRACTED) ==
                 e.has_retraction());
    } else {
      FUZZ_CHECK(e.id() == 0 && e.source_agency().empty() &&
                 e.state() == hashmatch::v1::VETTING_STATE_UNSPECIFIED);
      FUZZ_CHECK(!e.external_id().empty());
      FUZZ_CHECK(external_ids.insert(e.external_id()).second)
          << "duplicate external_id " << e.external_id();
      if (p.derived_external_id) {
        FUZZ_CHECK(e.external_id() ==
                   DerivedExternalId(e.signal_type(), e.hash()))
            << e.external_id();
      }
      if (!p.has_quality) FUZZ_CHECK(e.quality() == 0);
    }
  }
}

inline std::string Write(const std::vector<ParsedEntry>& entries,
                         HashListFormat format) {
  std::ostringstream out;
  std::unique_ptr<HashListWriter> w = HashListWriter::New(format, &out);
  for (const ParsedEntry& p : entries) {
    const absl::Status s = w->Write(p.entry);
    FUZZ_CHECK(s.ok()) << "a parsed entry cannot be written: " << s;
  }
  const absl::Status s = w->Finish();
  FUZZ_CHECK(s.ok()) << s;
  FUZZ_CHECK(w->count() == static_cast<int64_t>(entries.size()));
  return out.str();
}

// Deterministic wire bytes of `e`.
inline std::string Serialized(const hashmatch::v1::Entry& e) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  return out;
}

// The fields a kCsv/kJsonl file carries.
inline bool SameListFields(const hashmatch::v1::Entry& a,
                           const hashmatch::v1::Entry& b) {
  return a.signal_type() == b.signal_type() && a.hash() == b.hash() &&
         a.quality() == b.quality() && a.external_id() == b.external_id() &&
         a.classification() == b.classification() && a.note() == b.note();
}

// Writes `r.entries` in `to` and checks that they read back the same.
inline void CheckRoundTrip(const ParseResult& r, HashListFormat from,
                           HashListFormat to) {
  const ParseOptions limits = HashListLimits();
  const std::string written = Write(r.entries, to);
  const ParseResult again = ParseHashList(written, to, limits);
  FUZZ_CHECK(again.total_errors == 0)
      << HashListFormatName(from) << " -> " << HashListFormatName(to)
      << ": the written list does not parse: line " << again.errors[0].line
      << ": " << again.errors[0].message;
  FUZZ_CHECK(again.entries.size() == r.entries.size())
      << again.entries.size() << " vs " << r.entries.size();
  for (size_t i = 0; i < r.entries.size(); ++i) {
    const hashmatch::v1::Entry& a = r.entries[i].entry;
    const hashmatch::v1::Entry& b = again.entries[i].entry;
    if (to == HashListFormat::kHashmatch) {
      // Bit for bit, as the format promises (NaN included).
      FUZZ_CHECK(Serialized(a) == Serialized(b))
          << "entry " << i << " differs after the round trip:\n"
          << a.DebugString() << "vs\n"
          << b.DebugString();
    } else {
      FUZZ_CHECK(SameListFields(a, b))
          << HashListFormatName(from) << " -> " << HashListFormatName(to)
          << ": entry " << i << " differs after the round trip:\n"
          << a.DebugString() << "vs\n"
          << b.DebugString();
    }
  }
  FUZZ_CHECK(Write(again.entries, to) == written)
      << "writing the re-read entries gives other bytes";
}

inline void CheckHashList(absl::string_view data, HashListFormat format) {
  const ParseOptions limits = HashListLimits();
  const ParseResult r = ParseHashList(data, format, limits);
  CheckResultShape(r, limits);
  CheckEntries(r, format);
  if (r.total_errors > 0 || r.entries.empty()) return;
  CheckRoundTrip(r, format, format);
  if (format == HashListFormat::kCsv) {
    CheckRoundTrip(r, format, HashListFormat::kJsonl);
  } else if (format == HashListFormat::kJsonl) {
    CheckRoundTrip(r, format, HashListFormat::kCsv);
  }
}

}  // namespace fuzz
}  // namespace hashmatch

#endif  // HASHMATCH_FUZZ_HASHLIST_FUZZ_H_
