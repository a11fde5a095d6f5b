// WriteFileAtomically (match_server.h), used for --port_file and
// --metrics_port_file.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "src/server/match_server.h"

namespace hashmatch {
namespace server {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(WriteFileAtomicallyTest, WritesAndReplacesWithoutLeavingTempFiles) {
  char tmpl[] = "/tmp/hm_atomic_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/port";
  ASSERT_TRUE(WriteFileAtomically(path, "50051\n").ok());
  EXPECT_EQ(Read(path), "50051\n");
  ASSERT_TRUE(WriteFileAtomically(path, "7\n").ok());
  EXPECT_EQ(Read(path), "7\n");
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  struct stat st;
  EXPECT_NE(stat(tmp.c_str(), &st), 0);  // The temporary is renamed away.
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST(WriteFileAtomicallyTest, MissingDirectoryIsAnErrorNamingThePath) {
  absl::Status s = WriteFileAtomically("/nonexistent/hm/port", "1\n");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("/nonexistent/hm/port"), absl::string_view::npos)
      << s;
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
