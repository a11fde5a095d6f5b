// vPDQ's hash-file format (ThreatExchange vpdq/cpp io/vpdqio.cpp): one line
// per frame, four comma-separated fields, no header:
//
//   FRAME_NUMBER,QUALITY,PDQ_HEX,TIMESTAMP
//   0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000
//
// FRAME_NUMBER and QUALITY are decimal integers, PDQ_HEX is 64 hex digits
// (written in lower case), TIMESTAMP is seconds written with exactly three
// decimals. Lines end with "\n".
//
//   std::string text = FormatVpdq(result.frames);
//   ASSIGN_OR_RETURN(std::vector<VideoFrameHash> frames, ParseVpdq(text, {}));
//
// Thread safety: pure functions, thread-safe.
#ifndef HASHMATCH_SRC_VIDEO_VPDQ_FORMAT_H_
#define HASHMATCH_SRC_VIDEO_VPDQ_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "src/video/video_hasher.h"

namespace hashmatch {

// One line, with its "\n".
std::string FormatVpdqLine(const VideoFrameHash& frame);
// Every frame's line, in the given order.
std::string FormatVpdq(absl::Span<const VideoFrameHash> frames);

struct VpdqParseOptions {
  // More lines than this fail with RESOURCE_EXHAUSTED (checked before each
  // line is parsed). Default 100000 (27 h at 1 frame/s).
  int64_t max_frames = 100000;
  // A line longer than this fails with INVALID_ARGUMENT. Default 256 (a
  // well-formed line is at most ~110 bytes).
  size_t max_line_bytes = 256;
};

// Strict parser. Accepted: the lines FormatVpdq writes, also with upper-case
// hex, any number of decimals in TIMESTAMP (other vPDQ tools print "1" or
// "1.0"), "\r\n" line ends and no "\n" after the last line.
// Errors, INVALID_ARGUMENT with "line N: " and the problem: a field count
// other than 4, an empty line, a frame number that is not a decimal integer
// in [0, 2^53], a quality not in 0..100, a hash that is not 64 hex digits, a
// timestamp that is not a non-negative decimal up to 2^53, no line at all;
// RESOURCE_EXHAUSTED over max_frames.
absl::StatusOr<std::vector<VideoFrameHash>> ParseVpdq(
    absl::string_view text, const VpdqParseOptions& options);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_VIDEO_VPDQ_FORMAT_H_
