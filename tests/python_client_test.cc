// CI for the Python client example: starts a real match_server with
// --seed_demo on a temporary store and port 0, runs
// examples/python/match_client.py (Debian's python3-grpcio; stubs generated
// at run time) against it and checks its output: a resized, recompressed
// copy of a seeded demo photo is a PDQ MATCH, a photo that is not seeded is
// NO_MATCH, and MatchHashes with the seeded photo's PDQ is MATCH.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "opencv2/core.hpp"
#include "opencv2/imgcodecs.hpp"
#include "opencv2/imgproc.hpp"
#include "src/common/file_util.h"
#include "src/hashing/image_hasher.h"
#include "src/match/demo_seed.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

using testing_util::ServerProcess;
using testing_util::TempDir;

TEST(PythonClientTest, MatchesATransformedDemoPhotoAgainstALiveServer) {
  // A photo src/match/demo_seed.h seeds, and one it does not.
  const DemoPhotoPaths photos = DemoPhotos(DemoSeedOptions());
  const std::string kSeededPhoto = photos.seeded;
  const std::string kNotSeededPhoto = photos.other;
  if (access(kSeededPhoto.c_str(), R_OK) != 0 ||
      access(kNotSeededPhoto.c_str(), R_OK) != 0) {
    GTEST_SKIP() << "demo photo packages not installed";
  }
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
  TempDir dir("python_client_test");
  ASSERT_FALSE(dir.path().empty());

  // The transformed upload: 60% size, JPEG quality 70.
  cv::Mat photo = cv::imread(kSeededPhoto, cv::IMREAD_COLOR);
  ASSERT_FALSE(photo.empty());
  cv::Mat small;
  cv::resize(photo, small, cv::Size(), 0.6, 0.6, cv::INTER_AREA);
  const std::string upload = dir.path() + "/upload.jpg";
  ASSERT_TRUE(cv::imwrite(upload, small, {cv::IMWRITE_JPEG_QUALITY, 70}));

  ImageHasher hasher;
  static constexpr Algorithm kPdq[] = {Algorithm::kPdq};
  absl::StatusOr<std::string> seeded_bytes =
      ReadFileToString(kSeededPhoto, 64 << 20);
  ASSERT_TRUE(seeded_bytes.ok());
  absl::StatusOr<ImageHashes> seeded_pdq =
      hasher.HashBytes(*seeded_bytes, kPdq, {});
  ASSERT_TRUE(seeded_pdq.ok()) << seeded_pdq.status();
  const std::string pdq_hex = seeded_pdq->results[0].hex;

  ServerProcess server;
  ASSERT_TRUE(server
                  .Start(MATCH_SERVER_BINARY,
                         {"--db", dir.path() + "/db", "--seed_demo", "--listen",
                          "127.0.0.1:0", "--port_file", dir.path() + "/port",
                          "--metrics_listen", "127.0.0.1:0"},
                         dir.path())
                  .ok());
  absl::StatusOr<int> port = server.WaitForPortFile(dir.path() + "/port");
  ASSERT_TRUE(port.ok()) << port.status();

  testing_util::RunResult r = testing_util::RunBinary(
      "/usr/bin/python3",
      {MATCH_CLIENT_PY, "--server", absl::StrCat("127.0.0.1:", *port),
       "--wait_serving", "30", "--pdq", pdq_hex, upload, kNotSeededPhoto});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(lines[0], "health: SERVING after ")) << lines[0];
  EXPECT_TRUE(absl::StartsWith(lines[1], "index: sequence=")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "pdq_threshold=31")) << lines[1];
  EXPECT_TRUE(absl::StartsWith(
      lines[2], absl::StrCat(upload, "\tMATCH\tpdq_threshold\tentry=")))
      << lines[2];
  EXPECT_TRUE(absl::StrContains(lines[2], " signal=pdq distance=")) << lines[2];
  EXPECT_TRUE(absl::StartsWith(
      lines[3], absl::StrCat(kNotSeededPhoto,
                             "\tNO_MATCH\tno_entry_within_threshold\t-\t")))
      << lines[3];
  EXPECT_TRUE(absl::StartsWith(
      lines[4], absl::StrCat("pdq:", pdq_hex, "\tMATCH\tpdq_threshold\t")))
      << lines[4];
  EXPECT_TRUE(absl::StrContains(lines[4], " distance=0 variant=original"))
      << lines[4];

  // A bad hash gets its specific code in the client's output.
  r = testing_util::RunBinary(
      "/usr/bin/python3", {MATCH_CLIENT_PY, "--server",
                           absl::StrCat("127.0.0.1:", *port), "--pdq", "xyz"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "pdq:xyz\tERROR\tINVALID_ARGUMENT\t"))
      << r.out;

  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Stderr();
}

}  // namespace
}  // namespace hashmatch
