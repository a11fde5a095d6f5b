// Helpers for the video tests (test-only): benign test clips made at test
// time by Debian's ffmpeg command line from photos that mate-backgrounds
// installs, in a temporary directory removed at the end.
//
//   ClipMaker& clips = ClipMaker::Get();   // nullptr checks: Available()
//   if (!clips.Available()) GTEST_SKIP() << clips.WhyUnavailable();
//   std::string bytes = clips.Make("a.mp4", "-i " + clips.Photo(0) + " ...");
#ifndef HASHMATCH_SRC_VIDEO_VIDEO_TEST_UTIL_H_
#define HASHMATCH_SRC_VIDEO_VIDEO_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace video_test {

inline constexpr char kFfmpeg[] = "/usr/bin/ffmpeg";
inline constexpr char kPhotoDir[] = "/usr/share/backgrounds/mate/nature/";
// Distinct benign photos (mate-backgrounds).
inline const std::vector<std::string>& PhotoNames() {
  static const std::vector<std::string> names = {
      "LadyBird.jpg", "Storm.jpg",  "Aqua.jpg",        "GreenMeadow.jpg",
      "Wood.jpg",     "Garden.jpg", "YellowFlower.jpg"};
  return names;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Process-wide temp dir with the photos scaled to 640x360 PNGs
// (photo0.png ...) and the clips, each made once. x264 encodes in the tests
// use -preset veryfast to keep the suite fast.
class ClipMaker {
 public:
  static ClipMaker& Get() {
    static ClipMaker* maker = new ClipMaker();
    return *maker;
  }

  bool Available() const { return why_.empty(); }
  const std::string& WhyUnavailable() const { return why_; }
  const std::string& dir() const { return dir_; }
  // Path of the i-th photo scaled to 640x360 (a PNG made on first use; ""
  // and a test failure when ffmpeg fails).
  std::string Photo(int i) {
    const std::string path = dir_ + "/photo" + std::to_string(i) + ".png";
    if (scaled_.count(i) == 0) {
      if (!Run("-i " + std::string(kPhotoDir) + PhotoNames().at(i) +
               " -vf scale=640:360,setsar=1 -frames:v 1 " + path)) {
        ADD_FAILURE() << "ffmpeg could not scale " << PhotoNames().at(i);
        return "";
      }
      scaled_[i] = true;
    }
    return path;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Runs `ffmpeg -y ARGS OUT` (quiet) once per name and returns the file's
  // bytes; "" (and a test failure) when ffmpeg fails.
  std::string Make(const std::string& name, const std::string& args) {
    auto it = made_.find(name);
    if (it != made_.end()) return ReadAll(Path(name));
    if (!Run(args + " " + Path(name))) {
      ADD_FAILURE() << "ffmpeg failed making " << name << ": " << args;
      return "";
    }
    made_[name] = true;
    return ReadAll(Path(name));
  }

  bool Run(const std::string& args) const {
    const std::string cmd = std::string(kFfmpeg) +
                            " -nostdin -hide_banner -loglevel error -y " +
                            args + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  // A slideshow of photos `indices`, each shown `seconds` (same length for
  // all), 640x360 at `fps`, encoded with `codec_args` (e.g. "-c:v libx264").
  std::string SlideshowArgs(const std::vector<int>& indices,
                            const std::vector<double>& seconds, int fps,
                            const std::string& codec_args) {
    std::string in, filter, labels;
    for (size_t k = 0; k < indices.size(); ++k) {
      absl::StrAppend(&in, " -loop 1 -framerate ", fps, " -t ", seconds[k],
                      " -i ", Photo(indices[k]));
      absl::StrAppend(&filter, "[", k, ":v]setsar=1[v", k, "];");
      absl::StrAppend(&labels, "[v", k, "]");
    }
    absl::StrAppend(&filter, labels, "concat=n=", indices.size(),
                    ":v=1:a=0,format=yuv420p[out]");
    return absl::StrCat(in, " -filter_complex \"", filter,
                        "\" -map \"[out]\" -r ", fps, " ", codec_args);
  }

  ~ClipMaker() {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

 private:
  ClipMaker() {
    if (access(kFfmpeg, X_OK) != 0) {
      why_ = "ffmpeg command line not installed (Debian package ffmpeg)";
      return;
    }
    for (const std::string& n : PhotoNames()) {
      if (access((std::string(kPhotoDir) + n).c_str(), R_OK) != 0) {
        why_ =
            std::string("photo missing (mate-backgrounds): ") + kPhotoDir + n;
        return;
      }
    }
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "hashmatch_video_test_XXXXXX")
            .string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      why_ = "cannot create a temporary directory";
      return;
    }
    dir_ = tmpl;
  }

  std::string dir_;
  std::string why_;
  std::map<std::string, bool> made_;
  std::map<int, bool> scaled_;
};

#define HM_REQUIRE_CLIPS()                       \
  ::hashmatch::video_test::ClipMaker& clips =    \
      ::hashmatch::video_test::ClipMaker::Get(); \
  if (!clips.Available()) GTEST_SKIP() << clips.WhyUnavailable()

}  // namespace video_test
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_VIDEO_VIDEO_TEST_UTIL_H_
