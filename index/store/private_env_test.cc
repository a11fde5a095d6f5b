// PrivateRocksEnv through HashStore (issue 14, defect 6): every directory
// and file of a store is owner-only, under a permissive umask too.
#include "index/store/private_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"

namespace hashmatch {
namespace {

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  const mode_t old_;
};

// Mode of every entry under `root` (and of `root`), by path.
std::map<std::string, mode_t> Modes(const std::string& root) {
  std::map<std::string, mode_t> out;
  struct stat st;
  if (::lstat(root.c_str(), &st) == 0) out[root] = st.st_mode;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (::lstat(e.path().c_str(), &st) == 0)
      out[e.path().string()] = st.st_mode;
  }
  return out;
}

class PrivateEnvTest : public ::testing::TestWithParam<mode_t> {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/private_env_test_", ::getpid(),
                        "_", GetParam());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(std::filesystem::create_directories(dir_));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_P(PrivateEnvTest, HashStoreDirectoryAndFilesAreOwnerOnly) {
  ScopedUmask mask(GetParam());
  const std::string db = dir_ + "/db";
  for (int round = 0; round < 2; ++round) {  // Created, then reopened.
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(StoreOptions(), db);
    ASSERT_TRUE(store.ok()) << store.status();
    hashmatch::v1::Entry e;
    e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_MD5);
    e.set_hash(std::string(16, static_cast<char>('a' + round)));
    e.set_source_agency("agency-a");
    e.set_external_id(absl::StrCat("x", round));
    e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
    ASSERT_TRUE((*store)->Put({e}).ok());
  }
  const std::map<std::string, mode_t> modes = Modes(db);
  ASSERT_GE(modes.size(), 6u);  // db, CURRENT, MANIFEST, LOG, LOCK, WAL...
  int files = 0;
  for (const auto& [path, mode] : modes) {
    if (S_ISDIR(mode)) {
      EXPECT_EQ(mode & 07777, 0700u) << path;
    } else {
      ++files;
      EXPECT_TRUE(S_ISREG(mode)) << path;
      EXPECT_EQ(mode & 07777, 0600u) << path;
    }
  }
  EXPECT_GE(files, 5);
  EXPECT_EQ(modes.count(db + "/LOG"), 1u);
  EXPECT_EQ(modes.count(db + "/LOCK"), 1u);
}

TEST_P(PrivateEnvTest, AnExistingDirectoryKeepsItsMode) {
  ScopedUmask mask(GetParam());
  const std::string db = dir_ + "/mine";
  ASSERT_TRUE(std::filesystem::create_directory(db));
  ASSERT_EQ(::chmod(db.c_str(), 0750), 0);
  ASSERT_TRUE(HashStore::Open(StoreOptions(), db).ok());
  struct stat st;
  ASSERT_EQ(::stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(::stat((db + "/CURRENT").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

INSTANTIATE_TEST_SUITE_P(Umasks, PrivateEnvTest,
                         ::testing::Values(mode_t{022}, mode_t{0}),
                         [](const ::testing::TestParamInfo<mode_t>& info) {
                           return "umask_0" + std::to_string(info.param / 8) +
                                  std::to_string(info.param % 8);
                         });

}  // namespace
}  // namespace hashmatch
