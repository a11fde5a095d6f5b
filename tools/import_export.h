// The `hashmatch import` and `hashmatch export` subcommands: hash lists in
// the formats of src/hashlist (csv, jsonl, hashmatch) to and from an
// ingestion server, and export offline from a store directory.
//
//   hashmatch import --server ADDR --format csv hashes.csv
//   hashmatch import --format jsonl --dry_run list.jsonl
//   hashmatch export --server ADDR --format hashmatch --out all.hml
//   hashmatch export --db DIR/store --format csv --states active
//
// import reads the whole file (at most --max_file_bytes), validates every
// row (src/hashlist/hash_list_format.h) and submits NOTHING if any row is
// bad: it prints every error as "hashmatch: import: FILE:LINE: message" (up
// to --max_errors) and exits 1. A good file is sent with
// IngestService.Submit in batches of --batch_size, in file order. Submit is
// idempotent by (caller agency, external_id) and rows without an
// external_id get the deterministic "<signal>:<hex>", so re-running an
// interrupted import completes it without duplicates. From a lossless file
// only external_id, signal type, hash, quality (when not 0),
// classification and note are submitted (the server assigns ids, times,
// states, the caller's agency and endorsements); tombstones (RETRACTED) are
// skipped and counted. --dry_run validates only (no --server needed).
//
// export writes every entry that passes the filter flags, in id order,
// from IngestService.ExportEntries (--server) or from the store in --db DIR
// opened read-only (works while a server holds it), to --out FILE (written
// to FILE.tmp then renamed, so a failed export never leaves a complete-
// looking FILE) or stdout. A summary goes to stderr.
//
// Exit codes: 0 success; 1 a bad file, an RPC or I/O failure (import: what
// was stored before the failure is named; re-run to complete); 2 usage.
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_IMPORT_EXPORT_H_
#define HASHMATCH_TOOLS_IMPORT_EXPORT_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

// `args` are the arguments after `import` / `export`. The token may also
// come from HASHMATCH_TOKEN (client_flags.h).
int RunImport(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err);
int RunExport(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_IMPORT_EXPORT_H_
