// Text and JSON renderings of one file's hashes, as the `hash` subcommand
// prints them.
//
//   std::cout << FormatTextLines(path, hashes);  // One line per algorithm.
//   std::cout << FormatJsonLine(path, hashes);   // One JSON object + "\n".
//
// Text: path, algorithm, hex, quality ("-" when the algorithm has none),
// tab-separated; a PDQ result with dihedral variants gets a fifth column
// "dihedral=h0,h1,...,h7" in Dihedral order (see src/hashing/pdq.h).
// JSON (one object per line):
//   {"path":"a.jpg","format":"jpeg","width":640,"height":480,
//    "exif_orientation":6,"hashes":[{"algorithm":"pdq","hex":"...",
//    "quality":100,"dihedral":{"original":"...","rotate90":"...",...}}]}
// "format"/"width"/"height" are left out when nothing was decoded (md5 or
// sha256 alone), "exif_orientation" when the file has none, "quality" and
// "dihedral" when the algorithm has none.
//
// Thread safety: pure functions.
#ifndef HASHMATCH_TOOLS_OUTPUT_H_
#define HASHMATCH_TOOLS_OUTPUT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {
namespace cli {

std::string FormatTextLines(absl::string_view path, const ImageHashes& hashes);
std::string FormatJsonLine(absl::string_view path, const ImageHashes& hashes);

// `s` as a JSON string literal, quotes included: '"', '\\' and control
// characters are escaped, and bytes that are not valid UTF-8 become U+FFFD.
std::string JsonString(absl::string_view s);

// Microseconds since the epoch as "2026-11-29T06:07:08Z" (UTC, seconds);
// "-" for 0 (never).
std::string FormatUtcSeconds(int64_t micros);

// `m` as one line of protobuf JSON with the proto field names ("{}" if it
// cannot be printed, which a well-formed message never is).
std::string ProtoJson(const google::protobuf::Message& m);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_OUTPUT_H_
