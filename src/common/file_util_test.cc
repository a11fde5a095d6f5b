#include "src/common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
}

TEST(ReadFileToStringTest, ReadsExactBytes) {
  const std::string path = TempPath("read_ok");
  const std::string data("ab\0cd\xff", 6);
  std::ofstream(path, std::ios::binary) << data;
  auto got = ReadFileToString(path, 100);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, data);
  std::remove(path.c_str());
}

TEST(ReadFileToStringTest, OverLimitIsResourceExhausted) {
  const std::string path = TempPath("read_big");
  std::ofstream(path, std::ios::binary) << std::string(101, 'x');
  auto got = ReadFileToString(path, 100);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(got.status().message().find("101 bytes"), std::string::npos);
  EXPECT_TRUE(ReadFileToString(path, 101).ok());
  std::remove(path.c_str());
}

TEST(ReadFileToStringTest, MissingFileIsNotFound) {
  auto got = ReadFileToString("/nonexistent/hashmatch/file", 100);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
}

TEST(ReadFileToStringTest, DirectoryIsInvalidArgument) {
  auto got = ReadFileToString("/", 100);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
}

// Sets the process umask for one scope (the tests below run one at a time on
// the main thread, and nothing else creates files meanwhile).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  const mode_t old_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Issue 14, defect 6: data directories and files are owner-only whatever
// the umask the process was started with.
class PrivateFilesTest : public ::testing::TestWithParam<mode_t> {
 protected:
  void SetUp() override {
    root_ = TempPath("private_" + std::to_string(GetParam()));
    std::filesystem::remove_all(root_);
    ASSERT_TRUE(std::filesystem::create_directories(root_));
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
};

TEST_P(PrivateFilesTest, CreatePrivateDirectoriesMakesEachNewOne0700) {
  ScopedUmask mask(GetParam());
  ASSERT_TRUE(CreatePrivateDirectories(root_ + "/a/b/c/").ok());
  EXPECT_EQ(ModeOf(root_ + "/a"), 0700u);
  EXPECT_EQ(ModeOf(root_ + "/a/b"), 0700u);
  EXPECT_EQ(ModeOf(root_ + "/a/b/c"), 0700u);
  // Existing directories keep their mode; calling again is OK.
  ASSERT_EQ(::chmod((root_ + "/a").c_str(), 0750), 0);
  ASSERT_TRUE(CreatePrivateDirectories(root_ + "/a/b/d").ok());
  EXPECT_EQ(ModeOf(root_ + "/a"), 0750u);
  EXPECT_EQ(ModeOf(root_ + "/a/b/d"), 0700u);
  EXPECT_TRUE(CreatePrivateDirectories(root_ + "/a/b/d").ok());
  // A file in the way.
  std::ofstream(root_ + "/file") << "x";
  EXPECT_EQ(CreatePrivateDirectories(root_ + "/file/sub").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CreatePrivateDirectories(root_ + "/file").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CreatePrivateDirectories("").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(PrivateFilesTest, OpenPrivateFileMakesRegularFiles0600) {
  ScopedUmask mask(GetParam());
  const std::string path = root_ + "/data";
  absl::StatusOr<int> fd = OpenPrivateFile(path, O_TRUNC);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_EQ(::write(*fd, "abc", 3), 3);
  ::close(*fd);
  EXPECT_EQ(ModeOf(path), 0600u);
  // An existing world-readable file (e.g. a stale temporary file) is made
  // private before anything is written to it.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  fd = OpenPrivateFile(path, O_APPEND);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ::close(*fd);
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(*ReadFileToString(path, 100), "abc");
  EXPECT_EQ(OpenPrivateFile(root_ + "/missing/x", O_TRUNC).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(PrivateFilesTest, CreateNewPrivateFileNeverOverwrites) {
  ScopedUmask mask(GetParam());
  const std::string path = root_ + "/agency.token";
  absl::StatusOr<int> fd = CreateNewPrivateFile(path);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_TRUE(WriteAndSync(*fd, "secret\n", path).ok());
  ::close(*fd);
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(*ReadFileToString(path, 100), "secret\n");

  absl::StatusOr<int> again = CreateNewPrivateFile(path);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("not overwriting"), std::string::npos)
      << again.status();
  EXPECT_EQ(*ReadFileToString(path, 100), "secret\n");
  // Nor through a symlink, dangling or not.
  const std::string link = root_ + "/link.token";
  ASSERT_EQ(::symlink((root_ + "/elsewhere").c_str(), link.c_str()), 0);
  EXPECT_EQ(CreateNewPrivateFile(link).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/elsewhere"));
}

INSTANTIATE_TEST_SUITE_P(Umasks, PrivateFilesTest,
                         ::testing::Values(mode_t{022}, mode_t{0}),
                         [](const ::testing::TestParamInfo<mode_t>& info) {
                           return "umask_0" + std::to_string(info.param / 8) +
                                  std::to_string(info.param % 8);
                         });

}  // namespace
}  // namespace hashmatch
