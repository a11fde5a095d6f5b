// Ed25519 keys for signing audit checkpoints: the one wrapper around
// OpenSSL's EVP API in src/audit.
//
//   ASSIGN_OR_RETURN(SigningKey key, SigningKey::Generate());
//   RETURN_IF_ERROR(WriteKeyPair(key, "/etc/hashmatch/audit"));
//       // audit.key (PKCS#8 PEM, mode 0600) and audit.pub (SPKI PEM)
//   ASSIGN_OR_RETURN(SigningKey loaded, LoadSigningKey("/etc/.../audit.key"));
//   ASSIGN_OR_RETURN(std::string sig, loaded.Sign(message));   // 64 bytes
//   ASSIGN_OR_RETURN(PublicKey pub, LoadPublicKey("/etc/.../audit.pub"));
//   bool ok = pub.Verify(message, sig);
//
// Key id: SHA-256 of the raw 32-byte Ed25519 public key (RFC 8032 encoding),
// written to each checkpoint's AuditRecord.key_id.
//
// Thread safety: keys are immutable after construction; Sign and Verify may
// be called concurrently (each call uses its own OpenSSL context). Copies
// share the underlying EVP_PKEY.
#ifndef HASHMATCH_SRC_AUDIT_ED25519_KEY_H_
#define HASHMATCH_SRC_AUDIT_ED25519_KEY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace hashmatch {
namespace audit {

// Largest key file read (PEM): 64 KiB.
inline constexpr size_t kMaxKeyFileBytes = 64 << 10;

class PublicKey {
 public:
  // INVALID_ARGUMENT unless `pem` is a "PUBLIC KEY" (SubjectPublicKeyInfo)
  // PEM block holding an Ed25519 key.
  static absl::StatusOr<PublicKey> FromPem(absl::string_view pem);
  // INVALID_ARGUMENT unless `raw` is 32 bytes.
  static absl::StatusOr<PublicKey> FromRaw(absl::string_view raw);

  // The raw 32-byte key and its id (SHA-256 of the raw key, 32 bytes).
  const std::string& raw() const { return raw_; }
  const std::string& key_id() const { return key_id_; }
  std::string ToPem() const;

  // True iff `signature` is a valid Ed25519 signature of `message`.
  bool Verify(absl::string_view message, absl::string_view signature) const;

 private:
  PublicKey(std::shared_ptr<EVP_PKEY> pkey, std::string raw);
  std::shared_ptr<EVP_PKEY> pkey_;
  std::string raw_;
  std::string key_id_;
};

class SigningKey {
 public:
  // A fresh key from OpenSSL's CSPRNG.
  static absl::StatusOr<SigningKey> Generate();
  // INVALID_ARGUMENT unless `pem` is an unencrypted PKCS#8 "PRIVATE KEY" PEM
  // block holding an Ed25519 key.
  static absl::StatusOr<SigningKey> FromPem(absl::string_view pem);

  const PublicKey& public_key() const { return public_key_; }
  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
  absl::StatusOr<std::string> ToPem() const;
  // The 64-byte Ed25519 signature of `message`.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;

 private:
  SigningKey(std::shared_ptr<EVP_PKEY> pkey, PublicKey public_key);
  std::shared_ptr<EVP_PKEY> pkey_;
  PublicKey public_key_;
};

// Reads a key file written by WriteKeyPair (or `openssl genpkey -algorithm
// ed25519`). NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT naming the path.
absl::StatusOr<SigningKey> LoadSigningKey(absl::string_view path);
absl::StatusOr<PublicKey> LoadPublicKey(absl::string_view path);

// Writes PREFIX.key (PKCS#8 PEM, created with mode 0600) and PREFIX.pub
// (SPKI PEM, 0644), each fsynced. ALREADY_EXISTS if either exists (a key is
// never overwritten); on an error after PREFIX.key was created, it is
// removed.
absl::Status WriteKeyPair(const SigningKey& key, absl::string_view prefix);

}  // namespace audit
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_AUDIT_ED25519_KEY_H_
