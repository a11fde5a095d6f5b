// HashStore: the vetted hash database on RocksDB. Entries (one per agency
// submission of a hash), an index from (signal type, hash) to entry ids, an
// (agency, external id) index, an append-only change log, and metadata with a
// schema version checked at open.
//
//   StoreOptions options;                       // sync = true, ...
//   ASSIGN_OR_RETURN(std::unique_ptr<HashStore> store,
//                    HashStore::Open(options, "/var/lib/hashmatch/store"));
//   hashmatch::v1::Entry e;
//   e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
//   e.set_hash(pdq_bytes);                      // 32 bytes
//   e.set_source_agency("hotline-a");
//   e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
//   ASSIGN_OR_RETURN(std::vector<hashmatch::v1::Entry> stored,
//                    store->Put({e}));          // stored[0].id() != 0
//   RETURN_IF_ERROR(store->Retract(stored[0].id(), "hotline-a", "mistake"));
//
// Writes. Put and Retract each commit ONE RocksDB WriteBatch through the WAL
// (fsynced when StoreOptions::sync): the entries, their hash and external
// rows, one Change per entry with consecutive sequences, and the new meta
// values. A crash leaves every call all-or-nothing.
//
// Retraction. Nothing is deleted. Retract rewrites the entry as a tombstone
// (state RETRACTED, `retraction` = who, when, why, previous state) and
// REMOVES its row from the `hashes` column family, so the searchable set
// (LookupHash, ForEachActive) never sees it; Get and the change log still do.
// The (agency, external id) row keeps pointing at the tombstone.
//
// Upsert rules for Put, per entry:
//   - id != 0: updates that entry (NOT_FOUND if absent, FAILED_PRECONDITION
//     if it is retracted);
//   - id == 0 and (source_agency, external_id) already maps to a live entry:
//     updates that entry (idempotent resubmission);
//   - otherwise creates a new entry with the next id (an external key that
//     maps to a tombstone is re-pointed to the new entry).
//   created_at is kept from the stored entry (set to now on create);
//   updated_at is now. `state` must be PENDING, ACTIVE or DISPUTED (use
//   Retract to retract); `retraction` must be unset; `hash` must have the
//   length of its signal type (PDQ 32, pHash/dHash 8, MD5 16, SHA-256 32).
//   One batch may not name the same id or external key twice.
//
// Errors: INVALID_ARGUMENT for bad input, RESOURCE_EXHAUSTED for a batch over
// StoreOptions::max_batch_entries, FAILED_PRECONDITION for a store written by
// a newer schema (both versions named), DATA_LOSS for a corrupt store. RocksDB
// statuses are converted in one place (FromRocksStatus in hash_store.cc).
//
// Thread safety: all methods may be called concurrently. Writers are
// serialized by an internal mutex; readers do not take it (except
// LastSequence and the snapshot step of ForEachActive, briefly).
#ifndef HASHMATCH_INDEX_STORE_HASH_STORE_H_
#define HASHMATCH_INDEX_STORE_HASH_STORE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/hashmatch/v1/entry.pb.h"

namespace hashmatch {

// Schema version written by this code. Opening a store with a higher version
// fails with FAILED_PRECONDITION.
inline constexpr uint64_t kHashStoreSchemaVersion = 1;

struct StoreOptions {
  // Create the store (directory, column families, metadata) if it does not
  // exist. Default: true.
  bool create_if_missing = true;

  // fsync the WAL at every write batch (Put, Retract) before returning.
  // Default: true. false survives a process crash but not a power loss.
  bool sync = true;

  // Most entries accepted by one Put; more is RESOURCE_EXHAUSTED.
  // Default: 10000.
  size_t max_batch_entries = 10000;

  // Total WAL size after which RocksDB flushes the column families that
  // hold the oldest WAL, bounding the WAL replayed at open after a crash.
  // Default: 64 MiB.
  uint64_t max_total_wal_bytes = 64ull << 20;

  // Open without write access and without taking RocksDB's LOCK file, so a
  // store held by a running writer (another process) can still be read: the
  // handle sees the store as of Open (memtables rebuilt from the WAL in
  // memory, nothing written) and later writes by the writer are not visible.
  // Put and Retract return FAILED_PRECONDITION. Requires create_if_missing =
  // false and an initialized store. A writer that deletes a WAL or table
  // file while Open reads it can make Open fail (UNAVAILABLE or NOT_FOUND);
  // retry. Default: false.
  bool read_only = false;

  // Source of created/updated/retracted times, in microseconds since the
  // Unix epoch. Default (empty): the system clock. Tests set a fake.
  std::function<int64_t()> now_micros;
};

// Counts of entries by signal type and vetting state (indexes are the enum
// values of hashmatch.v1.SignalType and VettingState).
struct StoreStats {
  static constexpr int kNumSignalTypes = 6;
  static constexpr int kNumStates = 5;
  std::array<std::array<uint64_t, kNumStates>, kNumSignalTypes> counts{};
  uint64_t total_entries = 0;
  uint64_t last_sequence = 0;
  uint64_t next_id = 0;
};

// Expected hash length in bytes for `signal_type`; 0 if unknown/unspecified.
size_t HashLengthForSignal(hashmatch::v1::SignalType signal_type);

class HashStore {
 public:
  // Called by ForEachActive for each ACTIVE entry: its id and hash bytes
  // (valid only during the call). A non-OK return stops the scan and is
  // returned by ForEachActive.
  using ActiveCallback =
      std::function<absl::Status(uint64_t id, absl::string_view hash)>;
  // Called by ForEachEntry for each entry. A non-OK return stops the scan
  // and is returned by ForEachEntry.
  using EntryCallback =
      std::function<absl::Status(const hashmatch::v1::Entry& entry)>;

  // Opens (or creates, per options) the store in directory `path`.
  static absl::StatusOr<std::unique_ptr<HashStore>> Open(
      const StoreOptions& options, const std::string& path);

  HashStore(const HashStore&) = delete;
  HashStore& operator=(const HashStore&) = delete;
  virtual ~HashStore() = default;

  // Creates or updates `entries` atomically (see the upsert rules above).
  // Returns the entries as stored (ids and times set), in input order.
  virtual absl::StatusOr<std::vector<hashmatch::v1::Entry>> Put(
      absl::Span<const hashmatch::v1::Entry> entries) = 0;

  // Turns entry `id` into a tombstone (see Retraction above). NOT_FOUND if
  // there is no such entry, FAILED_PRECONDITION if it is already retracted.
  // Returns the tombstone.
  virtual absl::StatusOr<hashmatch::v1::Entry> Retract(
      uint64_t id, absl::string_view retracted_by,
      absl::string_view reason) = 0;

  // The entry with `id`, tombstones included. NOT_FOUND if absent.
  virtual absl::StatusOr<hashmatch::v1::Entry> Get(uint64_t id) const = 0;

  // The id of the entry submitted as (agency, external_id), tombstones
  // included. NOT_FOUND if absent.
  virtual absl::StatusOr<uint64_t> FindExternal(
      absl::string_view agency, absl::string_view external_id) const = 0;

  // Every non-retracted entry (any state but RETRACTED) whose hash is
  // exactly `hash`, in id order: the exact lookup for MD5/SHA-256 and the
  // provenance of a perceptual match. INVALID_ARGUMENT on a bad length.
  virtual absl::StatusOr<std::vector<hashmatch::v1::Entry>> LookupHash(
      hashmatch::v1::SignalType signal_type, absl::string_view hash) const = 0;

  // Calls `callback` for every ACTIVE entry of `signal_type` in (hash, id)
  // order, reading one consistent snapshot; returns the change sequence of
  // that snapshot, from which a follower continues with ChangesSince.
  virtual absl::StatusOr<uint64_t> ForEachActive(
      hashmatch::v1::SignalType signal_type,
      const ActiveCallback& callback) const = 0;

  // Calls `callback` for every entry (tombstones included) with id >
  // `after_id`, in id order, reading one consistent snapshot; returns the
  // change sequence of that snapshot. For paging, listing, export and
  // bootstrapping a follower.
  virtual absl::StatusOr<uint64_t> ForEachEntry(
      uint64_t after_id, const EntryCallback& callback) const = 0;

  // Up to `limit` changes with sequence > `after`, in sequence order.
  virtual absl::StatusOr<std::vector<hashmatch::v1::Change>> ChangesSince(
      uint64_t after, size_t limit) const = 0;

  // Sequence of the last committed change; 0 for an empty store.
  virtual uint64_t LastSequence() const = 0;

  // Counts by signal type and state. Scans every entry: O(entries).
  virtual absl::StatusOr<StoreStats> Stats() const = 0;

 protected:
  HashStore() = default;
};

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_STORE_HASH_STORE_H_
