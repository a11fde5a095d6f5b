#include "src/ingest/principal_store.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "src/common/file_util.h"
#include "src/hashing/crypto_hash.h"
#include "src/server/token_auth.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr absl::string_view kMagic = "HMPRINC1";
constexpr char kFileName[] = "principals.pb";
constexpr size_t kDigestBytes = 32;
constexpr size_t kTokenRandomBytes = 32;
constexpr size_t kMaxNoteBytes = 1024;
// Far above max_principals records of bounded size; a bigger file is not ours.
constexpr size_t kMaxFileBytes = size_t{256} << 20;

bool NameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
         c == '@' || c == '-';
}

absl::Status ValidateRoles(const v1::Principal& p) {
  if (p.roles().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("principal \"", p.name(), "\" needs at least one role"));
  }
  std::set<int> seen;
  for (int role : p.roles()) {
    if (role == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(role)) {
      return absl::InvalidArgumentError(
          absl::StrCat("principal \"", p.name(), "\": unknown role ", role));
    }
    if (!seen.insert(role).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "principal \"", p.name(), "\": role ",
          v1::Role_Name(static_cast<v1::Role>(role)), " given twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewToken() {
  unsigned char bytes[kTokenRandomBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed to make a token");
  }
  std::string token = absl::StrCat(
      "hm_", absl::WebSafeBase64Escape(absl::string_view(
                 reinterpret_cast<const char*>(bytes), sizeof(bytes))));
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return token;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    errno = err;
    return Errno("cannot fsync", path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePrincipalName(absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(
        "principal name must be 1 to 128 characters, got ", name.size()));
  }
  for (char c : name) {
    if (!NameChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("principal name \"", absl::CEscape(name),
                       "\" has a character outside [A-Za-z0-9._:@-]"));
    }
  }
  return absl::OkStatus();
}

std::string EncodePrincipalTable(
    const std::vector<std::pair<v1::Principal, std::string>>& records) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteRaw(kMagic.data(), static_cast<int>(kMagic.size()));
    for (const auto& [principal, digest] : records) {
      const std::string bytes = principal.SerializeAsString();
      coded.WriteVarint32(static_cast<uint32_t>(bytes.size()));
      coded.WriteString(bytes);
      coded.WriteVarint32(static_cast<uint32_t>(digest.size()));
      coded.WriteString(digest);
    }
  }
  out += Sha256(out);
  return out;
}

absl::StatusOr<std::vector<std::pair<v1::Principal, std::string>>>
DecodePrincipalTable(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() + kDigestBytes ||
      bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError(
        "principal table: not a hashmatch principal table (bad header)");
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - kDigestBytes);
  if (Sha256(body) != bytes.substr(body.size())) {
    return absl::DataLossError(
        "principal table: checksum mismatch (the file is damaged)");
  }
  std::vector<std::pair<v1::Principal, std::string>> records;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(body.data()),
      static_cast<int>(body.size()));
  in.Skip(static_cast<int>(kMagic.size()));
  while (in.CurrentPosition() < static_cast<int>(body.size())) {
    uint32_t len = 0;
    std::string principal_bytes;
    std::string digest;
    if (!in.ReadVarint32(&len) || !in.ReadString(&principal_bytes, len) ||
        !in.ReadVarint32(&len) || len > kDigestBytes ||
        !in.ReadString(&digest, len)) {
      return absl::DataLossError(absl::StrCat(
          "principal table: record ", records.size() + 1, " is truncated"));
    }
    v1::Principal principal;
    if (!principal.ParseFromString(principal_bytes) ||
        !ValidatePrincipalName(principal.name()).ok() ||
        (!digest.empty() && digest.size() != kDigestBytes)) {
      return absl::DataLossError(absl::StrCat(
          "principal table: record ", records.size() + 1, " does not parse"));
    }
    records.emplace_back(std::move(principal), std::move(digest));
  }
  return records;
}

PrincipalStore::PrincipalStore(std::string dir, PrincipalStoreOptions options)
    : dir_(std::move(dir)),
      path_(absl::StrCat(dir_, "/", kFileName)),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<PrincipalStore>> PrincipalStore::Open(
    const std::string& dir, const PrincipalStoreOptions& options) {
  if (dir.empty()) {
    return absl::InvalidArgumentError("principal store directory is empty");
  }
  // 0700 if created, whatever the umask; a file in the way is refused below.
  if (absl::Status s = CreatePrivateDirectories(dir);
      !s.ok() && !absl::IsFailedPrecondition(s)) {
    return absl::UnavailableError(
        absl::StrCat("cannot create principal store directory: ", s.message()));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Errno("cannot stat", dir);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("principal store ", dir, " is not a directory"));
  }
  std::unique_ptr<PrincipalStore> store(new PrincipalStore(dir, options));
  absl::Status s = store->Load();
  if (!s.ok()) return s;
  return store;
}

absl::Status PrincipalStore::Load() {
  absl::StatusOr<std::string> bytes = ReadFileToString(path_, kMaxFileBytes);
  if (absl::IsNotFound(bytes.status())) return absl::OkStatus();
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path_, ": ", bytes.status().message()));
  }
  absl::StatusOr<std::vector<std::pair<v1::Principal, std::string>>> records =
      DecodePrincipalTable(*bytes);
  if (!records.ok()) {
    return absl::Status(records.status().code(),
                        absl::StrCat(path_, ": ", records.status().message()));
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (auto& [principal, digest] : *records) {
    const std::string name = principal.name();
    if (!digest.empty()) {
      digests_ += digest;
      digest_owners_.push_back(name);
    }
    if (!table_.emplace(name, Record{std::move(principal), std::move(digest)})
             .second) {
      return absl::DataLossError(
          absl::StrCat(path_, ": principal \"", name, "\" appears twice"));
    }
  }
  return absl::OkStatus();
}

int64_t PrincipalStore::Now() const {
  if (options_.now_micros) return options_.now_micros();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status PrincipalStore::Persist(const Table& table) const {
  std::vector<std::pair<v1::Principal, std::string>> records;
  records.reserve(table.size());
  for (const auto& [name, record] : table) {
    records.emplace_back(record.principal, record.token_digest);
  }
  const std::string bytes = EncodePrincipalTable(records);
  const std::string tmp = absl::StrCat(path_, ".tmp");
  // Token digests: 0600 whatever the umask.
  absl::StatusOr<int> opened = OpenPrivateFile(tmp, O_TRUNC);
  if (!opened.ok()) return absl::UnavailableError(opened.status().message());
  const int fd = *opened;
  absl::Status s = WriteAll(fd, bytes, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno("cannot close", tmp);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    s = Errno("cannot rename over", path_);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncPath(dir_, O_RDONLY | O_DIRECTORY);
}

absl::StatusOr<PrincipalStore::Added> PrincipalStore::Add(
    const v1::Principal& principal, bool issue_token) {
  absl::Status s = ValidatePrincipalName(principal.name());
  if (!s.ok()) return s;
  s = ValidateRoles(principal);
  if (!s.ok()) return s;
  if (principal.note().size() > kMaxNoteBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("principal note is ", principal.note().size(),
                     " bytes; at most ", kMaxNoteBytes));
  }
  if (!issue_token && !principal.allow_certificate()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "principal \"", principal.name(),
        "\" would have no way to authenticate: issue a token and/or allow a "
        "certificate"));
  }
  bool agency = false;
  for (int role : principal.roles()) agency |= role == v1::ROLE_AGENCY;
  if (principal.may_submit_media() && !agency) {
    return absl::InvalidArgumentError(
        absl::StrCat("principal \"", principal.name(),
                     "\": may_submit_media needs the agency role"));
  }

  Added added;
  added.principal = principal;
  added.principal.set_has_token(issue_token);
  added.principal.set_created_at_micros(Now());
  added.principal.set_revoked_at_micros(0);
  std::string digest;
  if (issue_token) {
    absl::StatusOr<std::string> token = NewToken();
    if (!token.ok()) return token.status();
    added.token = *std::move(token);
    digest = server::TokenDigest(added.token);
  }

  std::lock_guard<std::mutex> write_lock(write_mu_);
  Table next;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (table_.count(principal.name()) > 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("principal \"", principal.name(),
                       "\" already exists (names are never reused, also "
                       "after revocation)"));
    }
    if (table_.size() >= static_cast<size_t>(options_.max_principals)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the principal table is full (", options_.max_principals,
                       " principals)"));
    }
    next = table_;
  }
  next.emplace(principal.name(), Record{added.principal, digest});
  s = Persist(next);
  if (!s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(mu_);
  table_ = std::move(next);
  if (!digest.empty()) {
    digests_ += digest;
    digest_owners_.push_back(principal.name());
  }
  return added;
}

absl::StatusOr<v1::Principal> PrincipalStore::Revoke(absl::string_view name) {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  Table next;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = table_.find(name);
    if (it == table_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no principal named \"", absl::CEscape(name), "\""));
    }
    if (it->second.principal.revoked_at_micros() != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("principal \"", name, "\" is already revoked"));
    }
    next = table_;
  }
  Record& record = next.find(name)->second;
  record.principal.set_revoked_at_micros(std::max<int64_t>(1, Now()));
  const v1::Principal revoked = record.principal;
  absl::Status s = Persist(next);
  if (!s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(mu_);
  table_ = std::move(next);
  return revoked;
}

std::vector<v1::Principal> PrincipalStore::List(bool include_revoked) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<v1::Principal> out;
  for (const auto& [name, record] : table_) {
    if (!include_revoked && record.principal.revoked_at_micros() != 0) continue;
    out.push_back(record.principal);
  }
  return out;
}

std::optional<v1::Principal> PrincipalStore::Find(
    absl::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = table_.find(name);
  if (it == table_.end()) return std::nullopt;
  return it->second.principal;
}

std::optional<v1::Principal> PrincipalStore::FindByToken(
    absl::string_view token) const {
  const std::string digest = server::TokenDigest(token);
  std::shared_lock<std::shared_mutex> lock(mu_);
  const std::optional<size_t> found =
      server::FindDigestConstantTime(digests_, digest);
  if (!found) return std::nullopt;
  auto it = table_.find(digest_owners_[*found]);
  if (it == table_.end()) return std::nullopt;
  return it->second.principal;
}

bool PrincipalStore::HasActiveAdmin() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const auto& [name, record] : table_) {
    if (record.principal.revoked_at_micros() != 0) continue;
    for (int role : record.principal.roles()) {
      if (role == v1::ROLE_ADMIN) return true;
    }
  }
  return false;
}

size_t PrincipalStore::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return table_.size();
}

}  // namespace ingest
}  // namespace hashmatch
