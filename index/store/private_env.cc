#include "index/store/private_env.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "rocksdb/file_system.h"
#include "src/common/file_util.h"

namespace hashmatch {
namespace {

// EPERM (a file another user owns, e.g. a LOCK or LOG file of a store
// shared through group permissions before) leaves the mode to its owner:
// failing would break an open that worked before, or leak a taken lock.
rocksdb::IOStatus Chmod(const std::string& path, mode_t mode) {
  if (::chmod(path.c_str(), mode) != 0 && errno != EPERM) {
    return rocksdb::IOStatus::IOError("chmod " + path, std::strerror(errno));
  }
  return rocksdb::IOStatus::OK();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

class PrivateFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit PrivateFileSystem(const std::shared_ptr<rocksdb::FileSystem>& t)
      : FileSystemWrapper(t) {}

  static const char* kClassName() { return "HashmatchPrivateFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& f,
                                    const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    return Private(f, target()->NewWritableFile(f, o, r, dbg));
  }
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& f, const rocksdb::FileOptions& o,
      std::unique_ptr<rocksdb::FSWritableFile>* r,
      rocksdb::IODebugContext* dbg) override {
    return Private(f, target()->ReopenWritableFile(f, o, r, dbg));
  }
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& f, const std::string& old,
      const rocksdb::FileOptions& o,
      std::unique_ptr<rocksdb::FSWritableFile>* r,
      rocksdb::IODebugContext* dbg) override {
    return Private(f, target()->ReuseWritableFile(f, old, o, r, dbg));
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f,
                                    const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    return Private(f, target()->NewRandomRWFile(f, o, r, dbg));
  }
  rocksdb::IOStatus LockFile(const std::string& f, const rocksdb::IOOptions& o,
                             rocksdb::FileLock** l,
                             rocksdb::IODebugContext* dbg) override {
    return Private(f, target()->LockFile(f, o, l, dbg));
  }
  rocksdb::IOStatus CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->CreateDir(d, o, dbg);
    return s.ok() ? Chmod(d, kPrivateDirMode) : s;
  }
  rocksdb::IOStatus CreateDirIfMissing(const std::string& d,
                                       const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override {
    const bool existed = Exists(d);
    rocksdb::IOStatus s = target()->CreateDirIfMissing(d, o, dbg);
    return s.ok() && !existed ? Chmod(d, kPrivateDirMode) : s;
  }

 private:
  static rocksdb::IOStatus Private(const std::string& f, rocksdb::IOStatus s) {
    return s.ok() ? Chmod(f, kPrivateFileMode) : s;
  }
};

class PrivateEnv final : public rocksdb::EnvWrapper {
 public:
  explicit PrivateEnv(std::unique_ptr<rocksdb::Env> composite)
      : EnvWrapper(std::move(composite)) {}

  static const char* kClassName() { return "HashmatchPrivateEnv"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::Status NewLogger(const std::string& fname,
                            std::shared_ptr<rocksdb::Logger>* result) override {
    rocksdb::Status s = EnvWrapper::NewLogger(fname, result);
    if (!s.ok()) return s;
    rocksdb::IOStatus chmod = Chmod(fname, kPrivateFileMode);
    if (!chmod.ok()) return rocksdb::Status::IOError(chmod.ToString());
    return s;
  }
};

}  // namespace

rocksdb::Env* PrivateRocksEnv() {
  static rocksdb::Env* const env = [] {
    auto fs =
        std::make_shared<PrivateFileSystem>(rocksdb::FileSystem::Default());
    return new PrivateEnv(rocksdb::NewCompositeEnv(fs));
  }();
  return env;
}

}  // namespace hashmatch
