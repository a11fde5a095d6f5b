// Video hashing speed (issue 6 item 7): seconds per minute of 720p h264 and
// sampled frames per second, decoder single-threaded, against a baseline
// measured in the same run: decoding and converting every frame to BGR, as an
// OpenCV VideoCapture read loop does.
//
//   build/bench/video_hash_bench [--dir DIR] [--repeats N] [--seconds S]
//       [--clips camera,phone,clean] [--modes all|defaults] [--json FILE]
//
// Clips (made with Debian's ffmpeg in DIR when missing; DIR defaults to a
// temporary directory removed at the end):
//   camera.mp4  60 s of 1280x720 at 30 fps: six mate-backgrounds photos for
//               10 s each with a slow zoom and film grain (so the bitrate,
//               ~4 Mbit/s, is that of camera video rather than of a still),
//               libx264 preset medium CRF 23 (High profile, B-frames,
//               keyframe at most every 250 frames and at the cuts).
//   phone.mp4   camera.mp4 re-encoded with a keyframe every 30 frames (1 s),
//               as phones record.
//   clean.mp4   camera.mp4's pictures without the grain (the pan/zoom clip
//               of corpus.md), ~1 Mbit/s.
// --seconds S (default 60; 1-10 or a multiple of 10) makes shorter clips of
// the same kind: max(1, S / 10) photos of S / photos seconds each, named
// camera_Ss.mp4 etc. (60 s clips keep the names above). --clips picks the
// clips measured (all three by default; phone.mp4 is made from camera.mp4).
// Each clip is read into memory once; every mode hashes it from there. Each
// mode runs N times (2) and the fastest run is shown; --modes defaults
// measures only the baseline and HashVideo's defaults (by default camera.mp4
// also gets the five variants below). Times are CPU seconds of the process
// (the machine is shared; wall time is printed too). --json FILE also writes
// the rows as one JSON object (bench/bench_json.h): {"seconds", "clips":
// [{"clip", "bytes", "mbit_s", "duration_s", "rows": [{"mode", "cpu_s",
// "cpu_s_per_min", "wall_s", "decoded", "sampled", "kept",
// "speedup"}...]}...]}; the first row is the baseline, the second the
// defaults.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_json.h"
#include "src/video/video_decoder.h"
#include "src/video/video_hasher.h"

namespace hashmatch {
namespace {

constexpr char kPhotoDir[] = "/usr/share/backgrounds/mate/nature/";
const char* const kPhotos[] = {"LadyBird.jpg",    "Storm.jpg", "Aqua.jpg",
                               "GreenMeadow.jpg", "Wood.jpg",  "Garden.jpg"};

// `seconds` of video: max(1, seconds / 10) photos, seconds / photos each.
std::string MakeClipCommand(const std::string& out, bool grain, int seconds) {
  const int photos = std::max(1, seconds / 10);
  const int each = seconds / photos;
  std::string cmd = "/usr/bin/ffmpeg -nostdin -hide_banner -loglevel error -y";
  std::string filter, labels;
  for (int k = 0; k < photos; ++k) {
    cmd += " -loop 1 -framerate 30 -t " + std::to_string(each) + " -i " +
           kPhotoDir + kPhotos[k];
    const std::string n = std::to_string(k);
    filter += "[" + n +
              ":v]scale=1920:1080:force_original_aspect_ratio=increase,"
              "crop=1920:1080,zoompan=z='1+0.0008*in':d=1:"
              "x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s=1280x720:fps=30,"
              "setsar=1[v" +
              n + "];";
    labels += "[v" + n + "]";
  }
  filter += labels + "concat=n=" + std::to_string(photos) + ":v=1:a=0," +
            (grain ? "noise=alls=8:allf=t," : "") + "format=yuv420p";
  cmd += " -filter_complex \"" + filter + "\" -frames:v " +
         std::to_string(30 * seconds) +
         " -c:v libx264 -preset medium -crf 23 " + out;
  return cmd;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Run {
  double seconds = 0;  // CPU.
  double wall = 0;
  int64_t decoded = 0;
  int64_t sampled = 0;
  int64_t kept = 0;
  std::vector<VideoFrameHash> frames;
};

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

// Decode + convert every frame, nothing else (the baseline).
Run Baseline(const std::string& bytes) {
  VideoDecodeOptions o;
  o.sample_interval_seconds = 0;
  o.scene_change_threshold = 0;
  o.skip_nonref_frames = false;
  o.threads = 1;
  Run r;
  const double t0 = Now();
  const double c0 = CpuNow();
  absl::StatusOr<VideoInfo> info = DecodeVideo(
      bytes, o, [](const SampledFrame&) { return absl::OkStatus(); });
  r.seconds = CpuNow() - c0;
  r.wall = Now() - t0;
  if (!info.ok()) {
    std::fprintf(stderr, "baseline: %s\n", info.status().ToString().c_str());
    std::exit(1);
  }
  r.decoded = info->frames_decoded;
  r.sampled = info->frames_sampled;
  return r;
}

Run Hash(const std::string& bytes, const VideoHashOptions& o) {
  Run r;
  const double t0 = Now();
  const double c0 = CpuNow();
  absl::StatusOr<VideoHashResult> res = HashVideo(bytes, o);
  r.seconds = CpuNow() - c0;
  r.wall = Now() - t0;
  if (!res.ok()) {
    std::fprintf(stderr, "hash: %s\n", res.status().ToString().c_str());
    std::exit(1);
  }
  r.decoded = res->frames_decoded;
  r.sampled = res->frames_sampled;
  r.kept = static_cast<int64_t>(res->frames.size());
  r.frames = std::move(res->frames);
  return r;
}

template <typename F>
Run Best(int repeats, F f) {
  Run best;
  for (int i = 0; i < repeats; ++i) {
    Run r = f();
    if (i == 0 || r.seconds < best.seconds) best = std::move(r);
  }
  return best;
}

bool MakeIfMissing(const std::string& path, const std::string& cmd) {
  if (access(path.c_str(), R_OK) == 0) return true;
  std::printf("making %s:\n  %s\n", path.c_str(), cmd.c_str());
  std::fflush(stdout);
  const double t0 = Now();
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "ffmpeg failed (needs ffmpeg, mate-backgrounds)\n");
    return false;
  }
  std::printf("  made in %.1f s\n", Now() - t0);
  return true;
}

// Measures one clip; returns its JSON object.
std::string Bench(const std::string& name, const std::string& path, int repeats,
                  bool all_modes) {
  const std::string bytes = ReadAll(path);
  VideoHashOptions defaults;  // 1 frame/s + scenes, all skips, 1 thread.
  defaults.decode.threads = 1;
  absl::StatusOr<VideoHashResult> info = HashVideo(bytes, defaults);
  if (!info.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(),
                 info.status().ToString().c_str());
    std::exit(1);
  }
  const double duration = info->duration_seconds;
  std::printf("\n%s: %zu bytes (%.1f Mbit/s), %.2f s, %dx%d %s\n", path.c_str(),
              bytes.size(), bytes.size() * 8 / duration / 1e6, duration,
              info->width, info->height, info->codec.c_str());
  std::printf("%-40s %8s %8s %8s %8s %8s %6s %8s\n", "mode (1 decoder thread)",
              "cpu s", "cpu s/min", "wall s", "decoded", "sampled", "kept",
              "speedup");
  const Run base = Best(repeats, [&] { return Baseline(bytes); });
  std::vector<std::string> json_rows;
  auto row = [&](const char* mode, const Run& r) {
    std::printf("%-40s %8.3f %8.3f %8.3f %8lld %8lld %6lld %7.2fx\n", mode,
                r.seconds, r.seconds * 60 / duration, r.wall,
                static_cast<long long>(r.decoded),
                static_cast<long long>(r.sampled),
                static_cast<long long>(r.kept), base.seconds / r.seconds);
    json_rows.push_back(bench::JsonObject()
                            .Str("mode", mode)
                            .Num("cpu_s", r.seconds)
                            .Num("cpu_s_per_min", r.seconds * 60 / duration)
                            .Num("wall_s", r.wall)
                            .Int("decoded", r.decoded)
                            .Int("sampled", r.sampled)
                            .Int("kept", r.kept)
                            .Num("speedup", base.seconds / r.seconds)
                            .Done());
  };
  row("baseline: decode+convert every frame", base);
  const Run def = Best(repeats, [&] { return Hash(bytes, defaults); });
  row("HashVideo defaults", def);
  {
    // What MatchVideo and ingestion actually run (docs/video.md, windows).
    VideoHashOptions query = QueryVideoHashOptions();
    query.decode.threads = 1;
    row("query options (+70% window)",
        Best(repeats, [&] { return Hash(bytes, query); }));
    VideoHashOptions entry = EntryVideoHashOptions();
    entry.decode.threads = 1;
    row("entry options (0.5 s, 3 windows)",
        Best(repeats, [&] { return Hash(bytes, entry); }));
  }
  if (all_modes) {
    VideoHashOptions o = defaults;
    o.decode.skip_unsampled_gops = false;
    row("  without skip_unsampled_gops",
        Best(repeats, [&] { return Hash(bytes, o); }));
    o = defaults;
    o.decode.skip_nonref_frames = false;
    row("  without skip_nonref_frames",
        Best(repeats, [&] { return Hash(bytes, o); }));
    o.decode.skip_unsampled_gops = false;
    row("  without either (convert sampled only)",
        Best(repeats, [&] { return Hash(bytes, o); }));
    o = defaults;
    o.decode.scene_change_threshold = 0;
    row("  without scene detection",
        Best(repeats, [&] { return Hash(bytes, o); }));
    o = defaults;
    o.decode.skip_loop_filter = true;
    const Run lf = Best(repeats, [&] { return Hash(bytes, o); });
    row("  with skip_loop_filter", lf);
    // Hash drift from skip_loop_filter: frames with the same number.
    std::map<int64_t, Hash256> by_number;
    for (const VideoFrameHash& f : def.frames)
      by_number[f.frame_number] = f.pdq;
    int n = 0, sum = 0, worst = 0;
    for (const VideoFrameHash& f : lf.frames) {
      auto it = by_number.find(f.frame_number);
      if (it == by_number.end()) continue;
      const int d = HammingDistance(f.pdq, it->second);
      ++n;
      sum += d;
      worst = std::max(worst, d);
    }
    std::printf(
        "  (skip_loop_filter vs defaults: %d common frames, PDQ distance "
        "mean %.1f, max %d)\n",
        n, n ? static_cast<double>(sum) / n : 0.0, worst);
  }
  std::printf("sampled frames per CPU second (defaults): %.1f\n",
              static_cast<double>(def.sampled) / def.seconds);
  return bench::JsonObject()
      .Str("clip", name)
      .Int("bytes", static_cast<int64_t>(bytes.size()))
      .Num("mbit_s", bytes.size() * 8 / duration / 1e6)
      .Num("duration_s", duration)
      .Raw("rows", bench::JsonArray(json_rows))
      .Done();
}

int Main(int argc, char** argv) {
  std::string dir, json_path, modes = "all";
  std::vector<std::string> clips = {"camera", "phone", "clean"};
  int repeats = 2;
  int seconds = 60;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else if (a == "--clips" && i + 1 < argc) {
      clips = absl::StrSplit(argv[++i], ',', absl::SkipEmpty());
    } else if (a == "--modes" && i + 1 < argc) {
      modes = argv[++i];
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      seconds = -1;
      break;
    }
  }
  bool clips_ok = !clips.empty();
  for (const std::string& c : clips) {
    clips_ok = clips_ok && (c == "camera" || c == "phone" || c == "clean");
  }
  if (seconds < 1 || seconds > 60 || (seconds > 10 && seconds % 10 != 0) ||
      !clips_ok || (modes != "all" && modes != "defaults")) {
    std::fprintf(stderr,
                 "usage: video_hash_bench [--dir DIR] [--repeats N] "
                 "[--seconds 1-10|20|30|40|50|60] [--clips camera,phone,clean] "
                 "[--modes all|defaults] [--json FILE]\n");
    return 2;
  }
  bool remove = false;
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() /
                        "hashmatch_video_bench_XXXXXX")
                           .string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    remove = true;
  }
  const std::string suffix =
      seconds == 60 ? ".mp4" : absl::StrCat("_", seconds, "s.mp4");
  const auto wanted = [&clips](const char* name) {
    return std::find(clips.begin(), clips.end(), name) != clips.end();
  };
  const std::string camera = dir + "/camera" + suffix;
  const std::string phone = dir + "/phone" + suffix;
  const std::string clean = dir + "/clean" + suffix;
  if (((wanted("camera") || wanted("phone")) &&
       !MakeIfMissing(camera,
                      MakeClipCommand(camera, /*grain=*/true, seconds))) ||
      (wanted("clean") &&
       !MakeIfMissing(clean,
                      MakeClipCommand(clean, /*grain=*/false, seconds))) ||
      (wanted("phone") &&
       !MakeIfMissing(phone,
                      "/usr/bin/ffmpeg -nostdin -hide_banner -loglevel error "
                      "-y -i " +
                          camera +
                          " -c:v libx264 -preset medium -crf 23 -g 30 " +
                          phone))) {
    return 1;
  }
  std::vector<std::string> json_clips;
  if (wanted("camera")) {
    json_clips.push_back(Bench("camera", camera, repeats, modes == "all"));
  }
  if (wanted("phone")) {
    json_clips.push_back(Bench("phone", phone, repeats, false));
  }
  if (wanted("clean")) {
    json_clips.push_back(Bench("clean", clean, repeats, false));
  }
  if (remove) std::filesystem::remove_all(dir);
  if (!json_path.empty() &&
      !bench::WriteJsonFile(json_path,
                            bench::JsonObject()
                                .Int("seconds", seconds)
                                .Int("repeats", repeats)
                                .Raw("clips", bench::JsonArray(json_clips))
                                .Done())) {
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
