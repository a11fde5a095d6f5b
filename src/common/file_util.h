// Reading whole files into memory with a size limit, and creating the
// directories and files that hold data, tokens or keys with owner-only modes.
//
//   ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, 32 << 20));
//   RETURN_IF_ERROR(CreatePrivateDirectories("/var/lib/hashmatch/db"));
//   ASSIGN_OR_RETURN(int fd, CreateNewPrivateFile("agency-a.token"));
//   absl::Status s = WriteAndSync(fd, token + "\n", "agency-a.token");
//   ::close(fd);
//
// Private modes. Whatever the process umask (022, 000, ...), a directory
// created here is 0700 and a file 0600: the mode is set with chmod/fchmod
// after creation, not left to the umask. RocksDB's own files get the same
// through PrivateRocksEnv (index/store/private_env.h).
//
// Thread safety: the functions are thread-safe (no shared state; the umask
// is never changed).
#ifndef HASHMATCH_SRC_COMMON_FILE_UTIL_H_
#define HASHMATCH_SRC_COMMON_FILE_UTIL_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

// The modes of every directory and file the servers and tools create for
// data (stores, queues, snapshots, audit logs, exports), tokens and keys.
inline constexpr mode_t kPrivateDirMode = 0700;
inline constexpr mode_t kPrivateFileMode = 0600;

// Returns the contents of the regular file at `path`.
// Errors: NOT_FOUND (no such file), INVALID_ARGUMENT (not a regular file),
// RESOURCE_EXHAUSTED (larger than `max_bytes`; nothing is read),
// PERMISSION_DENIED, INTERNAL for other I/O errors.
absl::StatusOr<std::string> ReadFileToString(absl::string_view path,
                                             size_t max_bytes);

// Creates directory `path` and its missing parents, each with mode 0700
// exactly. Directories that already exist keep their mode (their owner chose
// it). OK if `path` is already a directory. Errors: FAILED_PRECONDITION if
// `path` or a parent exists and is not a directory, INVALID_ARGUMENT for an
// empty path, PERMISSION_DENIED, INTERNAL for other I/O errors.
absl::Status CreatePrivateDirectories(absl::string_view path);

// open(2)s `path` for writing with `flags` (e.g. O_TRUNC, O_APPEND; O_CREAT,
// O_WRONLY and O_CLOEXEC are added), creating it if missing. A regular file
// (new or not) is then made 0600 exactly, since what is written next is
// private; a device or FIFO (e.g. /dev/stdout) keeps its mode. Returns the
// descriptor, which the caller closes. Errors: NOT_FOUND (no parent
// directory), PERMISSION_DENIED, INTERNAL.
absl::StatusOr<int> OpenPrivateFile(absl::string_view path, int flags);

// Creates the NEW, empty file `path` with mode 0600 exactly and returns its
// descriptor (write-only; the caller closes it). Never opens an existing
// file and never follows a symlink: ALREADY_EXISTS ("... already exists; not
// overwriting it") if anything is at `path`. Other errors as
// OpenPrivateFile.
absl::StatusOr<int> CreateNewPrivateFile(absl::string_view path);

// Writes all of `data` to `fd` (retrying short writes), then fsyncs it.
// `path` names the file in errors. Errors: INTERNAL (e.g. ENOSPC),
// PERMISSION_DENIED.
absl::Status WriteAndSync(int fd, absl::string_view data,
                          absl::string_view path);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_FILE_UTIL_H_
