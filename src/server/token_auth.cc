#include "src/server/token_auth.h"

#include <openssl/crypto.h>

#include <cstdint>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/common/file_util.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace server {

std::string TokenDigest(absl::string_view token) { return Sha256(token); }

std::optional<size_t> FindDigestConstantTime(absl::string_view packed,
                                             absl::string_view digest) {
  if (digest.size() != kTokenDigestBytes) return std::nullopt;
  uint64_t want[4];
  std::memcpy(want, digest.data(), sizeof(want));
  const size_t count = packed.size() / kTokenDigestBytes;
  // found = index + 1 of the (last) equal digest, 0 for none; selected with
  // masks, not branches.
  uint64_t found = 0;
  for (size_t i = 0; i < count; ++i) {
    uint64_t words[4];
    std::memcpy(words, packed.data() + i * kTokenDigestBytes, sizeof(words));
    const uint64_t diff = (words[0] ^ want[0]) | (words[1] ^ want[1]) |
                          (words[2] ^ want[2]) | (words[3] ^ want[3]);
    // All ones when diff == 0, else 0.
    const uint64_t equal = ((diff | (0 - diff)) >> 63) - 1;
    found = (found & ~equal) | ((i + 1) & equal);
  }
  if (found == 0) return std::nullopt;
  return static_cast<size_t>(found - 1);
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text) {
  TokenTable table;
  std::set<std::string> platforms;
  std::set<std::string> digests;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens line ", line_number,
                       ": expected \"PLATFORM_NAME SHA256_HEX_OF_TOKEN\", got ",
                       fields.size(), " fields"));
    }
    const absl::string_view hex = fields[1];
    bool all_hex = hex.size() == 64;
    for (char c : hex) all_hex = all_hex && absl::ascii_isxdigit(c);
    if (!all_hex) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens line ", line_number,
                       ": the digest must be 64 hex digits (SHA-256 of the "
                       "token), got ",
                       hex.size(), " characters"));
    }
    std::string platform(fields[0]);
    std::string digest = absl::HexStringToBytes(absl::AsciiStrToLower(hex));
    if (!platforms.insert(platform).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens line ", line_number, ": platform \"",
                       absl::CEscape(platform), "\" listed twice"));
    }
    if (!digests.insert(digest).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens line ", line_number,
                       ": the same token digest is listed "
                       "twice"));
    }
    table.packed_digests_ += digest;
    table.entries_.push_back({std::move(platform), std::move(digest)});
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError("tokens file has no entries");
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat("--tokens_file ", path, ": ", text.status().message()));
  }
  absl::StatusOr<TokenTable> table = Parse(*text);
  if (!table.ok()) {
    return absl::Status(
        table.status().code(),
        absl::StrCat("--tokens_file ", path, ": ", table.status().message()));
  }
  return table;
}

absl::StatusOr<std::string> TokenTable::Authenticate(
    absl::string_view authorization) const {
  authorization = absl::StripAsciiWhitespace(authorization);
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing API token (metadata \"authorization: Bearer TOKEN\")");
  }
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(authorization, kScheme)) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata (expected \"Bearer TOKEN\")");
  }
  const absl::string_view token =
      absl::StripLeadingAsciiWhitespace(authorization.substr(kScheme.size()));
  const std::optional<size_t> found =
      FindDigestConstantTime(packed_digests_, TokenDigest(token));
  if (!found) return absl::UnauthenticatedError("unknown API token");
  return entries_[*found].platform;
}

}  // namespace server
}  // namespace hashmatch
