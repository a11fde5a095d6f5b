// Video hashing speed (issue 6 item 7): seconds per minute of 720p h264 and
// sampled frames per second, decoder single-threaded, against a baseline
// measured in the same run: decoding and converting every frame to BGR, as an
// OpenCV VideoCapture read loop does.
//
//   build/bench/video_hash_bench [--dir DIR] [--repeats N]
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
// Each clip is read into memory once; every mode hashes it from there. Each
// mode runs N times (2) and the fastest run is shown. Times are CPU seconds
// of the process (the machine is shared; wall time is printed too).
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

#include "src/video/video_decoder.h"
#include "src/video/video_hasher.h"

namespace hashmatch {
namespace {

constexpr char kPhotoDir[] = "/usr/share/backgrounds/mate/nature/";
const char* const kPhotos[] = {"LadyBird.jpg",    "Storm.jpg", "Aqua.jpg",
                               "GreenMeadow.jpg", "Wood.jpg",  "Garden.jpg"};

std::string MakeClipCommand(const std::string& out, bool grain) {
  std::string cmd = "/usr/bin/ffmpeg -nostdin -hide_banner -loglevel error -y";
  std::string filter, labels;
  for (int k = 0; k < 6; ++k) {
    cmd += std::string(" -loop 1 -framerate 30 -t 10 -i ") + kPhotoDir +
           kPhotos[k];
    const std::string n = std::to_string(k);
    filter += "[" + n +
              ":v]scale=1920:1080:force_original_aspect_ratio=increase,"
              "crop=1920:1080,zoompan=z='1+0.0008*in':d=1:"
              "x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s=1280x720:fps=30,"
              "setsar=1[v" +
              n + "];";
    labels += "[v" + n + "]";
  }
  filter += labels + "concat=n=6:v=1:a=0," +
            (grain ? "noise=alls=8:allf=t," : "") + "format=yuv420p";
  cmd += " -filter_complex \"" + filter +
         "\" -frames:v 1800 -c:v libx264 -preset medium -crf 23 " + out;
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

void Bench(const std::string& path, int repeats, bool all_modes) {
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
  auto row = [&](const char* name, const Run& r) {
    std::printf("%-40s %8.3f %8.3f %8.3f %8lld %8lld %6lld %7.2fx\n", name,
                r.seconds, r.seconds * 60 / duration, r.wall,
                static_cast<long long>(r.decoded),
                static_cast<long long>(r.sampled),
                static_cast<long long>(r.kept), base.seconds / r.seconds);
  };
  row("baseline: decode+convert every frame", base);
  const Run def = Best(repeats, [&] { return Hash(bytes, defaults); });
  row("HashVideo defaults", def);
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
}

int Main(int argc, char** argv) {
  std::string dir;
  int repeats = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: video_hash_bench [--dir DIR] [--repeats N]\n");
      return 2;
    }
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
  const std::string camera = dir + "/camera.mp4";
  const std::string phone = dir + "/phone.mp4";
  const std::string clean = dir + "/clean.mp4";
  if (!MakeIfMissing(camera, MakeClipCommand(camera, /*grain=*/true)) ||
      !MakeIfMissing(clean, MakeClipCommand(clean, /*grain=*/false)) ||
      !MakeIfMissing(
          phone,
          "/usr/bin/ffmpeg -nostdin -hide_banner -loglevel error "
          "-y -i " +
              camera + " -c:v libx264 -preset medium -crf 23 -g 30 " + phone)) {
    return 1;
  }
  Bench(camera, repeats, /*all_modes=*/true);
  Bench(phone, repeats, /*all_modes=*/false);
  Bench(clean, repeats, /*all_modes=*/false);
  if (remove) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
