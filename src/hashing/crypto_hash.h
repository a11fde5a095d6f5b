// Cryptographic digests of the encoded bytes: the exact-match lane (a file
// re-shared unchanged has the same MD5 and SHA-256). OpenSSL from Debian.
//
//   std::string hex = Sha256Hex(bytes);
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_HASHING_CRYPTO_HASH_H_
#define HASHMATCH_SRC_HASHING_CRYPTO_HASH_H_

#include <string>

#include "absl/strings/string_view.h"

namespace hashmatch {

// Raw digests (16 and 32 bytes).
std::string Md5(absl::string_view data);
std::string Sha256(absl::string_view data);

// Lower-case hex of the digests.
std::string Md5Hex(absl::string_view data);
std::string Sha256Hex(absl::string_view data);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_CRYPTO_HASH_H_
