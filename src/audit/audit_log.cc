#include "src/audit/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace audit {
namespace {

constexpr absl::string_view kFileMagic = "HMAUDIT1";
constexpr size_t kFrameHeaderBytes = 8;
constexpr uint64_t kSparseEvery = 256;
constexpr size_t kReadAhead = 256 << 10;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(message);
  }
  return absl::InternalError(message);
}

uint32_t GetU32Le(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) |
         (static_cast<uint32_t>(u[3]) << 24);
}

void PutU32Le(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

void AppendFrame(const hashmatch::v1::AuditRecord& record, std::string* out) {
  const std::string payload = record.SerializeAsString();
  const uint32_t n = static_cast<uint32_t>(payload.size());
  PutU32Le(n, out);
  PutU32Le(~n, out);
  out->append(payload);
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening directory", dir);
  absl::Status status;
  if (::fsync(fd) != 0) status = ErrnoError("fsync directory", dir);
  ::close(fd);
  return status;
}

absl::Status WriteAll(int fd, absl::string_view data, uint64_t offset,
                      const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("writing", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Sequential frame reader over [start, end) of a log file, with read-ahead.
class FrameReader {
 public:
  enum class Result { kFrame, kEnd, kTorn, kDamaged };

  FrameReader(int fd, std::string path, uint64_t start, uint64_t end)
      : fd_(fd), path_(std::move(path)), offset_(start), end_(end) {}

  // kFrame: *payload holds the next record's bytes. kTorn: the file ends
  // inside the frame at frame_offset(). kDamaged: *problem says why.
  absl::StatusOr<Result> Next(std::string* payload, std::string* problem) {
    frame_offset_ = offset_;
    if (offset_ == end_) return Result::kEnd;
    if (end_ - offset_ < kFrameHeaderBytes) return Result::kTorn;
    std::string header;
    RETURN_IF_ERROR(Read(offset_, kFrameHeaderBytes, &header));
    const uint32_t n = GetU32Le(header.data());
    const uint32_t check = GetU32Le(header.data() + 4);
    if (check != ~n) {
      *problem = absl::StrCat("frame header at byte offset ", offset_,
                              " is damaged (length check fails)");
      return Result::kDamaged;
    }
    if (n > kMaxRecordBytes) {
      *problem = absl::StrCat("frame at byte offset ", offset_, " claims ", n,
                              " bytes, over the limit ", kMaxRecordBytes);
      return Result::kDamaged;
    }
    if (end_ - offset_ - kFrameHeaderBytes < n) return Result::kTorn;
    RETURN_IF_ERROR(Read(offset_ + kFrameHeaderBytes, n, payload));
    offset_ += kFrameHeaderBytes + n;
    return Result::kFrame;
  }

  uint64_t frame_offset() const { return frame_offset_; }
  uint64_t offset() const { return offset_; }

 private:
  absl::Status Read(uint64_t at, size_t n, std::string* out) {
    if (at < buffer_start_ || at + n > buffer_start_ + buffer_.size()) {
      const size_t want = static_cast<size_t>(
          std::min<uint64_t>(end_ - at, std::max(n, kReadAhead)));
      buffer_.resize(want);
      size_t done = 0;
      while (done < want) {
        ssize_t got = ::pread(fd_, buffer_.data() + done, want - done,
                              static_cast<off_t>(at + done));
        if (got < 0) {
          if (errno == EINTR) continue;
          return ErrnoError("reading", path_);
        }
        if (got == 0) {
          return absl::DataLossError(
              absl::StrCat(path_, " became shorter while being read (at byte ",
                           at + done, ")"));
        }
        done += static_cast<size_t>(got);
      }
      buffer_start_ = at;
    }
    out->assign(buffer_.data() + (at - buffer_start_), n);
    return absl::OkStatus();
  }

  const int fd_;
  const std::string path_;
  uint64_t offset_;
  const uint64_t end_;
  uint64_t frame_offset_ = 0;
  std::string buffer_;
  uint64_t buffer_start_ = 0;
};

absl::Status CheckMagic(int fd, const std::string& path, uint64_t size) {
  char magic[kFileMagic.size()];
  if (size < kFileMagic.size() ||
      ::pread(fd, magic, sizeof(magic), 0) !=
          static_cast<ssize_t>(sizeof(magic)) ||
      absl::string_view(magic, sizeof(magic)) != kFileMagic) {
    return absl::DataLossError(
        absl::StrCat(path, " is not an audit log (bad or missing header)"));
  }
  return absl::OkStatus();
}

absl::Status CreateEmptyLog(const std::string& dir, const std::string& path) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  // Owner-only (0600) whatever the umask: the log names every entry and
  // principal change.
  absl::StatusOr<int> opened = OpenPrivateFile(tmp, O_TRUNC);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  absl::Status status = WriteAll(fd, kFileMagic, 0, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("fsync", tmp);
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("renaming to", path);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

int64_t SystemNowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class FileAuditReader final : public AuditReader {
 public:
  FileAuditReader(int fd, const std::string& path, uint64_t start, uint64_t end,
                  uint64_t first_index, uint64_t from_index,
                  uint64_t last_index)
      : fd_(fd),
        frames_(fd, path, start, end),
        next_index_(first_index),
        from_index_(from_index),
        last_index_(last_index),
        path_(path) {}
  ~FileAuditReader() override { ::close(fd_); }

  absl::StatusOr<bool> Next(hashmatch::v1::AuditRecord* record) override {
    while (next_index_ <= last_index_) {
      std::string payload, problem;
      ASSIGN_OR_RETURN(FrameReader::Result result,
                       frames_.Next(&payload, &problem));
      if (result != FrameReader::Result::kFrame ||
          !record->ParseFromString(payload) || record->index() != next_index_) {
        return absl::DataLossError(
            absl::StrCat(path_, ": record ", next_index_,
                         " is no longer what was verified at open",
                         problem.empty() ? "" : ": ", problem));
      }
      ++next_index_;
      if (record->index() >= from_index_) return true;
    }
    return false;
  }

 private:
  const int fd_;
  FrameReader frames_;
  uint64_t next_index_;
  const uint64_t from_index_;
  const uint64_t last_index_;
  const std::string path_;
};

// audit.state: kStateMagic, U64LE(n), n bytes of contents, the 64-byte
// Ed25519 signature of kStateDomain + contents. Contents, U64LE numbers:
// key_id (32 bytes), index, offset, end_offset, record_hash (32 bytes),
// checkpoints, last_store_sequence, audited_through, count and the
// audited_above sequences, count and the reader offsets.
constexpr absl::string_view kStateMagic = "HMAUDST1";
constexpr absl::string_view kStateDomain = "hashmatch.audit.state.v1";
constexpr size_t kSignatureBytes = 64;
// A state describing 2^40 records is 256 MiB; larger is damage.
constexpr uint64_t kMaxStateBytes = uint64_t{1} << 28;

void PutU64Le(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

bool GetU64Le(absl::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) {
    *v |= static_cast<uint64_t>(static_cast<unsigned char>((*in)[i]))
          << (8 * i);
  }
  in->remove_prefix(8);
  return true;
}

bool GetBytes(absl::string_view* in, size_t n, std::string* out) {
  if (in->size() < n) return false;
  out->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

uint64_t SparseCount(uint64_t index) {
  return index == 0 ? 0 : (index - 1) / kSparseEvery + 1;
}

absl::StatusOr<std::string> EncodeState(
    const audit_internal::VerifiedState& state,
    absl::Span<const uint64_t> sparse_offsets, const SigningKey& key) {
  std::string contents = key.public_key().key_id();
  for (uint64_t v : {state.index, state.offset, state.end_offset}) {
    PutU64Le(v, &contents);
  }
  contents.append(state.record_hash);
  for (uint64_t v :
       {state.checkpoints, state.last_store_sequence, state.audited_through,
        static_cast<uint64_t>(state.audited_above.size())}) {
    PutU64Le(v, &contents);
  }
  for (uint64_t v : state.audited_above) PutU64Le(v, &contents);
  PutU64Le(sparse_offsets.size(), &contents);
  for (uint64_t v : sparse_offsets) PutU64Le(v, &contents);
  ASSIGN_OR_RETURN(std::string signature,
                   key.Sign(absl::StrCat(kStateDomain, contents)));
  std::string out(kStateMagic);
  PutU64Le(contents.size(), &out);
  return absl::StrCat(out, contents, signature);
}

// The state in `bytes` if it is well formed and signed by `key`; else
// INVALID_ARGUMENT saying what is wrong (for open_info().full_reason).
absl::Status DecodeState(absl::string_view bytes, const PublicKey& key,
                         audit_internal::VerifiedState* state,
                         std::vector<uint64_t>* sparse_offsets) {
  absl::string_view in = bytes;
  uint64_t n = 0;
  if (!absl::ConsumePrefix(&in, kStateMagic) || !GetU64Le(&in, &n) ||
      in.size() < kSignatureBytes || n != in.size() - kSignatureBytes) {
    return absl::InvalidArgumentError("not a verified state (bad layout)");
  }
  const absl::string_view contents = in.substr(0, n);
  const absl::string_view signature = in.substr(n);
  in = contents;
  std::string key_id;
  if (!GetBytes(&in, kHashBytes, &key_id) || key_id != key.key_id()) {
    return absl::InvalidArgumentError(
        "signed by another key than the configured one");
  }
  if (!key.Verify(absl::StrCat(kStateDomain, contents), signature)) {
    return absl::InvalidArgumentError("its signature does not verify");
  }
  audit_internal::VerifiedState s;
  uint64_t above = 0, sparse = 0;
  bool ok = GetU64Le(&in, &s.index) && GetU64Le(&in, &s.offset) &&
            GetU64Le(&in, &s.end_offset) &&
            GetBytes(&in, kHashBytes, &s.record_hash) &&
            GetU64Le(&in, &s.checkpoints) &&
            GetU64Le(&in, &s.last_store_sequence) &&
            GetU64Le(&in, &s.audited_through) && GetU64Le(&in, &above) &&
            above <= in.size() / 8;
  for (uint64_t i = 0; ok && i < above; ++i) {
    ok = GetU64Le(&in, &s.audited_above.emplace_back());
  }
  ok = ok && GetU64Le(&in, &sparse) && sparse == SparseCount(s.index) &&
       sparse * 8 == in.size();
  sparse_offsets->clear();
  for (uint64_t i = 0; ok && i < sparse; ++i) {
    ok = GetU64Le(&in, &sparse_offsets->emplace_back());
  }
  s.sparse_count = sparse;
  if (!ok || s.index == 0 || s.offset < kFileMagic.size() ||
      s.end_offset <= s.offset + kFrameHeaderBytes ||
      (*sparse_offsets)[0] != kFileMagic.size()) {
    return absl::InvalidArgumentError("its contents are inconsistent");
  }
  *state = std::move(s);
  return absl::OkStatus();
}

// NOT_FOUND when there is no state file.
absl::StatusOr<std::string> ReadStateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening", path);
  struct stat st;
  std::string bytes;
  absl::Status status;
  if (::fstat(fd, &st) != 0) {
    status = ErrnoError("stat", path);
  } else if (static_cast<uint64_t>(st.st_size) > kMaxStateBytes) {
    status = absl::InvalidArgumentError("larger than any verified state");
  } else {
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (status.ok() && done < bytes.size()) {
      const ssize_t got = ::pread(fd, bytes.data() + done, bytes.size() - done,
                                  static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) status = ErrnoError("reading", path);
      if (got == 0) bytes.resize(done);
      if (got > 0) done += static_cast<size_t>(got);
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return bytes;
}

absl::Status WriteStateFile(const std::string& dir, const std::string& path,
                            absl::string_view bytes) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("creating", tmp);
  absl::Status status = WriteAll(fd, bytes, 0, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("fsync", tmp);
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("renaming to", path);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

absl::Status LostTrustedCheckpoint(const std::string& path, uint64_t index,
                                   absl::string_view problem) {
  return absl::DataLossError(absl::StrCat(
      "audit log ", path, " no longer holds record ", index,
      ", the signed checkpoint verified before (", kAuditStateFileName,
      "): ", problem,
      " (not repaired; verify it with `hashmatch audit verify`; if the log "
      "was restored from a backup on purpose, remove ",
      kAuditStateFileName, ")"));
}

// DATA_LOSS unless the log's `size` bytes still hold the checkpoint the
// verified state names, unchanged and signed by `key`.
absl::Status CheckTrustedCheckpoint(int fd, const std::string& path,
                                    uint64_t size,
                                    const audit_internal::VerifiedState& state,
                                    const PublicKey& key) {
  std::string problem;
  hashmatch::v1::AuditRecord record;
  if (state.end_offset > size) {
    problem =
        absl::StrCat("the log ends at byte ", size,
                     ", before the end of that checkpoint (byte ",
                     state.end_offset, "): records were cut off or shortened");
  } else {
    FrameReader frames(fd, path, state.offset, state.end_offset);
    std::string payload;
    ASSIGN_OR_RETURN(FrameReader::Result result,
                     frames.Next(&payload, &problem));
    if (result != FrameReader::Result::kFrame ||
        frames.offset() != state.end_offset ||
        !record.ParseFromString(payload) || record.index() != state.index) {
      problem =
          absl::StrCat("another record or damage is at its byte offset ",
                       state.offset, problem.empty() ? "" : ": ", problem);
    } else if (!IsCheckpoint(record) ||
               record.record_hash() != state.record_hash ||
               ComputeRecordHash(record) != state.record_hash) {
      problem = "it was altered";
    } else if (record.key_id() != key.key_id() ||
               !key.Verify(record.record_hash(), record.signature())) {
      problem = "its signature does not verify";
    }
  }
  if (problem.empty()) return absl::OkStatus();
  return LostTrustedCheckpoint(path, state.index, problem);
}

}  // namespace

AuditLog::AuditLog(AuditLogOptions options, std::string dir, std::string path,
                   int fd)
    : options_(std::move(options)),
      dir_(std::move(dir)),
      path_(std::move(path)),
      fd_(fd),
      head_hash_(kHashBytes, '\0') {}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  CloseLocked().IgnoreError();
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    AuditLogOptions options, const std::string& dir) {
  if (options.checkpoint_interval < 1 ||
      options.checkpoint_interval > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint_interval must be in [1, 1000000], got ",
                     options.checkpoint_interval));
  }
  if (!options.now_micros) options.now_micros = SystemNowMicros;
  AuditOpenInfo info;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("audit log directory ", dir, " does not exist"));
    }
    RETURN_IF_ERROR(CreatePrivateDirectories(dir));
  }
  const std::string path = absl::StrCat(dir, "/", kAuditFileName);
  const std::string state_path = absl::StrCat(dir, "/", kAuditStateFileName);
  if (::access(path.c_str(), F_OK) != 0) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    if (::access(state_path.c_str(), F_OK) == 0) {
      return absl::DataLossError(absl::StrCat(
          path, " is missing but ", state_path,
          " says records of it were verified: the log was deleted (to start "
          "a new log on purpose, remove ",
          kAuditStateFileName, " too)"));
    }
    RETURN_IF_ERROR(CreateEmptyLog(dir, path));
    info.created = true;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening", path);
  std::unique_ptr<AuditLog> log(
      new AuditLog(std::move(options), dir, path, fd));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is in use by another process"));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("stat", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  RETURN_IF_ERROR(CheckMagic(fd, path, size));

  const std::optional<SigningKey>& key = log->options_.signing_key;
  // The verified state (audit.state), if there is a valid one.
  std::optional<audit_internal::VerifiedState> state;
  std::vector<uint64_t> state_sparse_offsets;
  std::string no_state;  // Why there is none.
  if (!key.has_value()) {
    no_state = "no signing key (nothing is signed)";
  } else {
    absl::StatusOr<std::string> bytes = ReadStateFile(state_path);
    if (absl::IsNotFound(bytes.status())) {
      no_state = "no verified state yet";
    } else if (!bytes.ok() && !absl::IsInvalidArgument(bytes.status())) {
      return bytes.status();
    } else {
      audit_internal::VerifiedState decoded;
      absl::Status s = bytes.ok() ? DecodeState(*bytes, key->public_key(),
                                                &decoded, &state_sparse_offsets)
                                  : bytes.status();
      if (s.ok()) {
        state = std::move(decoded);
      } else {
        no_state = absl::StrCat(kAuditStateFileName, ": ", s.message());
      }
    }
  }
  const bool incremental =
      state.has_value() &&
      log->options_.verification == OpenVerification::kIncremental;
  if (incremental) {
    RETURN_IF_ERROR(
        CheckTrustedCheckpoint(fd, path, size, *state, key->public_key()));
  }

  ChainVerifierOptions verify_options;
  if (key.has_value()) verify_options.public_keys = {key->public_key()};
  verify_options.require_known_key = false;
  uint64_t scan_from = kFileMagic.size();
  absl::MutexLock lock(&log->mu_);
  if (state.has_value()) log->saved_state_index_ = state->index;
  if (incremental) {
    // Records 1..state->index are trusted as verified before (the file
    // comment says what this does not detect); so is what they imply.
    verify_options.start_after =
        TrustedCheckpoint{state->index, state->record_hash};
    scan_from = state->end_offset;
    info.incremental = true;
    info.verified_from = state->index;
    log->sparse_offsets_ = std::move(state_sparse_offsets);
    log->checkpoints_ = state->checkpoints;
    log->last_store_sequence_ = state->last_store_sequence;
    log->audited_through_ = state->audited_through;
    log->audited_above_.insert(state->audited_above.begin(),
                               state->audited_above.end());
    log->trusted_ = *state;
  } else {
    if (log->options_.verification == OpenVerification::kIncremental) {
      info.full_reason = no_state;
    }
    // Read in full, the log must still hold the state's checkpoint: checked
    // after the chain, so that damage before it is reported where it is.
    if (state.has_value()) {
      verify_options.anchor =
          TrustedCheckpoint{state->index, state->record_hash};
    }
  }
  ChainVerifier verifier(std::move(verify_options));
  FrameReader frames(fd, path, scan_from, size);
  // broken_ stays true until the log is verified, so that an early return
  // closes the file without writing to it.
  while (true) {
    std::string payload, problem;
    ASSIGN_OR_RETURN(FrameReader::Result result,
                     frames.Next(&payload, &problem));
    if (result == FrameReader::Result::kEnd) break;
    if (result == FrameReader::Result::kTorn) {
      info.torn_bytes = size - frames.frame_offset();
      if (::ftruncate(fd, static_cast<off_t>(frames.frame_offset())) != 0 ||
          ::fsync(fd) != 0) {
        return ErrnoError("cutting the torn final frame of", path);
      }
      break;
    }
    hashmatch::v1::AuditRecord record;
    if (result == FrameReader::Result::kDamaged) {
      verifier.FailMalformed(std::move(problem));
    } else if (!record.ParseFromString(payload)) {
      verifier.FailMalformed(absl::StrCat("the record at byte offset ",
                                          frames.frame_offset(),
                                          " does not parse"));
    } else {
      verifier.Add(record);
    }
    if (!verifier.ok()) {
      const VerifyError& e = verifier.error();
      return absl::DataLossError(absl::StrCat(
          "audit log ", path, " is damaged at record ", e.index, ": ",
          VerifyFailureName(e.failure), ": ", e.message,
          " (not repaired; verify it with `hashmatch audit verify`)"));
    }
    ++info.records_verified;
    if ((record.index() - 1) % kSparseEvery == 0) {
      log->sparse_offsets_.push_back(frames.frame_offset());
    }
    if (IsCheckpoint(record)) {
      ++log->checkpoints_;
      log->since_checkpoint_ = 0;
    } else {
      ++log->since_checkpoint_;
    }
    log->NoteStoreSequenceLocked(record.store_sequence());
    if (verifier.last_verified_checkpoint().index == record.index()) {
      log->NoteOwnCheckpointLocked(record.index(), frames.frame_offset(),
                                   frames.offset(), record.record_hash());
    }
  }
  if (!verifier.Finish()) {  // The anchor (no tail limit is set).
    return LostTrustedCheckpoint(path, state->index, verifier.error().message);
  }
  info.records = verifier.records_checked();
  info.checkpoints = log->checkpoints_;
  log->open_info_ = info;
  log->last_index_ = verifier.records_checked();
  log->head_hash_ = verifier.head_hash();
  log->end_offset_ = frames.frame_offset();
  RETURN_IF_ERROR(log->SaveVerifiedStateLocked());
  log->broken_ = false;
  return log;
}

void AuditLog::NoteOwnCheckpointLocked(uint64_t index, uint64_t offset,
                                       uint64_t end, const std::string& hash) {
  trusted_.index = index;
  trusted_.offset = offset;
  trusted_.end_offset = end;
  trusted_.record_hash = hash;
  trusted_.checkpoints = checkpoints_;
  trusted_.last_store_sequence = last_store_sequence_;
  trusted_.audited_through = audited_through_;
  trusted_.audited_above.assign(audited_above_.begin(), audited_above_.end());
  trusted_.sparse_count = SparseCount(index);
}

absl::Status AuditLog::SaveVerifiedStateLocked() {
  if (!options_.signing_key.has_value() || trusted_.index == 0 ||
      trusted_.index == saved_state_index_) {
    return absl::OkStatus();
  }
  if (trusted_.sparse_count > sparse_offsets_.size()) {
    return absl::InternalError("audit log reader offsets are inconsistent");
  }
  // The checkpoint is durable before a state names it.
  if (::fsync(fd_) != 0) return ErrnoError("fsync", path_);
  ASSIGN_OR_RETURN(std::string bytes,
                   EncodeState(trusted_,
                               absl::MakeConstSpan(
                                   sparse_offsets_.data(),
                                   static_cast<size_t>(trusted_.sparse_count)),
                               *options_.signing_key));
  RETURN_IF_ERROR(WriteStateFile(
      dir_, absl::StrCat(dir_, "/", kAuditStateFileName), bytes));
  saved_state_index_ = trusted_.index;
  return absl::OkStatus();
}

void AuditLog::NoteStoreSequenceLocked(uint64_t sequence) {
  if (sequence == 0) return;
  last_store_sequence_ = std::max(last_store_sequence_, sequence);
  if (sequence <= audited_through_) return;
  if (sequence != audited_through_ + 1) {
    audited_above_.insert(sequence);
    return;
  }
  audited_through_ = sequence;
  while (!audited_above_.empty() &&
         *audited_above_.begin() == audited_through_ + 1) {
    audited_above_.erase(audited_above_.begin());
    ++audited_through_;
  }
}

absl::StatusOr<hashmatch::v1::AuditRecord> AuditLog::CheckpointLocked(
    absl::string_view detail, uint64_t index, const std::string& prev_hash,
    int64_t now) const {
  hashmatch::v1::AuditRecord record;
  record.set_index(index);
  record.set_at_micros(now);
  record.set_actor("system");
  record.set_action(std::string(kCheckpointAction));
  record.set_target("chain");
  record.set_detail(std::string(detail));
  record.set_prev_hash(prev_hash);
  record.set_key_id(options_.signing_key->public_key().key_id());
  record.set_record_hash(ComputeRecordHash(record));
  ASSIGN_OR_RETURN(std::string signature,
                   options_.signing_key->Sign(record.record_hash()));
  record.set_signature(std::move(signature));
  return record;
}

absl::Status AuditLog::WriteLocked(std::string frames, uint64_t new_records,
                                   const std::string& new_head,
                                   const std::vector<uint64_t>& offsets) {
  absl::Status status = WriteAll(fd_, frames, end_offset_, path_);
  if (status.ok() && options_.sync && ::fdatasync(fd_) != 0) {
    status = ErrnoError("fsync", path_);
  }
  if (!status.ok()) {
    if (::ftruncate(fd_, static_cast<off_t>(end_offset_)) != 0) {
      broken_ = true;
    }
    return status;
  }
  for (uint64_t i = 0; i < new_records; ++i) {
    const uint64_t index = last_index_ + 1 + i;
    if ((index - 1) % kSparseEvery == 0) {
      sparse_offsets_.push_back(end_offset_ + offsets[i]);
    }
  }
  end_offset_ += frames.size();
  last_index_ += new_records;
  head_hash_ = new_head;
  return absl::OkStatus();
}

absl::Status AuditLog::Append(absl::Span<const ingest::AuditEvent> events) {
  if (events.size() > options_.max_events_per_append) {
    return absl::ResourceExhaustedError(
        absl::StrCat(events.size(),
                     " audit events in one append, over the "
                     "limit ",
                     options_.max_events_per_append));
  }
  for (const ingest::AuditEvent& e : events) {
    for (const std::string* field :
         {&e.actor, &e.action, &e.target, &e.detail}) {
      if (field->size() > options_.max_field_bytes) {
        return absl::InvalidArgumentError(
            absl::StrCat("audit event field of ", field->size(),
                         " bytes, over the limit ", options_.max_field_bytes));
      }
    }
    if (e.action.empty() || e.action == kCheckpointAction) {
      return absl::InvalidArgumentError(absl::StrCat(
          "audit event action '", e.action, "' is empty or reserved"));
    }
  }
  if (events.empty()) return absl::OkStatus();
  // Digests outside the lock: they are the bulk of the CPU work.
  std::vector<hashmatch::v1::AuditRecord> records(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const ingest::AuditEvent& e = events[i];
    hashmatch::v1::AuditRecord& r = records[i];
    r.set_actor(e.actor);
    r.set_action(e.action);
    r.set_target(e.target);
    if (!e.state_before.empty()) r.set_digest_before(Sha256(e.state_before));
    if (!e.state_after.empty()) r.set_digest_after(Sha256(e.state_after));
    r.set_store_sequence(e.store_sequence);
    r.set_detail(e.detail);
  }

  absl::MutexLock lock(&mu_);
  if (fd_ < 0) return absl::FailedPreconditionError("audit log is closed");
  if (broken_) {
    return absl::FailedPreconditionError(
        "audit log refuses appends after a write error it could not undo; "
        "reopen it");
  }
  const int64_t now = options_.now_micros();
  std::string frames;
  std::vector<uint64_t> offsets;
  offsets.reserve(records.size() + 1);
  std::string head = head_hash_;
  uint64_t index = last_index_;
  for (hashmatch::v1::AuditRecord& r : records) {
    r.set_index(++index);
    r.set_at_micros(now);
    r.set_prev_hash(head);
    r.set_record_hash(ComputeRecordHash(r));
    head = r.record_hash();
    offsets.push_back(frames.size());
    AppendFrame(r, &frames);
  }
  const bool checkpoint =
      options_.signing_key.has_value() &&
      since_checkpoint_ + records.size() >=
          static_cast<uint64_t>(options_.checkpoint_interval);
  if (checkpoint) {
    ASSIGN_OR_RETURN(hashmatch::v1::AuditRecord cp,
                     CheckpointLocked("periodic", ++index, head, now));
    head = cp.record_hash();
    offsets.push_back(frames.size());
    AppendFrame(cp, &frames);
  }
  const uint64_t base = end_offset_;
  const uint64_t frames_size = frames.size();
  RETURN_IF_ERROR(
      WriteLocked(std::move(frames), index - last_index_, head, offsets));
  since_checkpoint_ = checkpoint ? 0 : since_checkpoint_ + records.size();
  for (const hashmatch::v1::AuditRecord& r : records) {
    NoteStoreSequenceLocked(r.store_sequence());
  }
  if (checkpoint) {
    ++checkpoints_;
    NoteOwnCheckpointLocked(index, base + offsets.back(), base + frames_size,
                            head);
  }
  return absl::OkStatus();
}

absl::Status AuditLog::CloseLocked() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status status;
  if (!broken_ && options_.signing_key.has_value() && since_checkpoint_ > 0) {
    absl::StatusOr<hashmatch::v1::AuditRecord> cp = CheckpointLocked(
        "close", last_index_ + 1, head_hash_, options_.now_micros());
    if (cp.ok()) {
      std::string frames;
      AppendFrame(*cp, &frames);
      const uint64_t base = end_offset_;
      status = WriteLocked(std::move(frames), 1, cp->record_hash(), {0});
      if (status.ok()) {
        since_checkpoint_ = 0;
        ++checkpoints_;
        NoteOwnCheckpointLocked(cp->index(), base, end_offset_,
                                cp->record_hash());
      }
    } else {
      status = cp.status();
    }
  }
  if (::fsync(fd_) != 0 && status.ok()) status = ErrnoError("fsync", path_);
  // The next Open verifies from here (kIncremental).
  if (!broken_ && status.ok()) status = SaveVerifiedStateLocked();
  if (::close(fd_) != 0 && status.ok()) status = ErrnoError("closing", path_);
  fd_ = -1;
  return status;
}

absl::Status AuditLog::Close() {
  absl::MutexLock lock(&mu_);
  return CloseLocked();
}

uint64_t AuditLog::last_index() const {
  absl::MutexLock lock(&mu_);
  return last_index_;
}

std::string AuditLog::head_hash() const {
  absl::MutexLock lock(&mu_);
  return head_hash_;
}

uint64_t AuditLog::last_store_sequence() const {
  absl::MutexLock lock(&mu_);
  return last_store_sequence_;
}

uint64_t AuditLog::audited_through() const {
  absl::MutexLock lock(&mu_);
  return audited_through_;
}

bool AuditLog::IsStoreSequenceAudited(uint64_t sequence) const {
  absl::MutexLock lock(&mu_);
  return sequence <= audited_through_ || audited_above_.contains(sequence);
}

absl::StatusOr<std::unique_ptr<AuditReader>> AuditLog::NewReader(
    uint64_t from_index) const {
  if (from_index == 0) {
    return absl::InvalidArgumentError("audit records start at index 1");
  }
  uint64_t start, end, first_index, last_index;
  {
    absl::MutexLock lock(&mu_);
    last_index = last_index_;
    end = end_offset_;
    if (from_index > last_index_ || sparse_offsets_.empty()) {
      start = end;
      first_index = last_index_ + 1;
    } else {
      const uint64_t slot = (from_index - 1) / kSparseEvery;
      start = sparse_offsets_[slot];
      first_index = slot * kSparseEvery + 1;
    }
  }
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening", path_);
  return std::unique_ptr<AuditReader>(new FileAuditReader(
      fd, path_, start, end, first_index, from_index, last_index));
}

absl::StatusOr<VerifyLogResult> VerifyAuditLogDir(
    const std::string& dir, const ChainVerifierOptions& options) {
  const std::string path = absl::StrCat(dir, "/", kAuditFileName);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening", path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("stat", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  VerifyLogResult result;
  ChainVerifier verifier(options);
  absl::Status magic = CheckMagic(fd, path, size);
  if (!magic.ok()) {
    verifier.FailMalformed(std::string(magic.message()));
  } else {
    FrameReader frames(fd, path, kFileMagic.size(), size);
    while (verifier.ok()) {
      std::string payload, problem;
      ASSIGN_OR_RETURN(FrameReader::Result r, frames.Next(&payload, &problem));
      if (r == FrameReader::Result::kEnd) break;
      if (r == FrameReader::Result::kTorn) {
        result.torn_bytes = size - frames.frame_offset();
        break;
      }
      hashmatch::v1::AuditRecord record;
      if (r == FrameReader::Result::kDamaged) {
        verifier.FailMalformed(std::move(problem));
      } else if (!record.ParseFromString(payload)) {
        verifier.FailMalformed(absl::StrCat("the record at byte offset ",
                                            frames.frame_offset(),
                                            " does not parse"));
      } else {
        verifier.Add(record);
      }
    }
    verifier.Finish();
  }
  result.records_checked = verifier.records_checked();
  result.checkpoints_verified = verifier.checkpoints_verified();
  result.unsigned_tail = verifier.unsigned_tail();
  result.head_hash = verifier.head_hash();
  result.last_verified_checkpoint = verifier.last_verified_checkpoint();
  result.error = verifier.error();
  return result;
}

}  // namespace audit
}  // namespace hashmatch
