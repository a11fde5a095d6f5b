#include "src/server/server_credentials.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

// A P-256 key and a self-signed certificate for it, as PEM.
struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

KeyAndCert MakeSelfSigned(const char* common_name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  KeyAndCert out;
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = BioText(kb);
  BIO_free(kb);
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  out.cert_pem = BioText(cb);
  BIO_free(cb);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

class ServerCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hm_creds_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(ServerCredentialsTest, NoFilesIsPlaintext) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> c =
      MakeServerCredentials("", "", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(*c, nullptr);
}

TEST_F(ServerCredentialsTest, MatchingKeyAndCertGiveTlsAndMtls) {
  const KeyAndCert server = MakeSelfSigned("localhost");
  const KeyAndCert ca = MakeSelfSigned("test-ca");
  const std::string cert = Write("server.pem", server.cert_pem);
  const std::string key = Write("server.key", server.key_pem);
  const std::string ca_path = Write("ca.pem", ca.cert_pem);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls =
      MakeServerCredentials(cert, key, "");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_NE(*tls, nullptr);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> mtls =
      MakeServerCredentials(cert, key, ca_path);
  ASSERT_TRUE(mtls.ok()) << mtls.status();
  EXPECT_NE(*mtls, nullptr);
}

TEST_F(ServerCredentialsTest, BadFilesAreSpecificErrors) {
  const KeyAndCert a = MakeSelfSigned("a");
  const KeyAndCert b = MakeSelfSigned("b");
  const std::string cert = Write("a.pem", a.cert_pem);
  const std::string key = Write("a.key", a.key_pem);
  const std::string other_key = Write("b.key", b.key_pem);
  const std::string junk = Write("junk.pem", "not a pem file\n");
  struct Case {
    std::string cert, key, ca;
    absl::StatusCode code;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {cert, other_key, "", absl::StatusCode::kInvalidArgument,
            "does not match --tls_cert"},
           {junk, key, "", absl::StatusCode::kInvalidArgument,
            "--tls_cert " + junk + ": no PEM certificate"},
           {cert, junk, "", absl::StatusCode::kInvalidArgument,
            "--tls_key " + junk + ": no unencrypted PEM private key"},
           {cert, key, junk, absl::StatusCode::kInvalidArgument,
            "--tls_client_ca " + junk + ": no PEM certificate"},
           {dir_ + "/missing.pem", key, "", absl::StatusCode::kNotFound,
            "--tls_cert " + dir_ + "/missing.pem"},
           {cert, "", "", absl::StatusCode::kInvalidArgument, "together"},
           {"", "", cert, absl::StatusCode::kInvalidArgument,
            "--tls_client_ca needs"},
       }) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> r =
        MakeServerCredentials(c.cert, c.key, c.ca);
    ASSERT_FALSE(r.ok()) << c.message_part;
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_NE(r.status().message().find(c.message_part),
              absl::string_view::npos)
        << r.status() << " wanted " << c.message_part;
  }
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
