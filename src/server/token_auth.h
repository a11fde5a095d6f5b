// TokenTable: per-platform API tokens for MatchService.
//
// The tokens file holds one platform per line,
//
//   # comment
//   platform-a 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
//
// i.e. the platform name and the lowercase or uppercase hex SHA-256 of its
// token; the server never stores tokens themselves. A request authenticates
// with the metadata "authorization: Bearer TOKEN"; the platform name is its
// principal in logs.
//
//   ASSIGN_OR_RETURN(TokenTable table, TokenTable::LoadFile(path));
//   ASSIGN_OR_RETURN(std::string platform, table.Authenticate(header));
//
// Digest comparison is constant-time and touches every entry, so timing
// does not reveal which digest (or how much of one) matched.
//
// Thread safety: const methods may be called concurrently.
#ifndef HASHMATCH_SRC_SERVER_TOKEN_AUTH_H_
#define HASHMATCH_SRC_SERVER_TOKEN_AUTH_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace server {

// The digest kept for a bearer token: its SHA-256, 32 raw bytes.
std::string TokenDigest(absl::string_view token);

// Digests packed back to back, kTokenDigestBytes each, for
// FindDigestConstantTime.
inline constexpr size_t kTokenDigestBytes = 32;

// The index i of the digest in `packed` (i * kTokenDigestBytes onwards)
// equal to `digest`, or nullopt (also when `digest` is not 32 bytes). Every
// digest is compared in full with branch-free word operations and there is
// no early exit, so the time taken does not reveal which entry (or how much
// of one) matched. Shared by TokenTable and the ingestion server's principal
// store. Measured (bench/principal_auth_bench): see docs/performance.md.
std::optional<size_t> FindDigestConstantTime(absl::string_view packed,
                                             absl::string_view digest);

class TokenTable {
 public:
  // Parses the file format above. INVALID_ARGUMENT (with the line number)
  // for a line that is not "NAME HEX64", a digest that is not 64 hex digits,
  // a platform named twice, a digest listed twice, or no entries at all.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text);
  // Reads (at most 1 MiB) and parses `path`; file errors name the path.
  static absl::StatusOr<TokenTable> LoadFile(const std::string& path);

  // `authorization` is the metadata value ("Bearer TOKEN"; the scheme is
  // case-insensitive). Returns the platform name, or UNAUTHENTICATED:
  // "missing API token" (empty/absent), "malformed authorization metadata"
  // (not Bearer), "unknown API token".
  absl::StatusOr<std::string> Authenticate(
      absl::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string platform;
    std::string digest;  // 32 raw bytes.
  };
  std::vector<Entry> entries_;
  std::string packed_digests_;  // entries_[i].digest at i * 32.
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_TOKEN_AUTH_H_
