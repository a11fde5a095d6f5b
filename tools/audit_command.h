// The `hashmatch audit` subcommands: the audit log's signing key and its
// verification.
//
//   hashmatch audit keygen --out PREFIX
//       writes PREFIX.key (Ed25519, PKCS#8 PEM, mode 0600; give it to
//       ingest_server --audit_key) and PREFIX.pub (for auditors); never
//       overwrites.
//   hashmatch audit verify --log DATA/audit --public_key PREFIX.pub[,OLD.pub]
//   hashmatch audit verify --server ADDR [--token T] [--tls_ca CA ...]
//                          --public_key PREFIX.pub
//       [--max_unsigned_tail N] [--expect_checkpoint INDEX:HEX]
//       [--timeout_ms MS]           (--server: the whole read; default 600000)
//
// verify reads every record (from the file, read-only, or from
// AuditService.ReadAuditLog as an auditor or admin) and checks the chain and
// every checkpoint signature (src/audit/audit_record.h). It prints
//   records checked: N
//   checkpoints verified: C
//   unsigned tail: T
//   last checkpoint: INDEX:HEX     (remember it; pass it as
//                                   --expect_checkpoint next time)
// and either "valid" or "INVALID at record I: REASON: details" (REASON one
// of index gap, prev_hash break, hash mismatch, bad signature, malformed,
// anchor mismatch, unsigned tail). --max_unsigned_tail N fails a log with
// more than N records after its last verified checkpoint (0 for a cleanly
// stopped server); --expect_checkpoint fails a log that lacks that
// checkpoint or differs there (truncation past it).
//
// Exit codes: 0 valid; 1 tampered or invalid, or the log could not be read;
// 2 usage error (including an unreadable key file).
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_AUDIT_COMMAND_H_
#define HASHMATCH_TOOLS_AUDIT_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

// `args` are the arguments after `audit`.
int RunAudit(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_AUDIT_COMMAND_H_
