#include "src/eval/rcc_archive.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/common/utf8.h"

namespace hashmatch {
namespace eval {
namespace {

constexpr uint16_t kFlagCompressed = 0x01;
constexpr uint16_t kFlagDirectory = 0x02;
constexpr uint16_t kFlagZstd = 0x04;
constexpr uint16_t kKnownFlags = kFlagCompressed | kFlagDirectory | kFlagZstd;

uint16_t Be16(const unsigned char* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t Be64(const unsigned char* p) {
  return (uint64_t{Be32(p)} << 32) | Be32(p + 4);
}

// UTF-16 code units to UTF-8; false on a lone surrogate.
bool Utf16ToUtf8(const std::u16string& in, std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    uint32_t c = in[i];
    if (c >= 0xD800 && c <= 0xDBFF) {
      if (i + 1 >= in.size() || in[i + 1] < 0xDC00 || in[i + 1] > 0xDFFF) {
        return false;
      }
      c = 0x10000 + ((c - 0xD800) << 10) + (in[i + 1] - 0xDC00);
      ++i;
    } else if (c >= 0xDC00 && c <= 0xDFFF) {
      return false;
    }
    if (!AppendUtf8(c, out)) return false;
  }
  return true;
}

// Walks the tree of a checked header; fills files.
class TreeWalker {
 public:
  TreeWalker(absl::string_view bytes, const RccOptions& options, int version,
             uint32_t overall_flags, uint32_t tree, uint32_t data,
             uint32_t names)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())),
        size_(bytes.size()),
        options_(options),
        version_(version),
        overall_flags_(overall_flags),
        node_size_(version >= 2 ? 22 : 14),
        tree_(tree),
        data_(data),
        names_(names) {
    const uint64_t fit = (size_ - tree_) / node_size_;
    max_index_ = std::min<uint64_t>(
        fit, static_cast<uint64_t>(std::max<int64_t>(options.max_nodes, 0)));
    visited_.assign(max_index_, false);
  }

  absl::Status Walk(std::vector<RccFile>* files) {
    if (max_index_ == 0) {
      if ((size_ - tree_) / node_size_ == 0) {
        return absl::DataLossError(
            absl::StrCat("rcc: the tree offset ", tree_,
                         " leaves no room for the root node"));
      }
      return TooManyNodes();
    }
    visited_[0] = true;
    nodes_ = 1;
    const unsigned char* root = Node(0);
    const uint16_t flags = Be16(root + 4);
    if ((flags & kFlagDirectory) == 0) {
      return absl::DataLossError("rcc: the root node is not a directory");
    }
    RETURN_IF_ERROR(CheckFlags(0, flags));
    return WalkDir(0, "", 0, files);
  }

 private:
  const unsigned char* Node(uint64_t index) const {
    return p_ + tree_ + index * node_size_;
  }

  absl::Status TooManyNodes() const {
    return absl::ResourceExhaustedError(absl::StrCat(
        "rcc: more than ", options_.max_nodes, " tree nodes (max_nodes)"));
  }

  absl::Status CheckFlags(uint64_t index, uint16_t flags) const {
    if (flags & ~kKnownFlags) {
      return absl::DataLossError(absl::StrCat(
          "rcc: node ", index, " has unknown flags 0x", absl::Hex(flags)));
    }
    const uint16_t comp = flags & (kFlagCompressed | kFlagZstd);
    if ((flags & kFlagDirectory) && comp != 0) {
      return absl::DataLossError(
          absl::StrCat("rcc: directory node ", index, " is marked compressed"));
    }
    if (comp == (kFlagCompressed | kFlagZstd)) {
      return absl::DataLossError(absl::StrCat(
          "rcc: node ", index, " is marked both zlib- and zstd-compressed"));
    }
    if (version_ >= 3 && (comp & ~overall_flags_) != 0) {
      return absl::DataLossError(absl::StrCat(
          "rcc: node ", index, " uses a compression (0x", absl::Hex(comp),
          ") missing from the header's flags 0x", absl::Hex(overall_flags_)));
    }
    return absl::OkStatus();
  }

  // Reads a name; `hash` receives the stored hash.
  absl::Status ReadName(uint64_t index, uint32_t offset, std::string* name,
                        uint32_t* hash) const {
    const uint64_t at = uint64_t{names_} + offset;
    if (at + 6 > size_) {
      return absl::DataLossError(absl::StrCat("rcc: node ", index,
                                              ": name offset ", offset,
                                              " is past the end of the file"));
    }
    const uint16_t len = Be16(p_ + at);
    *hash = Be32(p_ + at + 2);
    if (at + 6 + uint64_t{len} * 2 > size_) {
      return absl::DataLossError(
          absl::StrCat("rcc: node ", index, ": name of ", len,
                       " characters runs past the end of the file"));
    }
    std::u16string units(len, u'\0');
    for (uint16_t i = 0; i < len; ++i) {
      units[i] = static_cast<char16_t>(Be16(p_ + at + 6 + 2 * i));
    }
    name->clear();
    if (!Utf16ToUtf8(units, name)) {
      return absl::DataLossError(
          absl::StrCat("rcc: node ", index, ": name is not valid UTF-16"));
    }
    if (name->empty() || *name == "." || *name == ".." ||
        name->find_first_of(std::string("/\0", 2)) != std::string::npos) {
      return absl::DataLossError(
          absl::StrCat("rcc: node ", index, ": bad name '", *name,
                       "' (empty, '.', '..', or with '/' or NUL)"));
    }
    if (options_.check_name_hashes && RccNameHash(units) != *hash) {
      return absl::DataLossError(absl::StrCat(
          "rcc: node ", index, ": name '", *name, "' has hash 0x",
          absl::Hex(*hash), ", expected 0x", absl::Hex(RccNameHash(units))));
    }
    return absl::OkStatus();
  }

  absl::Status WalkDir(uint64_t index, const std::string& path, int depth,
                       std::vector<RccFile>* files) {
    const unsigned char* node = Node(index);
    const uint32_t count = Be32(node + 6);
    const uint32_t first = Be32(node + 10);
    if (count == 0) return absl::OkStatus();
    if (depth >= options_.max_depth) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "rcc: directory ", path.empty() ? "/" : path, " is deeper than ",
          options_.max_depth, " levels (max_depth)"));
    }
    const uint64_t end = uint64_t{first} + count;
    if (end > max_index_) {
      if (end <= (size_ - tree_) / node_size_) return TooManyNodes();
      return absl::DataLossError(
          absl::StrCat("rcc: directory node ", index, " has children ", first,
                       "..", end - 1, " past the end of the file"));
    }
    uint32_t previous_hash = 0;
    for (uint64_t child = first; child < end; ++child) {
      if (visited_[child]) {
        return absl::DataLossError(absl::StrCat(
            "rcc: node ", child, " is reached twice (from directory node ",
            index, ")"));
      }
      visited_[child] = true;
      if (++nodes_ > static_cast<uint64_t>(options_.max_nodes)) {
        return TooManyNodes();
      }
      const unsigned char* c = Node(child);
      const uint16_t flags = Be16(c + 4);
      RETURN_IF_ERROR(CheckFlags(child, flags));
      std::string name;
      uint32_t hash = 0;
      RETURN_IF_ERROR(ReadName(child, Be32(c), &name, &hash));
      if (options_.check_name_hashes && child > first && hash < previous_hash) {
        return absl::DataLossError(
            absl::StrCat("rcc: children of directory node ", index,
                         " are not sorted by name hash (at '", name, "')"));
      }
      previous_hash = hash;
      const std::string child_path = absl::StrCat(path, "/", name);
      if (flags & kFlagDirectory) {
        RETURN_IF_ERROR(WalkDir(child, child_path, depth + 1, files));
        continue;
      }
      RccFile f;
      f.path = child_path;
      f.country = Be16(c + 6);
      f.language = Be16(c + 8);
      f.compression = (flags & kFlagCompressed) ? RccCompression::kZlib
                      : (flags & kFlagZstd)     ? RccCompression::kZstd
                                                : RccCompression::kNone;
      if (version_ >= 2) f.last_modified_ms = Be64(c + 14);
      const uint64_t at = uint64_t{data_} + Be32(c + 10);
      if (at + 4 > size_) {
        return absl::DataLossError(absl::StrCat(
            "rcc: ", child_path, ": data offset is past the end of the file"));
      }
      const uint32_t stored = Be32(p_ + at);
      if (at + 4 + stored > size_) {
        return absl::DataLossError(
            absl::StrCat("rcc: ", child_path, ": ", stored,
                         " stored bytes run past the end of the file"));
      }
      if (stored > options_.max_file_bytes) {
        return absl::ResourceExhaustedError(
            absl::StrCat("rcc: ", child_path, ": ", stored,
                         " stored bytes are over the limit of ",
                         options_.max_file_bytes, " (max_file_bytes)"));
      }
      f.stored_offset = static_cast<uint32_t>(at + 4);
      f.stored_size = stored;
      files->push_back(std::move(f));
    }
    return absl::OkStatus();
  }

  const unsigned char* p_;
  uint64_t size_;
  const RccOptions& options_;
  int version_;
  uint32_t overall_flags_;
  uint64_t node_size_;
  uint32_t tree_, data_, names_;
  uint64_t max_index_ = 0;
  uint64_t nodes_ = 0;
  std::vector<bool> visited_;
};

absl::StatusOr<std::string> Inflate(absl::string_view path,
                                    absl::string_view stored, int64_t limit) {
  if (stored.size() < 4) {
    return absl::DataLossError(absl::StrCat(
        "rcc: ", path, ": zlib data shorter than its 4-byte length"));
  }
  const uint32_t declared =
      Be32(reinterpret_cast<const unsigned char*>(stored.data()));
  if (declared > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rcc: ", path, ": declares ", declared,
                     " uncompressed bytes, over the limit of ", limit));
  }
  std::string out(size_t{declared} + 1, '\0');
  z_stream z{};
  if (inflateInit(&z) != Z_OK) {
    return absl::InternalError("rcc: zlib inflateInit failed");
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data() + 4));
  z.avail_in = static_cast<uInt>(stored.size() - 4);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  const uint64_t produced = z.total_out;
  const uInt left = z.avail_in;
  const std::string msg = z.msg != nullptr ? z.msg : "";
  inflateEnd(&z);
  if (rc == Z_STREAM_END) {
    if (produced != declared) {
      return absl::DataLossError(
          absl::StrCat("rcc: ", path, ": zlib data inflates to ", produced,
                       " bytes, declared ", declared));
    }
    if (left != 0) {
      return absl::DataLossError(
          absl::StrCat("rcc: ", path, ": ", left,
                       " bytes after the end of the zlib stream"));
    }
    out.resize(declared);
    return out;
  }
  if (produced > declared) {
    return absl::DataLossError(
        absl::StrCat("rcc: ", path, ": zlib data inflates to more than the ",
                     declared, " declared bytes"));
  }
  if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
    return absl::DataLossError(
        absl::StrCat("rcc: ", path, ": corrupt zlib data: ", msg));
  }
  return absl::DataLossError(
      absl::StrCat("rcc: ", path, ": zlib stream is truncated"));
}

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

absl::StatusOr<std::string> Unzstd(absl::string_view path,
                                   absl::string_view stored, int64_t limit) {
  const unsigned long long content =
      ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    return absl::DataLossError(
        absl::StrCat("rcc: ", path, ": not a zstd frame"));
  }
  const bool known = content != ZSTD_CONTENTSIZE_UNKNOWN;
  if (known && content > static_cast<unsigned long long>(limit)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rcc: ", path, ": declares ", content,
                     " uncompressed bytes, over the limit of ", limit));
  }
  const size_t frame =
      ZSTD_findFrameCompressedSize(stored.data(), stored.size());
  if (ZSTD_isError(frame)) {
    return absl::DataLossError(absl::StrCat(
        "rcc: ", path,
        ": truncated or corrupt zstd frame: ", ZSTD_getErrorName(frame)));
  }
  if (frame != stored.size()) {
    return absl::DataLossError(
        absl::StrCat("rcc: ", path, ": ", stored.size() - frame,
                     " bytes after the end of the zstd frame"));
  }
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (dctx == nullptr)
    return absl::InternalError("rcc: ZSTD_createDCtx failed");
  std::string out;
  size_t cap =
      known ? static_cast<size_t>(content) + 1
            : std::min<size_t>(size_t{1} << 16, static_cast<size_t>(limit) + 1);
  out.resize(cap);
  ZSTD_inBuffer in{stored.data(), stored.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  for (;;) {
    const size_t rc = ZSTD_decompressStream(dctx.get(), &ob, &in);
    if (ZSTD_isError(rc)) {
      return absl::DataLossError(absl::StrCat(
          "rcc: ", path, ": corrupt zstd data: ", ZSTD_getErrorName(rc)));
    }
    if (ob.pos > static_cast<size_t>(limit)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("rcc: ", path, ": zstd data inflates to more than ",
                       limit, " bytes"));
    }
    if (rc == 0) break;
    if (ob.pos == ob.size) {
      cap = std::min<size_t>(cap * 2, static_cast<size_t>(limit) + 1);
      out.resize(cap);
      ob.dst = out.data();
      ob.size = out.size();
      continue;
    }
    if (in.pos == in.size) {
      return absl::DataLossError(
          absl::StrCat("rcc: ", path, ": zstd frame is truncated"));
    }
  }
  if (known && ob.pos != content) {
    return absl::DataLossError(absl::StrCat("rcc: ", path, ": zstd data gives ",
                                            ob.pos, " bytes, declared ",
                                            content));
  }
  out.resize(ob.pos);
  return out;
}

}  // namespace

uint32_t RccNameHash(const std::u16string& name) {
  uint32_t h = 0;
  for (char16_t c : name) {
    h = (h << 4) + c;
    h ^= (h & 0xf0000000u) >> 23;
    h &= 0x0fffffffu;
  }
  return h;
}

absl::StatusOr<RccArchive> RccArchive::Open(std::string bytes,
                                            const RccOptions& options) {
  if (static_cast<int64_t>(bytes.size()) > options.max_archive_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "rcc: archive of ", bytes.size(), " bytes is over the limit of ",
        options.max_archive_bytes, " (max_archive_bytes)"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 20 || bytes.compare(0, 4, "qres") != 0) {
    return absl::InvalidArgumentError(
        "rcc: not a Qt resource file (no 'qres' header)");
  }
  RccArchive a;
  const uint32_t version = Be32(p + 4);
  if (version < 1 || version > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("rcc: unsupported rcc format version ", version));
  }
  a.version_ = static_cast<int>(version);
  const uint32_t header_size = version >= 3 ? 24 : 20;
  if (bytes.size() < header_size) {
    return absl::DataLossError(
        absl::StrCat("rcc: ", bytes.size(), "-byte file is shorter than the ",
                     header_size, "-byte version ", version, " header"));
  }
  const uint32_t tree = Be32(p + 8);
  const uint32_t data = Be32(p + 12);
  const uint32_t names = Be32(p + 16);
  if (version >= 3) {
    a.overall_flags_ = Be32(p + 20);
    if (a.overall_flags_ & ~uint32_t{kFlagCompressed | kFlagZstd}) {
      return absl::DataLossError(absl::StrCat("rcc: unknown header flags 0x",
                                              absl::Hex(a.overall_flags_)));
    }
  }
  for (auto [what, off] : {std::pair<const char*, uint32_t>{"tree", tree},
                           {"data", data},
                           {"names", names}}) {
    if (off < header_size || off > bytes.size()) {
      return absl::DataLossError(
          absl::StrCat("rcc: ", what, " offset ", off, " is outside the file (",
                       header_size, "..", bytes.size(), ")"));
    }
  }
  TreeWalker walker(bytes, options, a.version_, a.overall_flags_, tree, data,
                    names);
  RETURN_IF_ERROR(walker.Walk(&a.files_));
  std::stable_sort(
      a.files_.begin(), a.files_.end(),
      [](const RccFile& x, const RccFile& y) { return x.path < y.path; });
  a.bytes_ = std::move(bytes);
  a.options_ = options;
  return a;
}

absl::StatusOr<std::string> RccArchive::Extract(absl::string_view path) {
  auto it = std::lower_bound(
      files_.begin(), files_.end(), path,
      [](const RccFile& f, absl::string_view p) { return f.path < p; });
  if (it == files_.end() || it->path != path) {
    return absl::NotFoundError(
        absl::StrCat("rcc: no file ", path, " in the archive"));
  }
  return Extract(*it);
}

absl::StatusOr<std::string> RccArchive::Extract(const RccFile& file) {
  if (uint64_t{file.stored_offset} + file.stored_size > bytes_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rcc: ", file.path, " is not a file of this archive"));
  }
  const absl::string_view stored(bytes_.data() + file.stored_offset,
                                 file.stored_size);
  const int64_t limit = std::min(options_.max_file_bytes,
                                 options_.max_total_bytes - extracted_bytes_);
  std::string out;
  switch (file.compression) {
    case RccCompression::kNone:
      out = std::string(stored);
      break;
    case RccCompression::kZlib: {
      ASSIGN_OR_RETURN(out,
                       Inflate(file.path, stored, std::max<int64_t>(limit, 0)));
      break;
    }
    case RccCompression::kZstd: {
      ASSIGN_OR_RETURN(out,
                       Unzstd(file.path, stored, std::max<int64_t>(limit, 0)));
      break;
    }
  }
  if (static_cast<int64_t>(out.size()) > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rcc: ", file.path, ": extracting ", out.size(),
                     " more bytes would pass the archive's limit of ",
                     options_.max_total_bytes, " (max_total_bytes)"));
  }
  extracted_bytes_ += static_cast<int64_t>(out.size());
  return out;
}

}  // namespace eval
}  // namespace hashmatch
