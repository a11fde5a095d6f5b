#include "src/server/server_credentials.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_util.h"

namespace hashmatch {
namespace server {
namespace {

constexpr size_t kMaxPemBytes = 1 << 20;

absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, kMaxPemBytes);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat("--", flag, " ", path, ": ", text.status().message()));
  }
  return text;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> MemBio(const std::string& text) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The first certificate in `pem`, or null.
std::unique_ptr<X509, X509Deleter> FirstCert(const std::string& pem) {
  auto bio = MemBio(pem);
  if (!bio) return nullptr;
  return std::unique_ptr<X509, X509Deleter>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_path, const std::string& key_path,
    const std::string& client_ca_path) {
  if (cert_path.empty() && key_path.empty()) {
    if (!client_ca_path.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (cert_path.empty() || key_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together");
  }
  absl::StatusOr<std::string> cert = ReadPem("tls_cert", cert_path);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("tls_key", key_path);
  if (!key.ok()) return key.status();

  std::unique_ptr<X509, X509Deleter> x509 = FirstCert(*cert);
  ERR_clear_error();
  if (!x509) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert ", cert_path, ": no PEM certificate found"));
  }
  std::unique_ptr<EVP_PKEY, KeyDeleter> pkey;
  {
    auto bio = MemBio(*key);
    if (bio) {
      pkey.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    }
  }
  ERR_clear_error();
  if (!pkey) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key ", key_path, ": no unencrypted PEM private key found"));
  }
  if (X509_check_private_key(x509.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key ", key_path, " does not match --tls_cert ", cert_path));
  }

  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!client_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadPem("tls_client_ca", client_ca_path);
    if (!ca.ok()) return ca.status();
    if (!FirstCert(*ca)) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls_client_ca ", client_ca_path, ": no PEM certificate found"));
    }
    options.pem_root_certs = *std::move(ca);
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  pair.private_key = *std::move(key);
  pair.cert_chain = *std::move(cert);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeFollowChannelCredentials(const std::string& ca_path,
                             const std::string& cert_path,
                             const std::string& key_path) {
  if (ca_path.empty()) {
    if (!cert_path.empty() || !key_path.empty()) {
      return absl::InvalidArgumentError(
          "--follow_tls_cert/--follow_tls_key need --follow_tls_ca");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (cert_path.empty() != key_path.empty()) {
    return absl::InvalidArgumentError(
        "--follow_tls_cert and --follow_tls_key must be given together");
  }
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> ca = ReadPem("follow_tls_ca", ca_path);
  if (!ca.ok()) return ca.status();
  if (!FirstCert(*ca)) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--follow_tls_ca ", ca_path, ": no PEM certificate found"));
  }
  options.pem_root_certs = *std::move(ca);
  if (!cert_path.empty()) {
    absl::StatusOr<std::string> cert = ReadPem("follow_tls_cert", cert_path);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem("follow_tls_key", key_path);
    if (!key.ok()) return key.status();
    if (!FirstCert(*cert)) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          "--follow_tls_cert ", cert_path, ": no PEM certificate found"));
    }
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::string> ReadBearerTokenFile(absl::string_view flag,
                                                const std::string& path) {
  absl::StatusOr<std::string> token = ReadFileToString(path, 4096);
  if (!token.ok()) {
    return absl::Status(
        token.status().code(),
        absl::StrCat(flag, " ", path, ": ", token.status().message()));
  }
  std::string t(absl::StripAsciiWhitespace(*token));
  if (t.empty() || t.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": expected one token on one line"));
  }
  return t;
}

}  // namespace server
}  // namespace hashmatch
