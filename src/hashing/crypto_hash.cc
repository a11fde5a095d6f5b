#include "src/hashing/crypto_hash.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "src/hashing/bit_hash.h"

namespace hashmatch {
namespace {

std::string Digest(const EVP_MD* md, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    // Only fails on allocation failure inside OpenSSL.
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace

std::string Md5(absl::string_view data) { return Digest(EVP_md5(), data); }
std::string Sha256(absl::string_view data) {
  return Digest(EVP_sha256(), data);
}
std::string Md5Hex(absl::string_view data) { return BytesToHex(Md5(data)); }
std::string Sha256Hex(absl::string_view data) {
  return BytesToHex(Sha256(data));
}

}  // namespace hashmatch
