// Video matching end to end with real processes: an ingest_server, a
// `match_server --follow`, and the CLI. A slideshow of benign photos is
// hashed (`hashmatch hash --video`), imported as a video entry (`import
// --format vpdq`), and reaches the follower; a low-bitrate half-size
// re-encode of it MATCHes through MatchVideo (bytes streamed in chunks, and
// hashes only), a clip of other photos does not, a still image that is one
// of its frames MATCHes the video entry, bad streams get their specific
// errors, and after a retraction the copy no longer matches.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/video/video_test_util.h"
#include "tests/follower_process.h"
#include "tests/ingest_server_process.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::FollowerProcess;
using testing_util::IngestServerProcess;
using testing_util::RunBinary;
using testing_util::RunResult;
using video_test::ClipMaker;

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

// Sends `messages` as one MatchVideo call.
grpc::Status CallMatchVideo(std::shared_ptr<grpc::Channel> channel,
                            const std::vector<v1::MatchVideoRequest>& messages,
                            v1::MatchVideoResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  auto writer =
      v1::MatchService::NewStub(channel)->MatchVideo(&context, response);
  for (const v1::MatchVideoRequest& m : messages) {
    if (!writer->Write(m)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

TEST(VideoMatchTest, VideoEntryFromVpdqFileMatchesACopyOnAFollower) {
  ClipMaker& clips = ClipMaker::Get();
  if (!clips.Available()) GTEST_SKIP() << clips.WhyUnavailable();
  const std::string orig = clips.Make(
      "e2e_orig.mp4",
      clips.SlideshowArgs({0, 1, 2}, {3, 3, 3}, 10, "-c:v libx264 -crf 23"));
  const std::string copy =
      clips.Make("e2e_copy.mp4", "-i " + clips.Path("e2e_orig.mp4") +
                                     " -c:v libx264 -b:v 100k");
  const std::string other = clips.Make(
      "e2e_other.mp4",
      clips.SlideshowArgs({3, 4, 5}, {3, 3, 3}, 10, "-c:v libx264 -crf 30"));
  // 90% of each side, centred.
  const std::string crop =
      clips.Make("e2e_crop.mp4", "-i " + clips.Path("e2e_orig.mp4") +
                                     " -vf crop=iw*0.9:ih*0.9 -c:v libx264");
  // A half-transparent box in the bottom right corner.
  const std::string marked = clips.Make(
      "e2e_marked.mp4",
      "-i " + clips.Path("e2e_orig.mp4") +
          " -vf drawbox=x=520:y=316:w=96:h=24:color=white@0.5:t=fill "
          "-c:v libx264");
  ASSERT_FALSE(orig.empty() || copy.empty() || other.empty() || crop.empty() ||
               marked.empty());

  testing_util::TempDir dir("video_match_test");
  ASSERT_FALSE(dir.path().empty());
  std::filesystem::create_directories(dir.path() + "/ingest");
  IngestServerProcess ingest(dir.path() + "/ingest");
  ASSERT_TRUE(ingest.Start().ok()) << ingest.process().Stderr();
  const std::string agency = ingest.AddPrincipal("hotline-a", v1::ROLE_AGENCY);
  const std::string replica =
      ingest.AddPrincipal("replica-1", v1::ROLE_REPLICA);
  FollowerProcess follower(dir.path() + "/f", ingest.address(), replica);
  ASSERT_TRUE(follower.Start().ok());
  ASSERT_TRUE(follower.WaitServing()) << follower.process().Stderr();

  // hash --video -> a vPDQ file -> import as one video entry.
  RunResult r = RunBinary(HASHMATCH_BINARY,
                          {"hash", "--video", clips.Path("e2e_orig.mp4")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string vpdq_path = dir.path() + "/clip-7.vpdq";
  WriteFile(vpdq_path, r.out);
  const size_t lines = std::count(r.out.begin(), r.out.end(), '\n');
  EXPECT_GE(lines, 3u) << r.out;  // At least one frame per photo.
  r = RunBinary(HASHMATCH_BINARY,
                {"import", "--format", "vpdq", "--classification", "V1",
                 vpdq_path, "--server", ingest.address(), "--token", agency});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.out, "(clip-7, " + std::to_string(lines) + " frames, active"))
      << r.out;
  const std::string entry_id =
      r.out.substr(r.out.find("video entry ") + 12,
                   r.out.find(" (") - r.out.find("video entry ") - 12);
  ASSERT_TRUE(follower.WaitApplied(ingest.LastSequence()));

  // The re-encoded copy, streamed: MATCH with both percentages.
  const std::string copy_path = clips.Path("e2e_copy.mp4");
  r = RunBinary(HASHMATCH_BINARY, {"match", "--video", "--server",
                                   follower.address(), copy_path});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\tMATCH\tvideo_frames_percent\tentry=" +
                                           entry_id + " signal=vpdq distance="))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "query=100.0%")) << r.out;
  // The same, hashed here (no media sent).
  r = RunBinary(HASHMATCH_BINARY, {"match", "--video", "--hashes", "--json",
                                   "--server", follower.address(), copy_path});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.out, "\"rule\":\"DECISION_RULE_VIDEO_FRAMES_PERCENT\""))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "\"decisive\":true")) << r.out;
  // Other photos: NO_MATCH.
  r = RunBinary(HASHMATCH_BINARY,
                {"match", "--video", "--server", follower.address(),
                 clips.Path("e2e_other.mp4")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\tNO_MATCH\t")) << r.out;
  // A still image that is a frame of the video matches the video entry.
  r = RunBinary(HASHMATCH_BINARY,
                {"match", "--server", follower.address(), clips.Photo(1)});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.out, "\tMATCH\tvideo_frame\tentry=" + entry_id + " signal=vpdq"))
      << r.out;
  // Not a video: a specific error, the server goes on.
  const std::string junk = dir.path() + "/junk.mp4";
  WriteFile(junk, std::string(20000, 'j'));
  r = RunBinary(HASHMATCH_BINARY,
                {"match", "--video", "--server", follower.address(), junk});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "INVALID_ARGUMENT: video: ")) << r.err;

  // Malformed streams.
  v1::MatchVideoRequest header;
  header.mutable_header()->set_content_ref("u1");
  v1::MatchVideoRequest chunk;
  chunk.set_chunk("abc");
  v1::MatchVideoResponse response;
  grpc::Status s = CallMatchVideo(follower.channel(), {}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "MatchVideo needs a header message first");
  s = CallMatchVideo(follower.channel(), {chunk}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "the first MatchVideo message must be a header");
  s = CallMatchVideo(follower.channel(), {header, header}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::MatchVideoRequest too_big = header;
  too_big.mutable_header()->set_total_bytes(int64_t{1} << 40);
  s = CallMatchVideo(follower.channel(), {too_big, chunk}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::MatchVideoRequest with_frames = header;
  v1::VideoFrame* f = with_frames.mutable_header()->add_frames();
  f->set_pdq(std::string(32, '\x5a'));
  f->set_quality(90);
  s = CallMatchVideo(follower.channel(), {with_frames, chunk}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = CallMatchVideo(follower.channel(), {with_frames}, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(response.content_ref(), "u1");

  // The cropped copy: the vPDQ entry has whole-frame hashes only.
  const std::string crop_path = clips.Path("e2e_crop.mp4");
  r = RunBinary(HASHMATCH_BINARY, {"match", "--video", "--server",
                                   follower.address(), crop_path});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\tNO_MATCH\t")) << r.out;

  // Retracted: the copy no longer matches on the follower.
  r = RunBinary(HASHMATCH_BINARY,
                {"entry", "retract", entry_id, "--reason", "test", "--server",
                 ingest.address(), "--token", agency});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(follower.WaitApplied(ingest.LastSequence()));
  r = RunBinary(HASHMATCH_BINARY, {"match", "--video", "--server",
                                   follower.address(), copy_path});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\tNO_MATCH\t")) << r.out;

  // The same clip imported from the video itself (import --format video:
  // hashed here with each frame's centre windows): the cropped and the
  // watermarked copies MATCH it, streamed and hash-only.
  r = RunBinary(HASHMATCH_BINARY,
                {"import", "--format", "video", "--external_id", "clip-8",
                 clips.Path("e2e_orig.mp4"), "--server", ingest.address(),
                 "--token", agency});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "(clip-8, ")) << r.out;
  const std::string windowed_id =
      r.out.substr(r.out.find("video entry ") + 12,
                   r.out.find(" (") - r.out.find("video entry ") - 12);
  ASSERT_TRUE(follower.WaitApplied(ingest.LastSequence()));
  const std::pair<std::string, bool> uploads[] = {
      {crop_path, false},
      {crop_path, true},
      {clips.Path("e2e_marked.mp4"), false}};
  for (const auto& [path, hashes_only] : uploads) {
    std::vector<std::string> args = {"match", "--video", "--server",
                                     follower.address(), path};
    if (hashes_only) args.push_back("--hashes");
    r = RunBinary(HASHMATCH_BINARY, args);
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_TRUE(absl::StrContains(
        r.out,
        "\tMATCH\tvideo_frames_percent\tentry=" + windowed_id + " signal=vpdq"))
        << r.out;
  }
  // Bad input: not a video.
  r = RunBinary(HASHMATCH_BINARY,
                {"import", "--format", "video", junk, "--server",
                 ingest.address(), "--token", agency});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "nothing was submitted")) << r.err;

  EXPECT_EQ(follower.process().Stop(SIGTERM), 0) << follower.process().Stderr();
  // No media in the logs: the junk bytes never appear.
  EXPECT_FALSE(absl::StrContains(follower.process().Stderr(), "jjjjjjjj"));
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
}

}  // namespace
}  // namespace hashmatch
