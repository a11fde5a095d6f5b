// AuditSink: where the ingestion server records every mutation and admin
// action (the tamper-evident audit log in src/audit implements it).
//
//   AuditEvent e;
//   e.actor = principal.name();  e.action = "retract";
//   e.target = absl::StrCat("entry:", id);
//   e.state_before = old_entry.SerializeAsString();
//   e.state_after = tombstone.SerializeAsString();
//   e.store_sequence = sequence;  e.detail = reason;
//   RETURN_IF_ERROR(sink->Append({e}));
//
// Order and crash gap. The service commits to the store first, then appends
// the events; Append returns only once they are durable. A crash between the
// two leaves store changes without audit records: at start the ingestion
// server appends records for the changes after the last audited
// store_sequence (actor "system", detail "recovered after restart"), so
// every change is audited and none twice.
//
// Thread safety: implementations must allow concurrent Append calls; events
// of one call are appended contiguously, in order.
#ifndef HASHMATCH_SRC_INGEST_AUDIT_SINK_H_
#define HASHMATCH_SRC_INGEST_AUDIT_SINK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace hashmatch {
namespace ingest {

struct AuditEvent {
  // The principal that acted ("system" for the server itself).
  std::string actor;
  // "submit", "retract", "confirm", "dispute", "resolve_dispute",
  // "principal_add", "principal_revoke", ...
  std::string action;
  // "entry:<id>" or "principal:<name>".
  std::string target;
  // The target's serialized state before and after (empty: did not exist /
  // does not exist). The sink stores their SHA-256, not the bytes.
  std::string state_before;
  std::string state_after;
  // The store sequence of the change this event describes (0: none).
  uint64_t store_sequence = 0;
  // Reason, resolution or other short text.
  std::string detail;
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Appends `events` durably, in order. An error means none or only some
  // were appended (the log stays a valid chain either way).
  virtual absl::Status Append(absl::Span<const AuditEvent> events) = 0;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_AUDIT_SINK_H_
