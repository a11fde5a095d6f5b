// `hashmatch hash --video FILE...`: vPDQ frame hashes of video files (see
// src/video/video_hasher.h), printed in vPDQ's line format
// (src/video/vpdq_format.h). With more than one file, each line starts with
// the file's path and a tab.
//
// Each file is read into memory (never past --max_video_bytes) and decoded
// from there; nothing is written anywhere. A file that fails is reported on
// `err` as "hashmatch: PATH: CODE: message" and the others are still hashed.
// Exit codes as RunHash (commands.h): 0 all hashed, 1 some failed, 2 usage.
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_VIDEO_COMMAND_H_
#define HASHMATCH_TOOLS_VIDEO_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

// True when `args` (a `hash` command line) asks for --video.
bool WantsVideo(const std::vector<std::string>& args);

int RunHashVideo(const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_VIDEO_COMMAND_H_
