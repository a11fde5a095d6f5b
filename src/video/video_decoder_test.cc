#include "src/video/video_decoder.h"

#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/pdq.h"
#include "src/video/video_test_util.h"

namespace hashmatch {
namespace {

using video_test::ClipMaker;

struct Sample {
  int64_t frame_number;
  double ts;
  SampleReason reason;
  int width;
  int height;
};

absl::StatusOr<VideoInfo> Collect(const std::string& bytes,
                                  const VideoDecodeOptions& options,
                                  std::vector<Sample>* out) {
  return DecodeVideo(bytes, options, [&](const SampledFrame& f) {
    out->push_back(Sample{f.frame_number, f.timestamp_seconds, f.reason,
                          f.image.width, f.image.height});
    return absl::OkStatus();
  });
}

// A 3 s clip of one photo at 10 fps, 320x180, in each container/codec: with
// scene detection off, the samples are frames 0, 10, 20 at 0, 1, 2 s.
struct Format {
  const char* name;
  const char* file;
  const char* args;
  const char* codec;
};

std::string ContainerClip(ClipMaker& clips, const Format& f) {
  return clips.Make(f.file, "-loop 1 -framerate 10 -t 3 -i " + clips.Photo(0) +
                                " -vf scale=320:180,setsar=1 -r 10 " + f.args);
}

const Format kFormats[] = {
    {"mp4_h264", "c.mp4", "-c:v libx264 -preset veryfast -pix_fmt yuv420p",
     "h264"},
    {"webm_vp8", "c8.webm", "-c:v libvpx -b:v 300k", "vp8"},
    {"webm_vp9", "c9.webm",
     "-c:v libvpx-vp9 -b:v 300k -deadline realtime -cpu-used 8", "vp9"},
    {"mkv_h264", "c.mkv", "-c:v libx264 -preset veryfast -pix_fmt yuv420p",
     "h264"},
    {"avi_mpeg4", "c.avi", "-c:v mpeg4 -q:v 4", "mpeg4"},
    {"mov_h264", "c.mov", "-c:v libx264 -preset veryfast -pix_fmt yuv420p",
     "h264"},
    {"gif", "c.gif", "", "gif"},
};

class ContainerTest : public ::testing::TestWithParam<Format> {};

TEST_P(ContainerTest, DecodesOneFramePerSecond) {
  HM_REQUIRE_CLIPS();
  const Format& f = GetParam();
  const std::string bytes = ContainerClip(clips, f);
  ASSERT_FALSE(bytes.empty());
  VideoDecodeOptions options;
  options.scene_change_threshold = 0;
  std::vector<Sample> samples;
  absl::StatusOr<VideoInfo> info = Collect(bytes, options, &samples);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->codec, f.codec);
  EXPECT_EQ(info->width, 320);
  EXPECT_EQ(info->height, 180);
  EXPECT_NEAR(info->duration_seconds, 3.0, 0.15);
  ASSERT_EQ(samples.size(), 3u) << f.name;
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(samples[k].ts, k, 0.21) << f.name << " sample " << k;
    EXPECT_NEAR(samples[k].frame_number, 10 * k, 2) << f.name;
    EXPECT_EQ(samples[k].width, 320);
    EXPECT_EQ(samples[k].height, 180);
  }
  // Every frame: 30 samples, numbered 0..29 in order.
  options.sample_interval_seconds = 0;
  samples.clear();
  info = Collect(bytes, options, &samples);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(samples.size(), 30u) << f.name;
  for (int k = 0; k < 30; ++k) {
    EXPECT_EQ(samples[k].frame_number, k) << f.name;
    EXPECT_NEAR(samples[k].ts, k / 10.0, 0.011) << f.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, ContainerTest, ::testing::ValuesIn(kFormats),
                         [](const ::testing::TestParamInfo<Format>& p) {
                           return std::string(p.param.name);
                         });

// Three photos for 2.5, 3 and 2.5 s at 10 fps: cuts at 2.5 s and 5.5 s, which
// are no interval sample time, are sampled as scene changes.
TEST(VideoDecoderTest, SceneChangesAtCuts) {
  HM_REQUIRE_CLIPS();
  const std::string bytes =
      clips.Make("slides.mp4",
                 clips.SlideshowArgs({0, 1, 2}, {2.5, 3.0, 2.5}, 10,
                                     "-c:v libx264 -preset veryfast -crf 20"));
  ASSERT_FALSE(bytes.empty());
  std::vector<Sample> samples;
  absl::StatusOr<VideoInfo> info = Collect(bytes, {}, &samples);
  ASSERT_TRUE(info.ok()) << info.status();
  std::vector<double> scene_ts;
  int intervals = 0;
  for (const Sample& s : samples) {
    if (s.reason == SampleReason::kSceneChange) {
      scene_ts.push_back(s.ts);
    } else {
      EXPECT_NEAR(s.ts, intervals, 0.21);
      ++intervals;
    }
  }
  EXPECT_EQ(intervals, 8);
  ASSERT_EQ(scene_ts.size(), 2u);
  EXPECT_GE(scene_ts[0], 2.49);
  EXPECT_LE(scene_ts[0], 2.71);
  EXPECT_GE(scene_ts[1], 5.49);
  EXPECT_LE(scene_ts[1], 5.71);
  EXPECT_EQ(info->scene_changes, 2);
  // Off: only the 8 interval samples.
  VideoDecodeOptions off;
  off.scene_change_threshold = 0;
  samples.clear();
  ASSERT_TRUE(Collect(bytes, off, &samples).ok());
  EXPECT_EQ(samples.size(), 8u);
}

// A near-lossless clip of one photo: the sampled frame's PDQ is within a few
// bits of the PDQ of the photo's own pixels at the same size.
TEST(VideoDecoderTest, FramePdqEqualsPhotoPdq) {
  HM_REQUIRE_CLIPS();
  for (int photo : {0, 1, 2}) {
    const std::string name = "still" + std::to_string(photo) + ".mp4";
    const std::string bytes = clips.Make(
        name, "-loop 1 -framerate 5 -t 1 -i " + clips.Photo(photo) +
                  " -c:v libx264 -preset veryfast -crf 12 -pix_fmt yuv420p");
    ASSERT_FALSE(bytes.empty());
    absl::StatusOr<DecodedImage> image =
        DecodeImage(video_test::ReadAll(clips.Photo(photo)), DecodeOptions{});
    ASSERT_TRUE(image.ok()) << image.status();
    PdqHasher hasher;
    const PdqHash want = hasher.Hash(image->view());
    std::vector<PdqHash> got;
    absl::StatusOr<VideoInfo> info =
        DecodeVideo(bytes, {}, [&](const SampledFrame& f) {
          got.push_back(hasher.Hash(f.image));
          return absl::OkStatus();
        });
    ASSERT_TRUE(info.ok()) << info.status();
    ASSERT_EQ(got.size(), 1u);
    const int d = HammingDistance(got[0].hash, want.hash);
    EXPECT_LE(d, 8) << "photo " << photo;
    EXPECT_NEAR(got[0].quality, want.quality, 10);
  }
}

// A 6 s pan over a photo at 10 fps with a keyframe every `gop` frames.
std::string PanClip(ClipMaker& clips, int gop) {
  return clips.Make(
      "gop" + std::to_string(gop) + ".mp4",
      "-loop 1 -framerate 10 -t 6 -i " + clips.Photo(1) +
          " -vf crop=w=480:h=270:x='20*t':y='10*t',setsar=1 -r 10 "
          "-c:v libx264 -preset veryfast -pix_fmt yuv420p -x264-params "
          "keyint=" +
          std::to_string(gop) + ":min-keyint=" + std::to_string(gop) +
          ":scenecut=0");
}

struct HashedSample {
  int64_t frame_number;
  double ts;
  Hash256 pdq;
};

absl::StatusOr<VideoInfo> HashSamples(const std::string& bytes,
                                      const VideoDecodeOptions& o,
                                      std::vector<HashedSample>* out) {
  PdqHasher hasher;
  return DecodeVideo(bytes, o, [&](const SampledFrame& f) {
    out->push_back(HashedSample{f.frame_number, f.timestamp_seconds,
                                hasher.Hash(f.image).hash});
    return absl::OkStatus();
  });
}

// Leaving out the GOP parts that sampling does not need samples the same
// frames (same numbers, times and pixels) as decoding everything, and decodes
// fewer: with a keyframe every second only the 6 keyframes. (Skipping
// non-reference frames, on by default, can move a sample to the next frame:
// off here.)
TEST(VideoDecoderTest, SkipsOnlyWhatSamplingDoesNotNeed) {
  HM_REQUIRE_CLIPS();
  for (const auto& [gop, want_decoded] :
       std::vector<std::pair<int, int>>{{10, 6}, {20, -1}, {25, -1}}) {
    const std::string bytes = PanClip(clips, gop);
    ASSERT_FALSE(bytes.empty());
    VideoDecodeOptions all;
    all.scene_change_threshold = 0;
    all.skip_nonref_frames = false;
    all.skip_unsampled_gops = false;
    VideoDecodeOptions fast;  // Non-reference frames are still decoded.
    fast.scene_change_threshold = 0;
    fast.skip_nonref_frames = false;
    std::vector<HashedSample> want, got;
    absl::StatusOr<VideoInfo> full = HashSamples(bytes, all, &want);
    absl::StatusOr<VideoInfo> part = HashSamples(bytes, fast, &got);
    ASSERT_TRUE(full.ok()) << full.status();
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_EQ(full->frames_decoded, 60);
    if (want_decoded >= 0) {
      EXPECT_EQ(part->frames_decoded, want_decoded) << "gop " << gop;
    } else {
      EXPECT_LT(part->frames_decoded, 50) << "gop " << gop;
    }
    std::printf("gop %d: %lld of 60 frames decoded\n", gop,
                static_cast<long long>(part->frames_decoded));
    ASSERT_EQ(want.size(), 6u);
    ASSERT_EQ(got.size(), want.size()) << "gop " << gop;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].frame_number, want[i].frame_number) << "gop " << gop;
      EXPECT_EQ(got[i].frame_number, static_cast<int64_t>(10 * i));
      EXPECT_DOUBLE_EQ(got[i].ts, want[i].ts);
      EXPECT_EQ(got[i].pdq, want[i].pdq) << "gop " << gop << " sample " << i;
    }
  }
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClipMaker& clips = ClipMaker::Get();
    if (!clips.Available()) GTEST_SKIP() << clips.WhyUnavailable();
    bytes_ = clips.Make("c.mp4",
                        "-loop 1 -framerate 10 -t 3 -i " + clips.Photo(0) +
                            " -vf scale=320:180,setsar=1 -r 10 "
                            "-c:v libx264 -preset veryfast -pix_fmt yuv420p");
    ASSERT_FALSE(bytes_.empty());
  }
  absl::Status Decode(const VideoDecodeOptions& o) {
    return DecodeVideo(bytes_, o,
                       [](const SampledFrame&) { return absl::OkStatus(); })
        .status();
  }
  std::string bytes_;
};

TEST_F(LimitsTest, EachLimitHasItsError) {
  ASSERT_TRUE(Decode({}).ok());
  VideoDecodeOptions o;
  o.max_bytes = bytes_.size() - 1;
  absl::Status s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("bytes"), std::string::npos) << s;

  o = {};
  o.max_duration_seconds = 2;
  s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("duration"), std::string::npos) << s;

  o = {};
  o.max_frames = 29;
  s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("frame limit"), std::string::npos) << s;
  o.max_frames = 30;
  EXPECT_TRUE(Decode(o).ok());

  o = {};
  o.max_width = 319;
  s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("320x180"), std::string::npos) << s;
  o = {};
  o.max_pixels = 320 * 180 - 1;
  s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("pixels"), std::string::npos) << s;

  o = {};
  o.allowed_codecs = "vp9";
  s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("unsupported codec"), std::string::npos) << s;
}

TEST_F(LimitsTest, DecodeDeadline) {
  VideoDecodeOptions o;
  o.max_decode_seconds = 0;
  absl::Status s = Decode(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  // Mid-decode: each of the 3 samples takes 100 ms, the deadline is 150 ms.
  o.max_decode_seconds = 0.15;
  int calls = 0;
  s = DecodeVideo(bytes_, o, [&](const SampledFrame&) {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return absl::OkStatus();
      }).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(calls, 1);
  EXPECT_LT(calls, 3);
}

TEST_F(LimitsTest, CallbackErrorStopsDecoding) {
  int calls = 0;
  absl::Status s = DecodeVideo(bytes_, {}, [&](const SampledFrame&) {
                     ++calls;
                     return absl::CancelledError("enough");
                   }).status();
  EXPECT_EQ(s, absl::CancelledError("enough"));
  EXPECT_EQ(calls, 1);
}

TEST(VideoDecoderTest, BadInputIsInvalidArgument) {
  auto decode = [](const std::string& bytes) {
    return DecodeVideo(bytes, {},
                       [](const SampledFrame&) { return absl::OkStatus(); })
        .status();
  };
  absl::Status s = decode("");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("empty"), std::string::npos) << s;

  std::string garbage(100000, '\0');
  uint32_t x = 12345;
  for (char& c : garbage) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  s = decode(garbage);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

  const std::string jpeg =
      video_test::ReadAll(std::string(video_test::kPhotoDir) + "LadyBird.jpg");
  if (!jpeg.empty()) {
    s = decode(jpeg);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("not a video"), std::string::npos) << s;
  }

  ClipMaker& clips = ClipMaker::Get();
  if (!clips.Available()) GTEST_SKIP() << clips.WhyUnavailable();
  const std::string mp4 =
      clips.Make("c.mp4", "-loop 1 -framerate 10 -t 3 -i " + clips.Photo(0) +
                              " -vf scale=320:180,setsar=1 -r 10 "
                              "-c:v libx264 -preset veryfast -pix_fmt yuv420p");
  ASSERT_FALSE(mp4.empty());
  for (size_t cut : {size_t{16}, mp4.size() / 2, mp4.size() - 200}) {
    s = decode(mp4.substr(0, cut));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
        << "cut at " << cut << ": " << s;
  }
  // A garbage tail after a good header is still decoded as far as it goes,
  // or refused; never a crash.
  std::string damaged = mp4;
  for (size_t i = damaged.size() / 3; i < damaged.size(); i += 7) {
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
  }
  s = decode(damaged);
  EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kInvalidArgument) << s;
}

// Truncated and corrupted copies of every container/codec clip: each decode
// ends with OK (damage skipped), INVALID_ARGUMENT or RESOURCE_EXHAUSTED (a
// corrupt header declaring a huge size or duration), never a crash; under
// ASan also no memory error or leak in our code.
TEST(VideoDecoderTest, MutatedInputsNeverCrash) {
  HM_REQUIRE_CLIPS();
  uint32_t x = 2463534242u;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  int decoded_ok = 0, refused = 0;
  for (const Format& f : kFormats) {
    const std::string bytes = ContainerClip(clips, f);
    ASSERT_FALSE(bytes.empty());
    const char* file = f.file;
    for (int round = 0; round < 16; ++round) {
      std::string m = bytes;
      if (round % 2 == 0) {
        m.resize(next() % m.size());
      } else {
        const int flips = 1 + static_cast<int>(next() % 64);
        for (int k = 0; k < flips; ++k) {
          m[next() % m.size()] = static_cast<char>(next());
        }
      }
      const absl::Status s = DecodeVideo(m, {}, [](const SampledFrame& f) {
                               EXPECT_GT(f.image.width, 0);
                               return absl::OkStatus();
                             }).status();
      EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
                  s.code() == absl::StatusCode::kResourceExhausted)
          << file << " round " << round << ": " << s;
      (s.ok() ? decoded_ok : refused)++;
    }
  }
  std::printf("mutated inputs: %d decoded, %d refused\n", decoded_ok, refused);
}

// The real clip python3-imageio ships (h264 720p).
TEST(VideoDecoderTest, RealClipCockatoo) {
  const char* path =
      "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4";
  if (access(path, R_OK) != 0) GTEST_SKIP() << "python3-imageio not installed";
  std::vector<Sample> samples;
  absl::StatusOr<VideoInfo> info =
      Collect(video_test::ReadAll(path), {}, &samples);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->codec, "h264");
  EXPECT_EQ(info->width, 1280);
  EXPECT_EQ(info->height, 720);
  EXPECT_GT(info->duration_seconds, 10);
  int intervals = 0;
  for (size_t k = 0; k < samples.size(); ++k) {
    if (k > 0) {
      EXPECT_GT(samples[k].ts, samples[k - 1].ts);
      EXPECT_GT(samples[k].frame_number, samples[k - 1].frame_number);
    }
    if (samples[k].reason == SampleReason::kInterval) ++intervals;
  }
  EXPECT_NEAR(intervals, info->duration_seconds, 1.5);
}

TEST(VideoDecoderTest, RealClipVtest) {
  const char* path = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
  if (access(path, R_OK) != 0) GTEST_SKIP() << "opencv-doc not installed";
  std::vector<Sample> samples;
  absl::StatusOr<VideoInfo> info =
      Collect(video_test::ReadAll(path), {}, &samples);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->codec, "msmpeg4v3");
  EXPECT_EQ(info->width, 768);
  EXPECT_GE(samples.size(), 70u);
}

// Regression (fuzz/video_decode_fuzzer.cc, input minimized by libFuzzer to
// these 323 bytes): a damaged AVI whose mpeg4 frames mix decoder timestamps
// with frames that have none (or repeat one) got frame numbers that repeated
// or went back (4 after 7 in the first input found), while SampledFrame
// promises presentation-order numbers.
TEST(VideoDecoderTest, FrameNumbersIncreaseOnDamagedTimestamps) {
  const std::string bytes = absl::HexStringToBytes(
      "52494646fa1a0000415649204c495300000000004c495354e01000007374726c"
      "737472683800000076696473464d503400000000000000000000000001000000"
      "05000000000000000a0000004c0201000004ffff000000000000000030002000"
      "73747266280000002e000000300000002000000001001800464d503400120100"
      "60400008ad0000000000006630477054eaa1d584925d6e6048303064633b0000"
      "0001b659828f0a98f074d8c948ecd4ba177f8067a4c15357e5724e8c87a3b686"
      "73d578a097db5896a3148500000058b0877635e3e153f49566d6c18e3f303064"
      "6342000000000001b657c26467502610da14e15385d0b5891300000100000001"
      "2000c48d00000008030000080000000097db5896a314854d4060abeaadac10ff"
      "20313a84e71f00303064633f000000000001b0010000012000c48d0000000800"
      "000000");
  ASSERT_EQ(bytes.size(), 323u);
  VideoDecodeOptions options;
  options.sample_interval_seconds = 0;  // Every frame, as the fuzzer had it.
  options.skip_nonref_frames = false;
  options.skip_unsampled_gops = false;
  std::vector<Sample> samples;
  absl::StatusOr<VideoInfo> info = Collect(bytes, options, &samples);
  ASSERT_GE(samples.size(), 2u) << info.status();
  for (size_t i = 1; i < samples.size(); ++i) {
    EXPECT_GT(samples[i].frame_number, samples[i - 1].frame_number)
        << "sample " << i;
  }
}

}  // namespace
}  // namespace hashmatch
