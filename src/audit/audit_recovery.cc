#include "src/audit/audit_recovery.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace audit {

absl::StatusOr<AuditRecovery> AuditUnauditedChanges(const HashStore& store,
                                                    AuditLog* log,
                                                    size_t batch) {
  if (batch == 0) return absl::InvalidArgumentError("batch must be >= 1");
  const uint64_t store_last = store.LastSequence();
  if (log->last_store_sequence() > store_last) {
    return absl::DataLossError(absl::StrCat(
        "the audit log records store sequence ", log->last_store_sequence(),
        " but the store's last sequence is ", store_last,
        ": the store lost committed changes"));
  }
  AuditRecovery result;
  uint64_t after = log->audited_through();
  while (after < store_last) {
    ASSIGN_OR_RETURN(std::vector<hashmatch::v1::Change> changes,
                     store.ChangesSince(after, batch));
    if (changes.empty()) break;
    std::vector<ingest::AuditEvent> events;
    for (const hashmatch::v1::Change& change : changes) {
      ++result.changes_scanned;
      after = change.sequence();
      if (log->IsStoreSequenceAudited(change.sequence())) continue;
      ingest::AuditEvent& e = events.emplace_back();
      e.actor = "system";
      e.action = change.kind() == hashmatch::v1::Change::KIND_RETRACT
                     ? "retract"
                     : "upsert";
      e.target = absl::StrCat("entry:", change.entry().id());
      e.state_after = change.entry().SerializeAsString();
      e.store_sequence = change.sequence();
      e.detail = std::string(kRecoveredDetail);
    }
    if (!events.empty()) {
      RETURN_IF_ERROR(log->Append(events));
      result.records_appended += events.size();
    }
  }
  return result;
}

}  // namespace audit
}  // namespace hashmatch
