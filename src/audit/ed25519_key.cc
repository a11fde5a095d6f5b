#include "src/audit/ed25519_key.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace audit {
namespace {

constexpr size_t kRawKeyBytes = 32;
constexpr size_t kSignatureBytes = 64;

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

std::shared_ptr<EVP_PKEY> Wrap(EVP_PKEY* pkey) {
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

absl::StatusOr<std::string> RawPublic(EVP_PKEY* pkey) {
  std::string raw(kRawKeyBytes, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(
          pkey, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kRawKeyBytes) {
    return absl::InternalError(
        absl::StrCat("reading the Ed25519 public key: ", OpenSslError()));
  }
  return raw;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, len > 0 ? static_cast<size_t>(len) : 0);
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status WriteNewFile(const std::string& path, absl::string_view data,
                          mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating ", path));
  // open() applies the umask; make the mode exact.
  absl::Status status;
  if (::fchmod(fd, mode) != 0) {
    status = ErrnoStatus(errno, absl::StrCat("chmod ", path));
  }
  size_t done = 0;
  while (status.ok() && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoStatus(errno, absl::StrCat("writing ", path));
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoStatus(errno, absl::StrCat("fsync ", path));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = ErrnoStatus(errno, absl::StrCat("closing ", path));
  }
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

}  // namespace

PublicKey::PublicKey(std::shared_ptr<EVP_PKEY> pkey, std::string raw)
    : pkey_(std::move(pkey)), raw_(std::move(raw)), key_id_(Sha256(raw_)) {}

absl::StatusOr<PublicKey> PublicKey::FromPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a PEM public key (SubjectPublicKeyInfo): ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Wrap(pkey);
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("the public key is not an Ed25519 key");
  }
  ASSIGN_OR_RETURN(std::string raw, RawPublic(pkey));
  return PublicKey(std::move(owned), std::move(raw));
}

absl::StatusOr<PublicKey> PublicKey::FromRaw(absl::string_view raw) {
  if (raw.size() != kRawKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 public key is 32 bytes, got ", raw.size()));
  }
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad Ed25519 public key: ", OpenSslError()));
  }
  return PublicKey(Wrap(pkey), std::string(raw));
}

std::string PublicKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    return "";
  }
  return BioContents(bio.get());
}

bool PublicKey::Verify(absl::string_view message,
                       absl::string_view signature) const {
  if (signature.size() != kSignatureBytes) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return false;
  bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) ==
          1 &&
      EVP_DigestVerify(ctx.get(),
                       reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  ERR_clear_error();
  return ok;
}

SigningKey::SigningKey(std::shared_ptr<EVP_PKEY> pkey, PublicKey public_key)
    : pkey_(std::move(pkey)), public_key_(std::move(public_key)) {}

absl::StatusOr<SigningKey> SigningKey::Generate() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (pkey == nullptr) {
    return absl::InternalError(
        absl::StrCat("generating an Ed25519 key: ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Wrap(pkey);
  ASSIGN_OR_RETURN(std::string raw, RawPublic(pkey));
  ASSIGN_OR_RETURN(PublicKey pub, PublicKey::FromRaw(raw));
  return SigningKey(std::move(owned), std::move(pub));
}

absl::StatusOr<SigningKey> SigningKey::FromPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  // A null password callback with an empty password: an encrypted key fails
  // here instead of prompting on the terminal.
  char empty[] = "";
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, empty);
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an unencrypted PEM private key: ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Wrap(pkey);
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("the private key is not an Ed25519 key");
  }
  ASSIGN_OR_RETURN(std::string raw, RawPublic(pkey));
  ASSIGN_OR_RETURN(PublicKey pub, PublicKey::FromRaw(raw));
  return SigningKey(std::move(owned), std::move(pub));
}

absl::StatusOr<std::string> SigningKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0,
                                    nullptr, nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("encoding the private key: ", OpenSslError()));
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> SigningKey::Sign(absl::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string signature(kSignatureBytes, '\0');
  size_t len = signature.size();
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) !=
          1 ||
      EVP_DigestSign(ctx.get(),
                     reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      len != kSignatureBytes) {
    return absl::InternalError(
        absl::StrCat("Ed25519 signing failed: ", OpenSslError()));
  }
  return signature;
}

absl::StatusOr<SigningKey> LoadSigningKey(absl::string_view path) {
  ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path, kMaxKeyFileBytes));
  absl::StatusOr<SigningKey> key = SigningKey::FromPem(pem);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<PublicKey> LoadPublicKey(absl::string_view path) {
  ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path, kMaxKeyFileBytes));
  absl::StatusOr<PublicKey> key = PublicKey::FromPem(pem);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

absl::Status WriteKeyPair(const SigningKey& key, absl::string_view prefix) {
  if (prefix.empty()) return absl::InvalidArgumentError("empty key prefix");
  const std::string key_path = absl::StrCat(prefix, ".key");
  const std::string pub_path = absl::StrCat(prefix, ".pub");
  struct stat st;
  if (::stat(pub_path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat(pub_path, " exists; refusing to overwrite a key"));
  }
  ASSIGN_OR_RETURN(std::string private_pem, key.ToPem());
  const std::string public_pem = key.public_key().ToPem();
  if (public_pem.empty()) {
    return absl::InternalError("encoding the public key failed");
  }
  RETURN_IF_ERROR(WriteNewFile(key_path, private_pem, 0600));
  absl::Status status = WriteNewFile(pub_path, public_pem, 0644);
  if (!status.ok()) ::unlink(key_path.c_str());
  return status;
}

}  // namespace audit
}  // namespace hashmatch
