// The `hashmatch entry` subcommand: reads and curates the vetted entries of
// an ingest_server through hashmatch.v1.IngestService.
//
//   hashmatch entry get ID | --agency A --external_id X     CLIENT_FLAGS
//   hashmatch entry list [--state S,..] [--type T,..] [--agency A]
//       [--updated_since_micros T] [--page_size N] [--page_token T] [--all]
//   hashmatch entry retract ID --reason TEXT                (agency: its own)
//   hashmatch entry confirm ID [--note TEXT]                (another agency)
//   hashmatch entry dispute ID --reason TEXT [--content_ref R] [--suspend]
//                                                           (platform)
//   hashmatch entry resolve ID --outcome upheld|rejected --resolution TEXT
//                                                           (agency, admin)
//
// Client flags as tools/client_flags.h. Output: one tab-separated line per
// entry: id, signal type, hash (hex), state, source agency, external id,
// classification, endorsing agencies (comma-separated), open/total disputes,
// updated (RFC 3339 UTC). `get` adds one indented line per endorsement,
// dispute and retraction. `list` prints one page and, when there is more,
// "next_page_token: T" on stderr; --all follows every page. --json prints
// each entry (or response) as protobuf JSON on one line instead. The
// mutating commands print the entry as it is after the change and its store
// sequence on stderr. Errors go to stderr as
// "hashmatch: entry: CODE_NAME: message".
//
// Exit codes: 0 done, 1 the RPC failed, 2 usage error.
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_ENTRY_COMMAND_H_
#define HASHMATCH_TOOLS_ENTRY_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "proto/hashmatch/v1/entry.pb.h"

namespace hashmatch {
namespace cli {

// `args` are the arguments after `entry`.
int RunEntry(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

// The tab-separated summary line of `entry` (with its "\n").
std::string EntryLine(const hashmatch::v1::Entry& entry);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_ENTRY_COMMAND_H_
