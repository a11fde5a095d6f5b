#include "tools/output.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace hashmatch {
namespace cli {
namespace {

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = byte(0);
  size_t n;
  uint32_t min;
  uint32_t cp;
  if (b0 < 0x80) {
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    n = 2, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  while (!s.empty()) {
    const char c = s[0];
    const size_t n = Utf8SequenceLength(s);
    if (n == 0) {
      out += "\\ufffd";
      s.remove_prefix(1);
      continue;
    }
    if (n > 1) {
      out.append(s.data(), n);
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (static_cast<uint8_t>(c) < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<uint8_t>(c));
    } else {
      out += c;
    }
    s.remove_prefix(n);
  }
  out += '"';
  return out;
}

std::string FormatTextLines(absl::string_view path, const ImageHashes& hashes) {
  std::string out;
  for (const HashResult& r : hashes.results) {
    absl::StrAppend(&out, path, "\t", AlgorithmName(r.algorithm), "\t", r.hex,
                    "\t",
                    r.quality.has_value() ? absl::StrCat(*r.quality) : "-");
    if (!r.dihedral_hex.empty()) {
      absl::StrAppend(&out, "\tdihedral=", absl::StrJoin(r.dihedral_hex, ","));
    }
    out += '\n';
  }
  return out;
}

std::string FormatJsonLine(absl::string_view path, const ImageHashes& hashes) {
  std::string out = absl::StrCat("{\"path\":", JsonString(path));
  if (hashes.header.has_value()) {
    const ImageHeader& h = *hashes.header;
    absl::StrAppend(&out, ",\"format\":", JsonString(ImageFormatName(h.format)),
                    ",\"width\":", h.width, ",\"height\":", h.height);
    if (h.exif_orientation != 0) {
      absl::StrAppend(&out, ",\"exif_orientation\":", h.exif_orientation);
    }
  }
  out += ",\"hashes\":[";
  for (size_t i = 0; i < hashes.results.size(); ++i) {
    const HashResult& r = hashes.results[i];
    if (i > 0) out += ',';
    absl::StrAppend(&out,
                    "{\"algorithm\":", JsonString(AlgorithmName(r.algorithm)),
                    ",\"hex\":", JsonString(r.hex));
    if (r.quality.has_value())
      absl::StrAppend(&out, ",\"quality\":", *r.quality);
    if (!r.dihedral_hex.empty()) {
      out += ",\"dihedral\":{";
      for (size_t d = 0; d < r.dihedral_hex.size(); ++d) {
        if (d > 0) out += ',';
        absl::StrAppend(&out,
                        JsonString(DihedralName(static_cast<Dihedral>(d))), ":",
                        JsonString(r.dihedral_hex[d]));
      }
      out += '}';
    }
    out += '}';
  }
  out += "]}\n";
  return out;
}

std::string FormatUtcSeconds(int64_t micros) {
  if (micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

std::string ProtoJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) {
    return "{}";
  }
  return out;
}

}  // namespace cli
}  // namespace hashmatch
