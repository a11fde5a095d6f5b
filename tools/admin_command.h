// The `hashmatch admin` subcommand: manages an ingest_server's principals
// through hashmatch.v1.AdminService (the caller needs the admin role).
//
//   hashmatch admin principal add NAME --role agency[,auditor] [--certificate]
//       [--no_token | --out FILE] [--may_submit_media] [--note TEXT]
//       --server ADDR ...
//   hashmatch admin principal list [--include_revoked] --server ADDR ...
//   hashmatch admin principal revoke NAME --reason TEXT --server ADDR ...
//
// Client flags as tools/client_flags.h (--token_file F, --token T or
// $HASHMATCH_TOKEN; TLS/mTLS). `add` prints the new token, alone on one line
// of stdout, exactly once (the server keeps only its SHA-256); a summary goes
// to stderr. With --out FILE it writes the token line to FILE instead (never
// to stdout, also not in --json): FILE is created new with mode 0600
// whatever the umask, before the AddPrincipal call, so an existing FILE
// (never overwritten, nor a symlink followed) or an unwritable one is a
// usage error and no principal is added; FILE is removed if the call fails.
// `list` prints one tab-separated line per principal: NAME, roles
// (comma-separated), auth ("token", "certificate" or "token,certificate"),
// created (RFC 3339 UTC), revoked (RFC 3339 or "-"), note. --json prints the
// responses as JSON instead. Errors go to stderr as
// "hashmatch: admin: CODE_NAME: message".
//
// Exit codes: 0 done, 1 the RPC failed, 2 usage error.
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_ADMIN_COMMAND_H_
#define HASHMATCH_TOOLS_ADMIN_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

// `args` are the arguments after `admin`.
int RunAdmin(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_ADMIN_COMMAND_H_
