#include "src/video/vpdq_format.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace hashmatch {
namespace {

constexpr int64_t kMaxFrameNumber = int64_t{1} << 53;

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status LineError(int64_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

absl::StatusOr<VideoFrameHash> ParseLine(absl::string_view text, int64_t line) {
  const std::vector<absl::string_view> fields = absl::StrSplit(text, ',');
  if (fields.size() != 4) {
    return LineError(line, absl::StrCat("expected 4 comma-separated fields "
                                        "(frame,quality,hash,timestamp), got ",
                                        fields.size()));
  }
  VideoFrameHash f;
  if (!AllDigits(fields[0]) || fields[0].size() > 16 ||
      !absl::SimpleAtoi(fields[0], &f.frame_number) ||
      f.frame_number > kMaxFrameNumber) {
    return LineError(line, absl::StrCat("frame number '", fields[0],
                                        "' is not an integer in [0, 2^53]"));
  }
  if (!AllDigits(fields[1]) || fields[1].size() > 3 ||
      !absl::SimpleAtoi(fields[1], &f.quality) || f.quality > 100) {
    return LineError(line, absl::StrCat("quality '", fields[1],
                                        "' is not an integer in 0..100"));
  }
  absl::StatusOr<Hash256> hash = Hash256::FromHex(fields[2]);
  if (!hash.ok()) {
    return LineError(line, absl::StrCat("PDQ hash: ", hash.status().message()));
  }
  f.pdq = *hash;
  const absl::string_view ts = fields[3];
  const size_t dot = ts.find('.');
  const bool ts_ok =
      dot == absl::string_view::npos
          ? AllDigits(ts)
          : AllDigits(ts.substr(0, dot)) && AllDigits(ts.substr(dot + 1));
  // At most 2^53 s, like frame numbers: FormatVpdqLine writes any such
  // value back in at most 20 characters, so what is read can be written
  // and read again.
  if (!ts_ok || ts.size() > 32 || !absl::SimpleAtod(ts, &f.timestamp_seconds) ||
      !std::isfinite(f.timestamp_seconds) ||
      f.timestamp_seconds > static_cast<double>(kMaxFrameNumber)) {
    return LineError(line, absl::StrCat("timestamp '", ts,
                                        "' is not a non-negative decimal "
                                        "number of seconds up to 2^53"));
  }
  return f;
}

}  // namespace

std::string FormatVpdqLine(const VideoFrameHash& frame) {
  return absl::StrFormat("%d,%d,%s,%.3f\n", frame.frame_number, frame.quality,
                         frame.pdq.ToHex(), frame.timestamp_seconds);
}

std::string FormatVpdq(absl::Span<const VideoFrameHash> frames) {
  std::string out;
  for (const VideoFrameHash& f : frames) out += FormatVpdqLine(f);
  return out;
}

absl::StatusOr<std::vector<VideoFrameHash>> ParseVpdq(
    absl::string_view text, const VpdqParseOptions& options) {
  std::vector<VideoFrameHash> frames;
  int64_t line = 0;
  while (!text.empty()) {
    ++line;
    const size_t nl = text.find('\n');
    absl::string_view body = text.substr(0, nl);
    text = nl == absl::string_view::npos ? absl::string_view()
                                         : text.substr(nl + 1);
    if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
    if (static_cast<int64_t>(frames.size()) >= options.max_frames) {
      return absl::ResourceExhaustedError(
          absl::StrCat("line ", line, ": more than ", options.max_frames,
                       " frames (the frame limit)"));
    }
    if (body.size() > options.max_line_bytes) {
      return LineError(
          line, absl::StrCat("longer than ", options.max_line_bytes, " bytes"));
    }
    if (body.empty()) return LineError(line, "empty line");
    absl::StatusOr<VideoFrameHash> f = ParseLine(body, line);
    if (!f.ok()) return f.status();
    frames.push_back(*f);
  }
  if (frames.empty()) {
    return absl::InvalidArgumentError("no frame lines in the vPDQ text");
  }
  return frames;
}

}  // namespace hashmatch
