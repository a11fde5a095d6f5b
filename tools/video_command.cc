#include "tools/video_command.h"

#include <cmath>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_util.h"
#include "src/video/video_hasher.h"
#include "src/video/vpdq_format.h"
#include "tools/commands.h"
#include "tools/flags.h"

namespace hashmatch {
namespace cli {
namespace {

constexpr int64_t kMaxLimit = int64_t{1} << 40;

absl::StatusOr<double> GetDouble(const ParsedFlags& flags,
                                 absl::string_view name, double min, double max,
                                 double fallback) {
  std::optional<std::string> v = flags.Get(name);
  if (!v.has_value()) return fallback;
  double d = 0;
  if (!absl::SimpleAtod(*v, &d) || !std::isfinite(d) || d < min || d > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a number in [", min, ", ", max,
                     "], got '", *v, "'"));
  }
  return d;
}

absl::StatusOr<VideoHashOptions> OptionsFromFlags(const ParsedFlags& flags) {
  VideoHashOptions o;
  VideoDecodeOptions& d = o.decode;
  absl::StatusOr<double> dbl =
      GetDouble(flags, "sample_interval", 0, 3600, d.sample_interval_seconds);
  if (!dbl.ok()) return dbl.status();
  d.sample_interval_seconds = *dbl;
  dbl = GetDouble(flags, "scene_threshold", 0, 255, d.scene_change_threshold);
  if (!dbl.ok()) return dbl.status();
  d.scene_change_threshold = *dbl;
  dbl = GetDouble(flags, "max_video_seconds", 0, 1e7, d.max_duration_seconds);
  if (!dbl.ok()) return dbl.status();
  d.max_duration_seconds = *dbl;
  dbl = GetDouble(flags, "max_decode_seconds", 0, 1e7, d.max_decode_seconds);
  if (!dbl.ok()) return dbl.status();
  d.max_decode_seconds = *dbl;

  struct IntFlag {
    const char* name;
    int64_t min;
    int64_t max;
    int64_t fallback;
    int64_t* out;
  };
  int64_t min_quality, near_dup, max_bytes, max_frames, max_w, max_h,
      max_pixels, threads;
  const IntFlag ints[] = {
      {"min_quality", 0, 101, o.min_quality, &min_quality},
      {"near_duplicate_distance", -1, 256, o.near_duplicate_distance,
       &near_dup},
      {"max_video_bytes", 1, kMaxLimit, static_cast<int64_t>(d.max_bytes),
       &max_bytes},
      {"max_video_frames", 1, kMaxLimit, d.max_frames, &max_frames},
      {"max_video_width", 1, 1 << 16, d.max_width, &max_w},
      {"max_video_height", 1, 1 << 16, d.max_height, &max_h},
      {"max_video_pixels", 1, kMaxLimit, d.max_pixels, &max_pixels},
      {"decode_threads", 1, 64, d.threads, &threads},
  };
  for (const IntFlag& f : ints) {
    absl::StatusOr<int64_t> v = flags.GetInt(f.name, f.min, f.max, f.fallback);
    if (!v.ok()) return v.status();
    *f.out = *v;
  }
  o.min_quality = static_cast<int>(min_quality);
  o.near_duplicate_distance = static_cast<int>(near_dup);
  d.max_bytes = static_cast<size_t>(max_bytes);
  d.max_frames = max_frames;
  d.max_width = static_cast<int>(max_w);
  d.max_height = static_cast<int>(max_h);
  d.max_pixels = max_pixels;
  d.threads = static_cast<int>(threads);
  d.skip_loop_filter = flags.Has("skip_loop_filter");
  o.crop_black_bars = !flags.Has("keep_black_bars");
  return o;
}

}  // namespace

bool WantsVideo(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") return false;
    if (a == "--video") return true;
  }
  return false;
}

int RunHashVideo(const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  parser.AddBool("video");
  parser.AddBool("keep_black_bars");
  parser.AddBool("skip_loop_filter");
  for (const char* name :
       {"sample_interval", "scene_threshold", "min_quality",
        "near_duplicate_distance", "max_video_bytes", "max_video_seconds",
        "max_video_frames", "max_video_width", "max_video_height",
        "max_video_pixels", "max_decode_seconds", "decode_threads"}) {
    parser.AddValue(name);
  }
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  absl::StatusOr<VideoHashOptions> options =
      flags.ok() ? OptionsFromFlags(*flags)
                 : absl::StatusOr<VideoHashOptions>(flags.status());
  if (options.ok() && flags->Has("help")) {
    PrintUsage(out);
    return kExitOk;
  }
  if (options.ok() && flags->positional().empty()) {
    options = absl::InvalidArgumentError("no files given");
  }
  if (!options.ok()) {
    err << "hashmatch: " << options.status().message() << "\n";
    PrintUsage(err);
    return kExitUsage;
  }
  const std::vector<std::string>& paths = flags->positional();
  const bool prefix = paths.size() > 1;
  int exit_code = kExitOk;
  for (const std::string& path : paths) {
    absl::StatusOr<VideoHashResult> result =
        [&]() -> absl::StatusOr<VideoHashResult> {
      absl::StatusOr<std::string> bytes =
          ReadFileToString(path, options->decode.max_bytes);
      if (!bytes.ok()) return bytes.status();
      return HashVideo(*bytes, *options);
    }();
    if (!result.ok()) {
      out.flush();
      err << "hashmatch: " << path << ": "
          << absl::StatusCodeToString(result.status().code()) << ": "
          << result.status().message() << "\n";
      exit_code = kExitFailure;
      continue;
    }
    for (const VideoFrameHash& f : result->frames) {
      if (prefix) out << path << "\t";
      out << FormatVpdqLine(f);
    }
  }
  out.flush();
  return exit_code;
}

}  // namespace cli
}  // namespace hashmatch
