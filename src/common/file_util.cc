#include "src/common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace {

absl::Status ErrnoToStatus(int err, absl::string_view what,
                           absl::string_view path) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    default:
      return absl::InternalError(message);
  }
}

// Creates one directory (its parent exists) with mode 0700 exactly; OK if a
// directory is already there.
absl::Status MakePrivateDir(const std::string& path) {
  if (::mkdir(path.c_str(), kPrivateDirMode) == 0) {
    // mkdir applied the umask; make the mode exact.
    if (::chmod(path.c_str(), kPrivateDirMode) != 0) {
      return ErrnoToStatus(errno, "cannot chmod", path);
    }
    return absl::OkStatus();
  }
  const int err = errno;
  struct stat st;
  if (err == EEXIST && ::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a directory"));
  }
  return ErrnoToStatus(err, "cannot create directory", path);
}

}  // namespace

absl::Status CreatePrivateDirectories(absl::string_view path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("empty directory path");
  }
  // The missing components, deepest last.
  std::vector<std::string> missing;
  std::string p(path);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  for (;;) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(
            absl::StrCat(p, " exists and is not a directory"));
      }
      break;
    }
    if (errno == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("a parent of ", p, " is not a directory"));
    }
    if (errno != ENOENT) return ErrnoToStatus(errno, "cannot stat", p);
    missing.push_back(p);
    const size_t slash = p.find_last_of('/');
    if (slash == std::string::npos) break;  // Relative: the cwd exists.
    if (slash == 0) break;                  // "/x": the root exists.
    p.resize(slash);
    while (p.size() > 1 && p.back() == '/') p.pop_back();
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    absl::Status s = MakePrivateDir(*it);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> OpenPrivateFile(absl::string_view path, int flags) {
  const std::string p(path);
  const int fd = ::open(p.c_str(), flags | O_WRONLY | O_CREAT | O_CLOEXEC,
                        kPrivateFileMode);
  if (fd < 0) return ErrnoToStatus(errno, "cannot create", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 ||
      (S_ISREG(st.st_mode) && (st.st_mode & 07777) != kPrivateFileMode &&
       ::fchmod(fd, kPrivateFileMode) != 0)) {
    const int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "cannot make private", path);
  }
  return fd;
}

absl::StatusOr<int> CreateNewPrivateFile(absl::string_view path) {
  // O_EXCL: never an existing file; with O_CREAT it also refuses a symlink,
  // even a dangling one (O_NOFOLLOW says so once more).
  absl::StatusOr<int> fd = OpenPrivateFile(path, O_EXCL | O_NOFOLLOW);
  if (absl::IsAlreadyExists(fd.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " already exists; not overwriting it"));
  }
  return fd;
}

absl::Status WriteAndSync(int fd, absl::string_view data,
                          absl::string_view path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return ErrnoToStatus(errno, "cannot fsync", path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(absl::string_view path,
                                             size_t max_bytes) {
  const std::string p(path);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat(path, " is ", st.st_size, " bytes, over the limit of ",
                     max_bytes, " bytes"));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "cannot read", path);
    }
    if (n == 0) break;  // The file shrank while we read it.
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(done);
  return data;
}

}  // namespace hashmatch
