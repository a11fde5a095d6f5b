#include "src/hashlist/hash_list_format.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "src/common/utf8.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr absl::string_view kBom = "\xEF\xBB\xBF";
constexpr absl::string_view kLosslessHeader = "hashmatch-entries v1";
constexpr absl::string_view kLosslessEnd = "end ";

// ---- shared helpers ----

class ErrorSink {
 public:
  ErrorSink(ParseResult* result, size_t max_errors)
      : result_(result), max_errors_(max_errors) {}
  void Add(int64_t line, std::string message) {
    ++result_->total_errors;
    if (result_->errors.size() < max_errors_) {
      result_->errors.push_back(LineError{line, std::move(message)});
    }
  }

 private:
  ParseResult* result_;
  size_t max_errors_;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string LowerHex(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  return out;
}

// Length in bytes of the UTF-8 sequence at the start of `s`, 0 if invalid.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto c = static_cast<uint8_t>(s[0]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    const auto d = static_cast<uint8_t>(s[i]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

bool IsValidUtf8(absl::string_view s) {
  while (!s.empty()) {
    if (static_cast<uint8_t>(s[0]) < 0x80) {
      s.remove_prefix(1);
      continue;
    }
    const size_t n = Utf8SequenceLength(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<uint8_t>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<uint8_t>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string FormatMicros(int64_t micros) {
  if (micros == 0) return "";
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ",
                          absl::FromUnixMicros(micros), absl::UTCTimeZone());
}

// ---- the columns (CSV) / keys (JSONL) ----

enum class Column {
  kSignalType,
  kSignalValue,
  kExternalId,
  kQuality,
  kClassification,
  kNote,
  kId,
  kSourceAgency,
  kState,
  kCreatedAt,
  kUpdatedAt,
};
constexpr int kNumColumns = 11;

// Canonical names, in the order the writers emit them.
constexpr std::array<absl::string_view, kNumColumns> kColumnNames = {
    "signal_type",    "signal_value", "external_id", "quality",
    "classification", "note",         "id",          "source_agency",
    "state",          "created_at",   "updated_at"};

std::optional<Column> ColumnByName(absl::string_view name, bool aliases) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (int i = 0; i < kNumColumns; ++i) {
    if (lower == kColumnNames[i]) return static_cast<Column>(i);
  }
  if (!aliases) return std::nullopt;
  if (lower == "indicator_type") return Column::kSignalType;
  if (lower == "indicator") return Column::kSignalValue;
  if (lower == "descriptor_id") return Column::kExternalId;
  if (lower == "tags") return Column::kClassification;
  return std::nullopt;
}

// One CSV row or JSONL object, before validation. Absent optional values
// are nullopt.
struct RowValues {
  // Views into the parser's buffers, valid until the next row.
  std::optional<absl::string_view> signal_type;
  std::optional<absl::string_view> signal_value;
  std::optional<absl::string_view> external_id;
  std::optional<int64_t> quality;
  std::optional<absl::string_view> classification;
  std::optional<absl::string_view> note;
};

bool CheckText(absl::string_view what, absl::string_view value,
               size_t max_bytes, int64_t line, ErrorSink& errors) {
  if (value.size() > max_bytes) {
    errors.Add(line,
               absl::StrCat(what, " is ", value.size(),
                            " bytes, more than the limit of ", max_bytes));
    return false;
  }
  if (!IsValidUtf8(value)) {
    errors.Add(line, absl::StrCat(what, " is not valid UTF-8"));
    return false;
  }
  return true;
}

bool CheckText(absl::string_view what,
               const std::optional<absl::string_view>& value, size_t max_bytes,
               int64_t line, ErrorSink& errors) {
  return !value.has_value() || CheckText(what, *value, max_bytes, line, errors);
}

// Hash length in bytes per signal type; 0 for unknown ones.
size_t HashBytes(v1::SignalType type) {
  switch (type) {
    case v1::SIGNAL_TYPE_PDQ:
    case v1::SIGNAL_TYPE_SHA256:
      return 32;
    case v1::SIGNAL_TYPE_PHASH:
    case v1::SIGNAL_TYPE_DHASH:
      return 8;
    case v1::SIGNAL_TYPE_MD5:
      return 16;
    default:
      return 0;
  }
}

bool DecodeHash(v1::SignalType type, absl::string_view hex, std::string* out,
                int64_t line, ErrorSink& errors) {
  const size_t want = HashBytes(type) * 2;
  if (hex.size() != want) {
    errors.Add(line, absl::StrCat("signal_value: a ", SignalTypeShortName(type),
                                  " hash has ", want, " hex digits, got ",
                                  hex.size()));
    return false;
  }
  out->resize(want / 2);
  for (size_t i = 0; i < want; i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      const size_t bad = hi < 0 ? i : i + 1;
      errors.Add(
          line,
          absl::StrCat("signal_value: not a hex digit at position ", bad + 1));
      return false;
    }
    (*out)[i / 2] = static_cast<char>((hi << 4) | lo);
  }
  return true;
}

// Validates `row` and appends it to `result` (or reports its errors).
void AddRow(const RowValues& row, int64_t line, ParseResult* result,
            ErrorSink& errors) {
  bool ok = true;
  v1::SignalType type = v1::SIGNAL_TYPE_UNSPECIFIED;
  if (!row.signal_type.has_value() || row.signal_type->empty()) {
    errors.Add(line, "signal_type is missing");
    ok = false;
  } else {
    absl::StatusOr<v1::SignalType> t = ParseSignalTypeName(*row.signal_type);
    if (!t.ok()) {
      errors.Add(line, std::string(t.status().message()));
      ok = false;
    } else {
      type = *t;
    }
  }
  ParsedEntry parsed;
  parsed.line = line;
  if (!row.signal_value.has_value() || row.signal_value->empty()) {
    errors.Add(line, "signal_value is missing");
    ok = false;
  } else if (type != v1::SIGNAL_TYPE_UNSPECIFIED) {
    ok &= DecodeHash(type, *row.signal_value, parsed.entry.mutable_hash(), line,
                     errors);
  }
  if (row.quality.has_value() &&
      (*row.quality < 0 || *row.quality > kMaxQuality)) {
    errors.Add(line, absl::StrCat("quality ", *row.quality,
                                  " is out of range 0..", kMaxQuality));
    ok = false;
  }
  ok &= CheckText("external_id", row.external_id, kMaxExternalIdBytes, line,
                  errors);
  ok &= CheckText("classification", row.classification, kMaxClassificationBytes,
                  line, errors);
  ok &= CheckText("note", row.note, kMaxNoteBytes, line, errors);
  if (!ok) return;
  v1::Entry& e = parsed.entry;
  e.set_signal_type(type);
  if (row.quality.has_value()) {
    e.set_quality(static_cast<int32_t>(*row.quality));
    parsed.has_quality = true;
  }
  if (row.external_id.has_value() && !row.external_id->empty()) {
    e.set_external_id(std::string(*row.external_id));
  } else {
    e.set_external_id(DerivedExternalId(type, e.hash()));
    parsed.derived_external_id = true;
  }
  if (row.classification.has_value()) {
    e.set_classification(std::string(*row.classification));
  }
  if (row.note.has_value()) e.set_note(std::string(*row.note));
  result->entries.push_back(std::move(parsed));
}

// Reports every external_id used by more than one entry (CSV/JSONL).
void CheckDuplicateExternalIds(ParseResult* result, ErrorSink& errors) {
  absl::flat_hash_map<absl::string_view, int64_t> first_line;
  first_line.reserve(result->entries.size());
  for (const ParsedEntry& p : result->entries) {
    auto [it, inserted] = first_line.emplace(p.entry.external_id(), p.line);
    if (!inserted) {
      errors.Add(
          p.line,
          absl::StrCat("duplicate external_id \"", p.entry.external_id(),
                       "\" (first on line ", it->second, ")",
                       p.derived_external_id ? ": the same hash without an "
                                               "external_id"
                                             : ""));
    }
  }
}

// Orders errors by line (duplicate checks run after the rows).
void SortErrors(ParseResult* result) {
  std::stable_sort(
      result->errors.begin(), result->errors.end(),
      [](const LineError& a, const LineError& b) { return a.line < b.line; });
}

bool ParseInteger(absl::string_view text, int64_t* value) {
  if (text.empty()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!(absl::ascii_isdigit(c) || (i == 0 && c == '-' && text.size() > 1))) {
      return false;
    }
  }
  return absl::SimpleAtoi(text, value);
}

// ---- CSV ----

class CsvReader {
 public:
  explicit CsvReader(absl::string_view data) : data_(data) {}

  // Reads the next record into the first `*count` strings of `fields`
  // (reused from call to call). Returns false at the end of the
  // data. On a syntax error, sets `error` (non-empty), skips to the next
  // line and returns true.
  bool Next(std::vector<std::string>* fields, size_t* count,
            int64_t* record_line, std::string* error) {
    *count = 0;
    error->clear();
    const size_t n = data_.size();
    while (pos_ < n) {  // Skip empty lines.
      if (data_[pos_] == '\n') {
        ++pos_;
        ++line_;
      } else if (data_[pos_] == '\r' && pos_ + 1 < n &&
                 data_[pos_ + 1] == '\n') {
        pos_ += 2;
        ++line_;
      } else {
        break;
      }
    }
    if (pos_ >= n) return false;
    *record_line = line_;
    while (true) {
      if (*count == fields->size()) fields->emplace_back();
      std::string& field = (*fields)[(*count)++];
      field.clear();
      if (pos_ < n && data_[pos_] == '"') {
        const int64_t open_line = line_;
        ++pos_;
        while (true) {
          if (pos_ >= n) {
            *error = absl::StrCat("unterminated quoted field (opened on line ",
                                  open_line, ")");
            return true;
          }
          const char c = data_[pos_];
          if (c == '"') {
            if (pos_ + 1 < n && data_[pos_ + 1] == '"') {
              field.push_back('"');
              pos_ += 2;
              continue;
            }
            ++pos_;
            break;
          }
          if (c == '\n') ++line_;
          field.push_back(c);
          ++pos_;
        }
        if (pos_ >= n) return true;
        const char c = data_[pos_];
        if (c == ',') {
          ++pos_;
          continue;
        }
        if (EndOfRecord()) return true;
        *error =
            "unexpected character after a closing quote (a quote "
            "inside a quoted field is written \"\")";
        SkipLine();
        return true;
      }
      const size_t start = pos_;
      while (pos_ < n) {
        const char c = data_[pos_];
        if (c == ',' || c == '\n' || c == '\r' || c == '"') break;
        ++pos_;
      }
      field.assign(data_.data() + start, pos_ - start);
      if (pos_ >= n) return true;
      const char c = data_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '"') {
        *error = "quote inside an unquoted field (quote the whole field)";
        SkipLine();
        return true;
      }
      if (EndOfRecord()) return true;
      *error = "carriage return not followed by a line feed";
      SkipLine();
      return true;
    }
  }

 private:
  // At '\n' or "\r\n": consumes it and returns true.
  bool EndOfRecord() {
    if (data_[pos_] == '\n') {
      ++pos_;
      ++line_;
      return true;
    }
    if (data_[pos_] == '\r' && pos_ + 1 < data_.size() &&
        data_[pos_ + 1] == '\n') {
      pos_ += 2;
      ++line_;
      return true;
    }
    return false;
  }
  void SkipLine() {
    const size_t nl = data_.find('\n', pos_);
    if (nl == absl::string_view::npos) {
      pos_ = data_.size();
    } else {
      pos_ = nl + 1;
      ++line_;
    }
  }

  absl::string_view data_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

void ParseCsv(absl::string_view data, const ParseOptions& options,
              ParseResult* result, ErrorSink& errors) {
  CsvReader reader(data);
  std::vector<std::string> fields;
  std::string error;
  int64_t line = 0;
  size_t count = 0;
  if (!reader.Next(&fields, &count, &line, &error)) {
    errors.Add(1, "empty file: the header row is missing");
    return;
  }
  if (!error.empty()) {
    errors.Add(line, absl::StrCat("header: ", error));
    return;
  }
  std::vector<std::optional<Column>> columns;
  std::map<Column, std::string> seen;
  bool header_ok = true;
  fields.resize(count);
  for (const std::string& name : fields) {
    std::optional<Column> c = ColumnByName(name, /*aliases=*/true);
    if (!c.has_value()) {
      errors.Add(line, absl::StrCat("header: unknown column \"", name,
                                    "\" (accepted: signal_type, "
                                    "signal_value, external_id, quality, "
                                    "classification, note, and the export "
                                    "columns id, source_agency, state, "
                                    "created_at, updated_at)"));
      header_ok = false;
    } else if (auto [it, inserted] = seen.emplace(*c, name); !inserted) {
      errors.Add(
          line, absl::StrCat("header: column \"", name, "\" given twice (as \"",
                             it->second, "\")"));
      header_ok = false;
    }
    columns.push_back(c);
  }
  for (Column required : {Column::kSignalType, Column::kSignalValue}) {
    if (!seen.contains(required)) {
      errors.Add(line, absl::StrCat("header: required column \"",
                                    kColumnNames[static_cast<int>(required)],
                                    "\" is missing"));
      header_ok = false;
    }
  }
  if (!header_ok) return;

  while (reader.Next(&fields, &count, &line, &error)) {
    ++result->rows;
    if (result->rows > options.max_rows) {
      errors.Add(line, absl::StrCat("more than ", options.max_rows,
                                    " rows (the row limit); stopped here"));
      break;
    }
    if (!error.empty()) {
      errors.Add(line, error);
      continue;
    }
    if (count != columns.size()) {
      errors.Add(line, absl::StrCat("has ", count, " fields, the header ",
                                    columns.size()));
      continue;
    }
    RowValues row;
    bool ok = true;
    for (size_t i = 0; i < count; ++i) {
      switch (*columns[i]) {
        case Column::kSignalType:
          row.signal_type = fields[i];
          break;
        case Column::kSignalValue:
          row.signal_value = fields[i];
          break;
        case Column::kExternalId:
          row.external_id = fields[i];
          break;
        case Column::kQuality:
          if (!fields[i].empty()) {
            int64_t q = 0;
            if (!ParseInteger(fields[i], &q)) {
              errors.Add(line, absl::StrCat("quality \"", fields[i],
                                            "\" is not an integer"));
              ok = false;
            } else {
              row.quality = q;
            }
          }
          break;
        case Column::kClassification:
          row.classification = fields[i];
          break;
        case Column::kNote:
          row.note = fields[i];
          break;
        default:
          break;  // Export-only columns: ignored.
      }
    }
    if (!ok) continue;
    AddRow(row, line, result, errors);
  }
  CheckDuplicateExternalIds(result, errors);
}

// ---- JSONL ----

struct JsonValue {
  enum Kind { kString, kNumber, kNull, kBool } kind = kNull;
  std::string text;  // String contents, or the number's literal.
};

class FlatJsonParser {
 public:
  explicit FlatJsonParser(absl::string_view s) : s_(s) {}

  // Parses one object of scalar values. Keys in order; on error returns
  // false and sets error().
  bool Parse(std::vector<std::pair<std::string, JsonValue>>* members) {
    SkipSpace();
    if (!Consume('{')) return Fail("expected a JSON object ('{')");
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        SkipSpace();
        std::string key;
        if (Peek() != '"') return Fail("expected a key string");
        if (!ParseString(&key)) return false;
        SkipSpace();
        if (!Consume(':')) return Fail("expected ':' after a key");
        SkipSpace();
        JsonValue value;
        if (!ParseValue(key, &value)) return false;
        members->emplace_back(std::move(key), std::move(value));
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Fail("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != s_.size()) return Fail("text after the end of the object");
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool Consume(char c) {
    if (Peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\r' || s_[pos_] == '\n')) {
      ++pos_;
    }
  }
  bool Fail(absl::string_view message) {
    error_ = absl::StrCat(message, " at column ", pos_ + 1);
    return false;
  }
  bool ParseHex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = HexValue(s_[pos_ + i]);
      if (d < 0) return Fail("bad \\u escape");
      v = (v << 4) | static_cast<uint32_t>(d);
    }
    pos_ += 4;
    *out = v;
    return true;
  }
  bool ParseString(std::string* out) {
    ++pos_;  // The opening quote.
    while (true) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<uint8_t>(c) < 0x20) {
        return Fail("control character in a string (escape it)");
      }
      if (c != '\\') {
        out->push_back(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) return Fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!ParseHex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!(Consume('\\') && Consume('u')) || !ParseHex4(&low) ||
                low < 0xDC00 || low > 0xDFFF) {
              return Fail("unpaired UTF-16 surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("unpaired UTF-16 surrogate in \\u escape");
          }
          if (!AppendUtf8(cp, out)) return Fail("bad \\u escape");
          break;
        }
        default:
          --pos_;
          return Fail("bad escape");
      }
    }
  }
  bool ParseValue(absl::string_view key, JsonValue* value) {
    const char c = Peek();
    if (c == '"') {
      value->kind = JsonValue::kString;
      return ParseString(&value->text);
    }
    if (c == '{' || c == '[') {
      return Fail(absl::StrCat("\"", key,
                               "\": nested objects and arrays are not "
                               "accepted"));
    }
    if (c == '-' || absl::ascii_isdigit(c)) {
      const size_t start = pos_;
      while (pos_ < s_.size() &&
             (absl::ascii_isdigit(s_[pos_]) || s_[pos_] == '-' ||
              s_[pos_] == '+' || s_[pos_] == '.' || s_[pos_] == 'e' ||
              s_[pos_] == 'E')) {
        ++pos_;
      }
      value->kind = JsonValue::kNumber;
      value->text.assign(s_.data() + start, pos_ - start);
      return true;
    }
    for (auto [word, kind] : {std::pair<absl::string_view, JsonValue::Kind>{
                                  "null", JsonValue::kNull},
                              {"true", JsonValue::kBool},
                              {"false", JsonValue::kBool}}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        value->kind = kind;
        value->text = std::string(word);
        return true;
      }
    }
    return Fail("expected a value");
  }

  absl::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

// Sets `out` from a string value (null = absent); false on a type error.
bool StringValue(const std::string& key, const JsonValue& v,
                 std::optional<absl::string_view>* out, int64_t line,
                 ErrorSink& errors) {
  if (v.kind == JsonValue::kNull) return true;
  if (v.kind != JsonValue::kString) {
    errors.Add(line, absl::StrCat("\"", key, "\" must be a string"));
    return false;
  }
  *out = v.text;
  return true;
}

bool IntegerValue(const std::string& key, const JsonValue& v,
                  std::optional<int64_t>* out, int64_t line,
                  ErrorSink& errors) {
  if (v.kind == JsonValue::kNull) return true;
  int64_t n = 0;
  if (v.kind != JsonValue::kNumber || !ParseInteger(v.text, &n)) {
    errors.Add(line, absl::StrCat("\"", key, "\" must be an integer"));
    return false;
  }
  *out = n;
  return true;
}

void ParseJsonl(absl::string_view data, const ParseOptions& options,
                ParseResult* result, ErrorSink& errors) {
  int64_t line = 0;
  size_t pos = 0;
  std::vector<std::pair<std::string, JsonValue>> members;
  while (pos < data.size()) {
    ++line;
    size_t nl = data.find('\n', pos);
    if (nl == absl::string_view::npos) nl = data.size();
    absl::string_view text = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == absl::string_view::npos) continue;
    ++result->rows;
    if (result->rows > options.max_rows) {
      errors.Add(line, absl::StrCat("more than ", options.max_rows,
                                    " rows (the row limit); stopped here"));
      break;
    }
    if (!IsValidUtf8(text)) {
      errors.Add(line, "not valid UTF-8");
      continue;
    }
    members.clear();
    FlatJsonParser parser(text);
    if (!parser.Parse(&members)) {
      errors.Add(line, absl::StrCat("bad JSON: ", parser.error()));
      continue;
    }
    RowValues row;
    std::set<Column> seen;
    bool ok = true;
    for (auto& [key, value] : members) {
      std::optional<Column> c = ColumnByName(key, /*aliases=*/false);
      if (!c.has_value() || key != kColumnNames[static_cast<int>(*c)]) {
        errors.Add(line, absl::StrCat("unknown key \"", key, "\""));
        ok = false;
        continue;
      }
      if (!seen.insert(*c).second) {
        errors.Add(line, absl::StrCat("key \"", key, "\" given twice"));
        ok = false;
        continue;
      }
      std::optional<absl::string_view> ignored_text;
      std::optional<int64_t> ignored_int;
      switch (*c) {
        case Column::kSignalType:
          ok &= StringValue(key, value, &row.signal_type, line, errors);
          break;
        case Column::kSignalValue:
          ok &= StringValue(key, value, &row.signal_value, line, errors);
          break;
        case Column::kExternalId:
          ok &= StringValue(key, value, &row.external_id, line, errors);
          break;
        case Column::kQuality:
          ok &= IntegerValue(key, value, &row.quality, line, errors);
          break;
        case Column::kClassification:
          ok &= StringValue(key, value, &row.classification, line, errors);
          break;
        case Column::kNote:
          ok &= StringValue(key, value, &row.note, line, errors);
          break;
        case Column::kId:
          ok &= IntegerValue(key, value, &ignored_int, line, errors);
          break;
        default:
          ok &= StringValue(key, value, &ignored_text, line, errors);
          break;
      }
    }
    if (!ok) continue;
    AddRow(row, line, result, errors);
  }
  CheckDuplicateExternalIds(result, errors);
}

// ---- lossless ----

class Sha256Stream {
 public:
  Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  }
  ~Sha256Stream() { EVP_MD_CTX_free(ctx_); }
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(absl::string_view data) {
    EVP_DigestUpdate(ctx_, data.data(), data.size());
  }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, digest, &len);
    return LowerHex(
        absl::string_view(reinterpret_cast<const char*>(digest), len));
  }

 private:
  EVP_MD_CTX* ctx_;
};

bool ValidState(int state) {
  return state >= v1::VETTING_STATE_PENDING &&
         state <= v1::VETTING_STATE_RETRACTED;
}

void ValidateLosslessEntry(const v1::Entry& e, int64_t line,
                           ErrorSink& errors) {
  if (e.id() == 0) errors.Add(line, "id is 0 (an exported entry has an id)");
  const size_t want = HashBytes(e.signal_type());
  if (want == 0) {
    errors.Add(line, absl::StrCat("unknown signal_type ",
                                  static_cast<int>(e.signal_type())));
  } else if (e.hash().size() != want) {
    errors.Add(line, absl::StrCat(
                         "hash: a ", SignalTypeShortName(e.signal_type()),
                         " hash has ", want, " bytes, got ", e.hash().size()));
  }
  if (e.quality() < 0 || e.quality() > kMaxQuality) {
    errors.Add(line, absl::StrCat("quality ", e.quality(),
                                  " is out of range 0..", kMaxQuality));
  }
  CheckText("external_id", absl::string_view(e.external_id()),
            kMaxExternalIdBytes, line, errors);
  CheckText("classification", absl::string_view(e.classification()),
            kMaxClassificationBytes, line, errors);
  CheckText("note", absl::string_view(e.note()), kMaxNoteBytes, line, errors);
  if (!ValidState(e.state())) {
    errors.Add(line,
               absl::StrCat("state ", static_cast<int>(e.state()),
                            " is not pending, active, disputed or retracted"));
  } else if ((e.state() == v1::VETTING_STATE_RETRACTED) != e.has_retraction()) {
    errors.Add(line,
               "retraction must be set exactly when the state is "
               "retracted");
  }
}

void ParseLossless(absl::string_view data, const ParseOptions& options,
                   ParseResult* result, ErrorSink& errors) {
  google::protobuf::util::JsonParseOptions json_options;
  json_options.ignore_unknown_fields = false;
  Sha256Stream sha;
  int64_t line = 0;
  size_t pos = 0;
  bool header_seen = false;
  bool end_seen = false;
  absl::flat_hash_map<uint64_t, int64_t> id_lines;
  absl::flat_hash_map<std::pair<std::string, std::string>, int64_t> key_lines;
  while (pos < data.size()) {
    ++line;
    size_t nl = data.find('\n', pos);
    const bool has_newline = nl != absl::string_view::npos;
    if (!has_newline) nl = data.size();
    absl::string_view text = data.substr(pos, nl - pos);
    absl::string_view with_newline = data.substr(pos, nl + 1 - pos);
    pos = nl + 1;
    if (!header_seen) {
      if (text != kLosslessHeader) {
        errors.Add(line, absl::StrCat("not a hashmatch lossless file: line 1 "
                                      "must be \"",
                                      kLosslessHeader, "\""));
        return;
      }
      header_seen = true;
      continue;
    }
    if (end_seen) {
      errors.Add(line, "text after the end line");
      return;
    }
    if (absl::StartsWith(text, kLosslessEnd)) {
      end_seen = true;
      std::vector<absl::string_view> parts = absl::StrSplit(text, ' ');
      uint64_t count = 0;
      if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &count)) {
        errors.Add(line, "bad end line: expected \"end COUNT SHA256\"");
        return;
      }
      if (count != static_cast<uint64_t>(result->rows)) {
        errors.Add(line, absl::StrCat("the end line counts ", count,
                                      " records, the file has ", result->rows));
      }
      const std::string digest = sha.HexDigest();
      if (parts[2] != digest) {
        errors.Add(line,
                   absl::StrCat("checksum mismatch: the end line says ",
                                parts[2], ", the records hash to ", digest));
      }
      continue;
    }
    sha.Update(with_newline);
    if (!has_newline) {
      errors.Add(line, "truncated: the last record has no line end");
    }
    ++result->rows;
    if (result->rows > options.max_rows) {
      errors.Add(line, absl::StrCat("more than ", options.max_rows,
                                    " rows (the row limit); stopped here"));
      return;
    }
    ParsedEntry parsed;
    parsed.line = line;
    parsed.has_quality = true;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(text.data(), text.size()), &parsed.entry,
        json_options);
    if (!status.ok()) {
      errors.Add(line,
                 absl::StrCat("bad record: ", std::string(status.message())));
      continue;
    }
    const int64_t before = result->total_errors;
    ValidateLosslessEntry(parsed.entry, line, errors);
    if (result->total_errors != before) continue;
    const v1::Entry& e = parsed.entry;
    if (auto [it, inserted] = id_lines.emplace(e.id(), line); !inserted) {
      errors.Add(line, absl::StrCat("duplicate id ", e.id(), " (first on line ",
                                    it->second, ")"));
      continue;
    }
    if (e.state() != v1::VETTING_STATE_RETRACTED && !e.external_id().empty()) {
      auto [it, inserted] = key_lines.emplace(
          std::make_pair(e.source_agency(), e.external_id()), line);
      if (!inserted) {
        errors.Add(line,
                   absl::StrCat("duplicate (source_agency, external_id) "
                                "(\"",
                                e.source_agency(), "\", \"", e.external_id(),
                                "\") (first on line ", it->second, ")"));
        continue;
      }
    }
    result->entries.push_back(std::move(parsed));
  }
  if (!header_seen) {
    errors.Add(1, absl::StrCat("empty file: line 1 must be \"", kLosslessHeader,
                               "\""));
  } else if (!end_seen) {
    errors.Add(line + 1,
               "truncated: the end line \"end COUNT SHA256\" is "
               "missing");
  }
}

// ---- writers ----

class StreamWriter : public HashListWriter {
 public:
  explicit StreamWriter(std::ostream* out) : out_(out) {}
  int64_t count() const override { return count_; }

 protected:
  absl::Status Emit(const std::string& text) {
    if (finished_) {
      return absl::FailedPreconditionError("the writer is finished");
    }
    out_->write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!*out_) return absl::DataLossError("writing the output failed");
    return absl::OkStatus();
  }
  absl::Status Flush() {
    finished_ = true;
    out_->flush();
    if (!*out_) return absl::DataLossError("writing the output failed");
    return absl::OkStatus();
  }
  absl::Status CheckHash(const v1::Entry& e) {
    const size_t want = HashBytes(e.signal_type());
    if (want == 0 || e.hash().size() != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entry ", e.id(), ": signal type ", static_cast<int>(e.signal_type()),
          " with a ", e.hash().size(), "-byte hash cannot be written"));
    }
    return absl::OkStatus();
  }

  std::ostream* out_;
  int64_t count_ = 0;
  bool finished_ = false;
  std::string buffer_;
};

}  // namespace

void AppendCsvField(absl::string_view s, std::string* out) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out->append(s.data(), s.size());
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

namespace {

class CsvWriter : public StreamWriter {
 public:
  explicit CsvWriter(std::ostream* out) : StreamWriter(out) {
    std::string header;
    for (int i = 0; i < kNumColumns; ++i) {
      if (i > 0) header.push_back(',');
      header.append(kColumnNames[i].data(), kColumnNames[i].size());
    }
    header.push_back('\n');
    header_status_ = Emit(header);
  }
  absl::Status Write(const v1::Entry& e) override {
    if (!header_status_.ok()) return header_status_;
    if (absl::Status s = CheckHash(e); !s.ok()) return s;
    buffer_.clear();
    const std::string quality =
        e.quality() == 0 ? std::string() : absl::StrCat(e.quality());
    const std::string id = e.id() == 0 ? std::string() : absl::StrCat(e.id());
    const std::string fields[kNumColumns] = {
        std::string(SignalTypeShortName(e.signal_type())),
        LowerHex(e.hash()),
        e.external_id(),
        quality,
        e.classification(),
        e.note(),
        id,
        e.source_agency(),
        std::string(StateShortName(e.state())),
        FormatMicros(e.created_at_micros()),
        FormatMicros(e.updated_at_micros())};
    for (int i = 0; i < kNumColumns; ++i) {
      if (i > 0) buffer_.push_back(',');
      AppendCsvField(fields[i], &buffer_);
    }
    buffer_.push_back('\n');
    if (absl::Status s = Emit(buffer_); !s.ok()) return s;
    ++count_;
    return absl::OkStatus();
  }
  absl::Status Finish() override {
    if (!header_status_.ok()) return header_status_;
    return Flush();
  }

 private:
  absl::Status header_status_;
};

class JsonlWriter : public StreamWriter {
 public:
  using StreamWriter::StreamWriter;
  absl::Status Write(const v1::Entry& e) override {
    if (absl::Status s = CheckHash(e); !s.ok()) return s;
    buffer_.clear();
    auto key = [&](absl::string_view k) {
      buffer_.append(buffer_.empty() ? "{\"" : ",\"");
      buffer_.append(k.data(), k.size());
      buffer_.append("\":");
    };
    auto text = [&](absl::string_view k, absl::string_view v) {
      key(k);
      AppendJsonString(v, &buffer_);
    };
    text("signal_type", SignalTypeShortName(e.signal_type()));
    text("signal_value", LowerHex(e.hash()));
    text("external_id", e.external_id());
    key("quality");
    if (e.quality() == 0) {
      buffer_.append("null");
    } else {
      absl::StrAppend(&buffer_, e.quality());
    }
    text("classification", e.classification());
    text("note", e.note());
    if (e.id() != 0) {
      key("id");
      absl::StrAppend(&buffer_, e.id());
    }
    text("source_agency", e.source_agency());
    text("state", StateShortName(e.state()));
    text("created_at", FormatMicros(e.created_at_micros()));
    text("updated_at", FormatMicros(e.updated_at_micros()));
    buffer_.append("}\n");
    if (absl::Status s = Emit(buffer_); !s.ok()) return s;
    ++count_;
    return absl::OkStatus();
  }
  absl::Status Finish() override { return Flush(); }
};

class LosslessWriter : public StreamWriter {
 public:
  explicit LosslessWriter(std::ostream* out) : StreamWriter(out) {
    header_status_ = Emit(absl::StrCat(kLosslessHeader, "\n"));
    options_.preserve_proto_field_names = true;
  }
  absl::Status Write(const v1::Entry& e) override {
    if (!header_status_.ok()) return header_status_;
    buffer_.clear();
    const auto s =
        google::protobuf::util::MessageToJsonString(e, &buffer_, options_);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", e.id(), ": ", std::string(s.message())));
    }
    buffer_.push_back('\n');
    if (absl::Status w = Emit(buffer_); !w.ok()) return w;
    sha_.Update(buffer_);
    ++count_;
    return absl::OkStatus();
  }
  absl::Status Finish() override {
    if (!header_status_.ok()) return header_status_;
    if (absl::Status s = Emit(
            absl::StrCat(kLosslessEnd, count_, " ", sha_.HexDigest(), "\n"));
        !s.ok()) {
      return s;
    }
    return Flush();
  }

 private:
  absl::Status header_status_;
  google::protobuf::util::JsonPrintOptions options_;
  Sha256Stream sha_;
};

}  // namespace

absl::StatusOr<HashListFormat> ParseHashListFormat(absl::string_view name) {
  if (name == "csv") return HashListFormat::kCsv;
  if (name == "jsonl") return HashListFormat::kJsonl;
  if (name == "hashmatch") return HashListFormat::kHashmatch;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format \"", name, "\" (csv, jsonl or hashmatch)"));
}

absl::string_view HashListFormatName(HashListFormat format) {
  switch (format) {
    case HashListFormat::kCsv:
      return "csv";
    case HashListFormat::kJsonl:
      return "jsonl";
    case HashListFormat::kHashmatch:
      return "hashmatch";
  }
  return "?";
}

absl::string_view SignalTypeShortName(v1::SignalType type) {
  switch (type) {
    case v1::SIGNAL_TYPE_PDQ:
      return "pdq";
    case v1::SIGNAL_TYPE_PHASH:
      return "phash";
    case v1::SIGNAL_TYPE_DHASH:
      return "dhash";
    case v1::SIGNAL_TYPE_MD5:
      return "md5";
    case v1::SIGNAL_TYPE_SHA256:
      return "sha256";
    default:
      return "";
  }
}

absl::StatusOr<v1::SignalType> ParseSignalTypeName(absl::string_view name) {
  auto is = [&](absl::string_view a) {
    return absl::EqualsIgnoreCase(name, a);
  };
  if (is("pdq") || is("hash_pdq")) return v1::SIGNAL_TYPE_PDQ;
  if (is("phash")) return v1::SIGNAL_TYPE_PHASH;
  if (is("dhash")) return v1::SIGNAL_TYPE_DHASH;
  if (is("md5") || is("hash_md5")) return v1::SIGNAL_TYPE_MD5;
  if (is("sha256") || is("hash_sha256")) return v1::SIGNAL_TYPE_SHA256;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown signal_type \"", name,
                   "\" (pdq, phash, dhash, md5, sha256, hash_pdq, hash_md5, "
                   "hash_sha256)"));
}

absl::StatusOr<v1::VettingState> ParseStateName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "pending") return v1::VETTING_STATE_PENDING;
  if (lower == "active") return v1::VETTING_STATE_ACTIVE;
  if (lower == "disputed") return v1::VETTING_STATE_DISPUTED;
  if (lower == "retracted") return v1::VETTING_STATE_RETRACTED;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown state \"", name, "\" (pending, active, disputed, retracted)"));
}

absl::string_view StateShortName(v1::VettingState state) {
  switch (state) {
    case v1::VETTING_STATE_PENDING:
      return "pending";
    case v1::VETTING_STATE_ACTIVE:
      return "active";
    case v1::VETTING_STATE_DISPUTED:
      return "disputed";
    case v1::VETTING_STATE_RETRACTED:
      return "retracted";
    default:
      return "";
  }
}

std::string DerivedExternalId(v1::SignalType type, absl::string_view hash) {
  return absl::StrCat(SignalTypeShortName(type), ":", LowerHex(hash));
}

bool EntryMatchesFilter(const v1::EntryFilter& filter, const v1::Entry& e) {
  if (!filter.signal_types().empty() &&
      std::find(filter.signal_types().begin(), filter.signal_types().end(),
                e.signal_type()) == filter.signal_types().end()) {
    return false;
  }
  if (!filter.states().empty() &&
      std::find(filter.states().begin(), filter.states().end(), e.state()) ==
          filter.states().end()) {
    return false;
  }
  if (!filter.source_agency().empty() &&
      filter.source_agency() != e.source_agency()) {
    return false;
  }
  return filter.updated_since_micros() == 0 ||
         e.updated_at_micros() >= filter.updated_since_micros();
}

ParseResult ParseHashList(absl::string_view data, HashListFormat format,
                          const ParseOptions& options) {
  ParseResult result;
  ErrorSink errors(&result, options.max_errors);
  if (absl::StartsWith(data, kBom)) data.remove_prefix(kBom.size());
  switch (format) {
    case HashListFormat::kCsv:
      ParseCsv(data, options, &result, errors);
      break;
    case HashListFormat::kJsonl:
      ParseJsonl(data, options, &result, errors);
      break;
    case HashListFormat::kHashmatch:
      ParseLossless(data, options, &result, errors);
      break;
  }
  SortErrors(&result);
  if (result.total_errors > 0) result.entries.clear();
  return result;
}

std::unique_ptr<HashListWriter> HashListWriter::New(HashListFormat format,
                                                    std::ostream* out) {
  switch (format) {
    case HashListFormat::kCsv:
      return std::make_unique<CsvWriter>(out);
    case HashListFormat::kJsonl:
      return std::make_unique<JsonlWriter>(out);
    case HashListFormat::kHashmatch:
      return std::make_unique<LosslessWriter>(out);
  }
  return nullptr;
}

}  // namespace hashmatch
