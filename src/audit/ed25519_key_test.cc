#include "src/audit/ed25519_key.h"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace audit {
namespace {

using testing_util::TempDir;

TEST(Ed25519KeyTest, SignsAndVerifies) {
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::string> sig = key->Sign("chain head");
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(key->public_key().Verify("chain head", *sig));
  EXPECT_FALSE(key->public_key().Verify("chain heae", *sig));
  std::string bad = *sig;
  bad[10] ^= 1;
  EXPECT_FALSE(key->public_key().Verify("chain head", bad));
  EXPECT_FALSE(key->public_key().Verify("chain head", sig->substr(0, 63)));

  absl::StatusOr<SigningKey> other = SigningKey::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->public_key().Verify("chain head", *sig));
  EXPECT_NE(other->public_key().key_id(), key->public_key().key_id());
  EXPECT_EQ(key->public_key().key_id().size(), 32u);
}

TEST(Ed25519KeyTest, WriteAndLoadKeyPair) {
  TempDir dir("ed25519_key_test");
  ASSERT_FALSE(dir.path().empty());
  const std::string prefix = dir.path() + "/audit";
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(WriteKeyPair(*key, prefix).ok());

  struct stat st;
  ASSERT_EQ(::stat((prefix + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(prefix + ".key");
  std::string first_line;
  std::getline(in, first_line);
  EXPECT_EQ(first_line, "-----BEGIN PRIVATE KEY-----");

  absl::StatusOr<SigningKey> loaded = LoadSigningKey(prefix + ".key");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->public_key().raw(), key->public_key().raw());
  absl::StatusOr<PublicKey> pub = LoadPublicKey(prefix + ".pub");
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->key_id(), key->public_key().key_id());
  absl::StatusOr<std::string> sig = loaded->Sign("m");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(pub->Verify("m", *sig));

  // Never overwrites.
  absl::Status again = WriteKeyPair(*key, prefix);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
}

TEST(Ed25519KeyTest, BadKeyFilesAreNamedErrors) {
  TempDir dir("ed25519_key_test");
  const std::string path = dir.path() + "/junk.pem";
  std::ofstream(path) << "not a key\n";
  absl::StatusOr<SigningKey> key = LoadSigningKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(key.status().message().find(path), std::string::npos);
  EXPECT_EQ(LoadPublicKey(path).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadSigningKey(dir.path() + "/missing.key").status().code(),
            absl::StatusCode::kNotFound);
  // A public key file is not a private key.
  absl::StatusOr<SigningKey> real = SigningKey::Generate();
  ASSERT_TRUE(real.ok());
  std::ofstream(dir.path() + "/x.pub") << real->public_key().ToPem();
  EXPECT_EQ(LoadSigningKey(dir.path() + "/x.pub").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKey::FromRaw("short").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
