#include "src/common/file_util.h"

#include <unistd.h>

#include <cstdio>
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

}  // namespace
}  // namespace hashmatch
