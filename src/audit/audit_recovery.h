// Closing the crash gap between the vetted store and the audit log.
//
// The ingestion service commits a change to the HashStore first and appends
// its audit record second (src/ingest/audit_sink.h). A crash between the two
// leaves store changes without records. At start, before serving writes:
//
//   ASSIGN_OR_RETURN(AuditRecovery r, AuditUnauditedChanges(*store,
//   log.get()));
//   // r.records_appended changes were audited now
//
// appends, for every store change whose sequence has no record yet, a record
// with actor "system", action "upsert" or "retract" (the change's kind),
// target "entry:<id>", digest_after = SHA-256 of the change's serialized
// entry, digest_before empty (the earlier state is not known here),
// store_sequence = the change's sequence and detail "recovered after
// restart". Changes are visited in sequence order from the log's
// audited_through(), so every change ends up audited exactly once, however
// the earlier appends were ordered.
//
// Errors: DATA_LOSS if the log audits store sequences the store does not
// have (the store lost committed changes, e.g. restored from an older
// backup); the store's and the log's errors otherwise.
//
// REQUIRES: nothing else writes to the store or the log during the call.
#ifndef HASHMATCH_SRC_AUDIT_AUDIT_RECOVERY_H_
#define HASHMATCH_SRC_AUDIT_AUDIT_RECOVERY_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "index/store/hash_store.h"
#include "src/audit/audit_log.h"

namespace hashmatch {
namespace audit {

inline constexpr absl::string_view kRecoveredDetail = "recovered after restart";

struct AuditRecovery {
  // Store changes read, and records appended for those without one.
  uint64_t changes_scanned = 0;
  uint64_t records_appended = 0;
};

// `batch` changes are read and appended (one fsync) at a time; >= 1.
absl::StatusOr<AuditRecovery> AuditUnauditedChanges(const HashStore& store,
                                                    AuditLog* log,
                                                    size_t batch = 1000);

}  // namespace audit
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_AUDIT_AUDIT_RECOVERY_H_
