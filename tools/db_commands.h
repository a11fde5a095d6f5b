// The `hashmatch db` subcommands: inspect a hash store directory.
//
//   hashmatch db stats DIR            counts per signal type and state
//   hashmatch db verify DIR [--snapshot_dir SNAP]
//                                     index built from the store (or loaded
//                                     from the snapshot files in SNAP and
//                                     caught up) vs the store; lists up to
//                                     100 missing and extra ids per signal
//   hashmatch db dump DIR [--limit N] one JSON line per entry
//
// Every subcommand opens an existing store read-only (never creates one: a
// missing DIR is a NOT_FOUND error, exit 1), without RocksDB's lock, so they
// work while a server holds the store; they see it as of their own open. Exit
// codes as in commands.h; verify also exits 1 when the index and the store
// disagree.
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_DB_COMMANDS_H_
#define HASHMATCH_TOOLS_DB_COMMANDS_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/store/hash_store.h"

namespace hashmatch {
namespace cli {

// Opens the existing store in `dir` read-only, without RocksDB's lock (see
// StoreOptions::read_only); never creates one (NOT_FOUND when missing).
absl::StatusOr<std::unique_ptr<HashStore>> OpenStoreReadOnly(
    const std::string& dir);

// `args` are the arguments after `db`.
int RunDb(const std::vector<std::string>& args, std::ostream& out,
          std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_DB_COMMANDS_H_
