#include "src/ingest/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace ingest {
namespace {

constexpr char kTokenVersion = 1;
constexpr size_t kFingerprintBytes = 16;
constexpr size_t kTagBytes = 16;
constexpr size_t kTokenBytes = 1 + 8 + kFingerprintBytes + kTagBytes;

std::string Hmac(const std::string& key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Fingerprint(absl::string_view filter_bytes) {
  return Sha256(filter_bytes).substr(0, kFingerprintBytes);
}

}  // namespace

PageTokenCodec::PageTokenCodec(std::string key) : key_(std::move(key)) {
  if (!key_.empty()) return;
  key_.resize(32);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key_.data()),
                 static_cast<int>(key_.size())) != 1) {
    // No entropy: fall back to a per-process value that is still unknown to
    // clients in practice (time of construction and address).
    key_ = Sha256(absl::StrCat(
        std::chrono::steady_clock::now().time_since_epoch().count(), ":",
        reinterpret_cast<uintptr_t>(this)));
  }
}

std::string PageTokenCodec::Encode(uint64_t after_id,
                                   absl::string_view filter_bytes) const {
  std::string payload(1, kTokenVersion);
  for (int shift = 56; shift >= 0; shift -= 8) {
    payload.push_back(static_cast<char>((after_id >> shift) & 0xff));
  }
  payload += Fingerprint(filter_bytes);
  payload += Hmac(key_, payload).substr(0, kTagBytes);
  return absl::WebSafeBase64Escape(payload);
}

absl::StatusOr<uint64_t> PageTokenCodec::Decode(
    absl::string_view token, absl::string_view filter_bytes) const {
  const absl::Status garbled = absl::InvalidArgumentError(
      "page_token is not a token this server issued (garbled or forged)");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != kTokenBytes ||
      raw[0] != kTokenVersion) {
    return garbled;
  }
  const std::string payload = raw.substr(0, kTokenBytes - kTagBytes);
  const std::string tag = Hmac(key_, payload).substr(0, kTagBytes);
  if (CRYPTO_memcmp(tag.data(), raw.data() + payload.size(), kTagBytes) != 0) {
    return garbled;
  }
  if (payload.substr(9) != Fingerprint(filter_bytes)) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different filter");
  }
  uint64_t after_id = 0;
  for (int i = 1; i <= 8; ++i) {
    after_id = (after_id << 8) | static_cast<uint8_t>(payload[i]);
  }
  return after_id;
}

}  // namespace ingest
}  // namespace hashmatch
