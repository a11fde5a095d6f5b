// The `hashmatch match` subcommand: asks a running match_server about files.
//
//   hashmatch match --server 127.0.0.1:50051 photo.jpg other.png
//   hashmatch match --server host:443 --tls_ca ca.pem --hashes photo.jpg
//
// Per file, either MatchImage with the file's bytes, or (--hashes) the file
// is hashed locally (PDQ with quality, MD5, SHA-256; src/hashing) and only
// the hashes are sent with MatchHashes: the privacy-preserving path, no
// media leaves the machine. Files are read with a size limit and asked one
// at a time, in order.
//
// Output (stdout), one line per answered file, tab-separated:
//   PATH VERDICT RULE BEST index_sequence=N
// e.g. "a.jpg  MATCH  pdq_threshold  entry=3 distance=6 variant=original
// index_sequence=12"; BEST is "-" when nothing matched. --json prints one
// object per file instead: {"path":...,"response":{MatchResponse as JSON}}
// or {"path":...,"error":{"code":"INVALID_ARGUMENT","message":...}}.
// Errors go to stderr as "hashmatch: match: PATH: CODE_NAME: message".
//
// Exit codes (also in the usage text):
//   0 every file was answered and none is MATCH;
//   1 some file could not be read or its RPC failed, and none is MATCH;
//   2 usage error;
//   3 at least one file is MATCH (whatever happened to the others: a match
//     is never hidden behind another file's error).
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_MATCH_COMMAND_H_
#define HASHMATCH_TOOLS_MATCH_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

inline constexpr int kExitMatch = 3;

// `args` are the arguments after `match`. The token may also come from the
// environment variable HASHMATCH_TOKEN (the flag wins).
int RunMatch(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_MATCH_COMMAND_H_
