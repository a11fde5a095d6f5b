#include "index/vetted/index_snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace hashmatch {
namespace {

constexpr char kMagic[8] = {'H', 'M', 'B', 'I', 'N', 'I', 'D', 'X'};

absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

int CodeBitsFor(hashmatch::v1::SignalType signal) {
  switch (signal) {
    case hashmatch::v1::SIGNAL_TYPE_PDQ:
    case hashmatch::v1::SIGNAL_TYPE_VPDQ:
      return 256;
    case hashmatch::v1::SIGNAL_TYPE_PHASH:
    case hashmatch::v1::SIGNAL_TYPE_DHASH:
      return 64;
    default:
      return 0;
  }
}

#if !defined(__SSE4_2__)
std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
    table[i] = c;
  }
  return table;
}
#endif

// Closes the descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, const uint8_t* data, size_t n,
                      const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "writing", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

// Reads exactly n bytes; DATA_LOSS if the file ends first.
absl::Status ReadAll(int fd, uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t r = ::read(fd, data, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading", path);
    }
    if (r == 0) {
      return absl::DataLossError(
          absl::StrCat("index snapshot ", path, " ends early"));
    }
    data += r;
    n -= static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t Crc32c(uint32_t crc, const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__SSE4_2__)
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(c);
  while (n > 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
#else
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  while (n > 0) {
    crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
    --n;
  }
#endif
  return ~crc;
}

namespace {

absl::Status WriteTempAndRename(const std::string& path, const std::string& tmp,
                                hashmatch::v1::SignalType signal_type,
                                int code_bits, uint64_t sequence,
                                const BinaryIndex::View& view);

}  // namespace

absl::Status WriteIndexSnapshot(const std::string& path,
                                hashmatch::v1::SignalType signal_type,
                                uint64_t sequence,
                                const BinaryIndex::View& view) {
  const int code_bits = CodeBitsFor(signal_type);
  if (code_bits == 0 || code_bits != view.code_bits()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "index snapshot: a ", view.code_bits(), "-bit index cannot hold ",
        hashmatch::v1::SignalType_Name(signal_type)));
  }
  const std::string tmp = absl::StrCat(path, ".tmp");
  absl::Status status =
      WriteTempAndRename(path, tmp, signal_type, code_bits, sequence, view);
  if (!status.ok()) ::unlink(tmp.c_str());  // Best effort; may not exist.
  return status;
}

namespace {

absl::Status WriteTempAndRename(const std::string& path, const std::string& tmp,
                                hashmatch::v1::SignalType signal_type,
                                int code_bits, uint64_t sequence,
                                const BinaryIndex::View& view) {
  const size_t code_bytes = static_cast<size_t>(code_bits) / 8;
  const size_t record = 8 + code_bytes;
  // The hash list itself: owner-only (0600) whatever the umask.
  absl::StatusOr<int> opened = OpenPrivateFile(tmp, O_TRUNC);
  if (!opened.ok()) return opened.status();
  Fd fd(*opened);

  // The header is written last (its payload CRC is known only then): write
  // a zero header first, then the payload in 1 MiB chunks.
  std::vector<uint8_t> header(kIndexSnapshotHeaderBytes, 0);
  RETURN_IF_ERROR(WriteAll(fd.get(), header.data(), header.size(), tmp));
  std::vector<uint8_t> buf;
  const size_t chunk = (size_t{1} << 20) / record * record;
  buf.reserve(chunk);
  uint32_t crc = 0;
  uint64_t count = 0;
  absl::Status status;
  view.ForEach([&](uint64_t id, const uint64_t* words) {
    if (!status.ok()) return;
    const size_t at = buf.size();
    buf.resize(at + record);
    PutU64(&buf[at], id);
    std::memcpy(&buf[at + 8], words, code_bytes);
    ++count;
    if (buf.size() >= chunk) {
      crc = Crc32c(crc, buf.data(), buf.size());
      status = WriteAll(fd.get(), buf.data(), buf.size(), tmp);
      buf.clear();
    }
  });
  RETURN_IF_ERROR(status);
  crc = Crc32c(crc, buf.data(), buf.size());
  RETURN_IF_ERROR(WriteAll(fd.get(), buf.data(), buf.size(), tmp));

  std::memcpy(header.data(), kMagic, 8);
  PutU32(&header[8], kIndexSnapshotVersion);
  PutU32(&header[12], static_cast<uint32_t>(signal_type));
  PutU32(&header[16], static_cast<uint32_t>(code_bits));
  PutU32(&header[20], 0);
  PutU64(&header[24], count);
  PutU64(&header[32], sequence);
  PutU32(&header[40], crc);
  PutU32(&header[44], Crc32c(0, header.data(), 44));
  if (::pwrite(fd.get(), header.data(), header.size(), 0) !=
      static_cast<ssize_t>(header.size())) {
    return ErrnoStatus(errno, "writing the header of", tmp);
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync", tmp);
  if (::close(fd.release()) != 0) return ErrnoStatus(errno, "closing", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, "renaming to", path);
  }
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  const std::filesystem::path dir = parent.empty() ? "." : parent;
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
    return ErrnoStatus(errno, "fsync of directory", dir.string());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedIndexSnapshot> ReadIndexSnapshot(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "opening index snapshot", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < kIndexSnapshotHeaderBytes) {
    return absl::DataLossError(absl::StrCat("index snapshot ", path, " has ",
                                            file_size,
                                            " bytes, shorter than its header"));
  }
  uint8_t h[kIndexSnapshotHeaderBytes];
  RETURN_IF_ERROR(ReadAll(fd.get(), h, sizeof(h), path));
  if (std::memcmp(h, kMagic, 8) != 0) {
    return absl::DataLossError(
        absl::StrCat(path, " is not an index snapshot (bad magic)"));
  }
  LoadedIndexSnapshot out;
  IndexSnapshotHeader& hdr = out.header;
  hdr.version = GetU32(h + 8);
  if (hdr.version > kIndexSnapshotVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("index snapshot ", path, " has format version ",
                     hdr.version, ", newer than version ",
                     kIndexSnapshotVersion, " that this build reads"));
  }
  if (GetU32(h + 44) != Crc32c(0, h, 44)) {
    return absl::DataLossError(
        absl::StrCat("index snapshot ", path, ": header checksum mismatch"));
  }
  if (hdr.version == 0) {
    return absl::DataLossError(
        absl::StrCat("index snapshot ", path, ": format version 0"));
  }
  const uint32_t signal = GetU32(h + 12);
  hdr.code_bits = static_cast<int>(GetU32(h + 16));
  hdr.count = GetU64(h + 24);
  hdr.sequence = GetU64(h + 32);
  if (!hashmatch::v1::SignalType_IsValid(static_cast<int>(signal)) ||
      CodeBitsFor(static_cast<hashmatch::v1::SignalType>(signal)) == 0 ||
      CodeBitsFor(static_cast<hashmatch::v1::SignalType>(signal)) !=
          hdr.code_bits ||
      GetU32(h + 20) != 0) {
    return absl::DataLossError(absl::StrCat(
        "index snapshot ", path, ": signal type ", signal, " with ",
        hdr.code_bits, "-bit codes (or flags) is not valid"));
  }
  hdr.signal_type = static_cast<hashmatch::v1::SignalType>(signal);
  const size_t code_bytes = static_cast<size_t>(hdr.code_bits) / 8;
  const uint64_t record = 8 + code_bytes;
  const uint64_t payload = file_size - kIndexSnapshotHeaderBytes;
  if (hdr.count > payload / record || hdr.count * record != payload) {
    return absl::DataLossError(
        absl::StrCat("index snapshot ", path, ": header says ", hdr.count,
                     " entries but the file has ", payload, " payload bytes (",
                     record, " per entry): truncated or extended"));
  }
  out.ids.resize(hdr.count);
  out.words.resize(hdr.count * code_bytes / 8);
  std::vector<uint8_t> buf;
  const uint64_t chunk_records = (uint64_t{1} << 20) / record;
  uint32_t crc = 0;
  for (uint64_t done = 0; done < hdr.count;) {
    const uint64_t n = std::min(chunk_records, hdr.count - done);
    buf.resize(n * record);
    RETURN_IF_ERROR(ReadAll(fd.get(), buf.data(), buf.size(), path));
    crc = Crc32c(crc, buf.data(), buf.size());
    for (uint64_t i = 0; i < n; ++i) {
      const uint8_t* r = &buf[i * record];
      out.ids[done + i] = GetU64(r);
      std::memcpy(&out.words[(done + i) * code_bytes / 8], r + 8, code_bytes);
    }
    done += n;
  }
  if (crc != GetU32(h + 40)) {
    return absl::DataLossError(
        absl::StrCat("index snapshot ", path, ": payload checksum mismatch"));
  }
  return out;
}

}  // namespace hashmatch
