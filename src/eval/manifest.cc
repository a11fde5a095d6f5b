#include "src/eval/manifest.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_hasher.h"
#include "src/hashing/image_header.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace eval {
namespace {

struct PackageRoot {
  const char* prefix;
  const char* package;
};

// Longest prefixes first where one contains another.
constexpr PackageRoot kPackageRoots[] = {
    {"/usr/share/wallpapers", "plasma-workspace-wallpapers"},
    {"/usr/share/backgrounds/gnome", "gnome-backgrounds"},
    {"/usr/share/backgrounds/mate", "mate-backgrounds"},
    {"/usr/share/stellarium", "stellarium-data"},
    {"/usr/share/doc/opencv-doc", "opencv-doc"},
    {"/usr/share/gcompris-qt", "gcompris-qt-data"},
    {"/usr/share/scratch", "scratch"},
    {"/usr/share/tuxpaint/stamps", "tuxpaint-stamps-default"},
    {"/usr/share/tuxpaint", "tuxpaint-data"},
    {"/usr/lib/python3/dist-packages/skimage", "python3-skimage"},
    {"/usr/lib/python3/dist-packages/imageio", "python3-imageio"},
};

// Files that show one scene or design under different names (consecutive
// video frames, colour variants, one image in several formats), found by
// hashing the corpus of docs/accuracy.md: path prefix -> group.
constexpr PackageRoot kSameScene[] = {
    {"/usr/lib/python3/dist-packages/skimage/data/chessboard_",
     "skimage/chessboard"},
    {"/usr/share/doc/opencv-doc/examples/data/basketball",
     "opencv-doc/basketball"},
    {"/usr/share/doc/opencv-doc/examples/data/rubberwhale",
     "opencv-doc/rubberwhale"},
    {"/usr/share/backgrounds/mate/desktop/Ubuntu-Mate-",
     "mate/Ubuntu-Mate-no-logo"},
};

bool HasPathPrefix(absl::string_view path, absl::string_view prefix) {
  return path.substr(0, prefix.size()) == prefix &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

bool IsImageName(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" ||
         ext == ".bmp" || ext == ".tif" || ext == ".tiff";
}

absl::StatusOr<std::string> CheckSizeAndMd5(const ManifestEntry& entry,
                                            std::string bytes) {
  if (static_cast<int64_t>(bytes.size()) != entry.size) {
    return absl::DataLossError(
        absl::StrCat(entry.path, ": size mismatch: manifest ", entry.size,
                     " bytes, file ", bytes.size()));
  }
  const std::string md5 = Md5Hex(bytes);
  if (md5 != entry.md5) {
    return absl::DataLossError(absl::StrCat(
        entry.path, ": md5 mismatch: manifest ", entry.md5, ", file ", md5));
  }
  return bytes;
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string PackageForPath(absl::string_view path) {
  for (const PackageRoot& root : kPackageRoots) {
    if (HasPathPrefix(path, root.prefix)) return root.package;
  }
  return "-";
}

std::string GroupForPath(absl::string_view path) {
  for (const PackageRoot& scene : kSameScene) {
    if (path.substr(0, std::strlen(scene.prefix)) == scene.prefix) {
      return scene.package;
    }
  }
  constexpr absl::string_view kPlasma = "/usr/share/wallpapers/";
  if (path.substr(0, kPlasma.size()) == kPlasma) {
    absl::string_view rest = path.substr(kPlasma.size());
    return absl::StrCat("wallpapers/", rest.substr(0, rest.find('/')));
  }
  {
    // NAME_<W>x<H>.EXT -> NAME.EXT
    const size_t dot = path.rfind('.');
    const size_t slash = path.rfind('/');
    const size_t us = path.rfind('_', dot);
    if (dot != absl::string_view::npos && us != absl::string_view::npos &&
        (slash == absl::string_view::npos || us > slash)) {
      absl::string_view res = path.substr(us + 1, dot - us - 1);
      const size_t x = res.find('x');
      int64_t w = 0, h = 0;
      if (x != absl::string_view::npos &&
          absl::SimpleAtoi(res.substr(0, x), &w) &&
          absl::SimpleAtoi(res.substr(x + 1), &h) && w > 0 && h > 0) {
        return absl::StrCat(path.substr(0, us), path.substr(dot));
      }
    }
  }
  if (HasPathPrefix(path, "/usr/share/backgrounds/gnome")) {
    const size_t dot = path.rfind('.');
    absl::string_view stem = path.substr(0, dot);
    if (stem.size() > 2 && (stem.substr(stem.size() - 2) == "-l" ||
                            stem.substr(stem.size() - 2) == "-d")) {
      return std::string(stem.substr(0, stem.size() - 2));
    }
  }
  return std::string(path);
}

namespace {

// One image found while building a manifest.
struct Candidate {
  ManifestEntry entry;
  int64_t pixels = 0;
  std::optional<Hash256> pdq;
  bool trusted = false;  // PDQ quality >= 50.
};

class ManifestBuilder {
 public:
  explicit ManifestBuilder(const ManifestOptions& options)
      : options_(options) {}

  // Considers one image (bytes of `path`).
  void Add(const std::string& path, absl::string_view bytes,
           bool archive_member) {
    absl::StatusOr<ImageHeader> header = ParseImageHeader(bytes);
    if (!header.ok()) return;
    if (std::min(header->width, header->height) < options_.min_side) return;
    Candidate c;
    c.entry.md5 = Md5Hex(bytes);
    if (seen_md5_.count(c.entry.md5)) return;
    DecodeOptions decode;
    decode.max_encoded_bytes = static_cast<size_t>(options_.max_file_bytes);
    if (archive_member && options_.skip_transparent_members) {
      absl::StatusOr<bool> transparent = HasTransparentPixels(bytes, decode);
      if (!transparent.ok() || *transparent) return;
    }
    if (options_.near_duplicate_distance >= 0) {
      HashOptions hash_options;
      hash_options.decode = decode;
      absl::StatusOr<ImageHashes> h =
          hasher_.HashBytes(bytes, {Algorithm::kPdq}, hash_options);
      if (!h.ok()) return;
      const HashResult& r = h->results[0];
      absl::StatusOr<Hash256> bits = Hash256::FromHex(r.hex);
      if (bits.ok()) c.pdq = *bits;
      c.trusted = r.quality.value_or(0) >= kPdqMinTrustedQuality;
    }
    seen_md5_.insert(c.entry.md5);
    c.entry.size = static_cast<int64_t>(bytes.size());
    c.entry.group = GroupForPath(path);
    c.entry.package = PackageForPath(path);
    c.entry.path = path;
    c.pixels = header->width * header->height;
    candidates_.push_back(std::move(c));
  }

  std::vector<ManifestEntry> Finish() {
    // Near duplicates: union of groups, named by the smallest group name.
    std::map<std::string, std::string> parent;
    std::function<std::string(const std::string&)> find =
        [&](const std::string& g) -> std::string {
      auto it = parent.find(g);
      if (it == parent.end() || it->second == g) return g;
      std::string root = find(it->second);
      parent[g] = root;
      return root;
    };
    for (size_t i = 0; i < candidates_.size(); ++i) {
      if (!candidates_[i].pdq) continue;
      for (size_t j = i + 1; j < candidates_.size(); ++j) {
        if (!candidates_[j].pdq ||
            !(candidates_[i].trusted || candidates_[j].trusted)) {
          continue;
        }
        if (HammingDistance(*candidates_[i].pdq, *candidates_[j].pdq) >
            options_.near_duplicate_distance) {
          continue;
        }
        const std::string a = find(candidates_[i].entry.group);
        const std::string b = find(candidates_[j].entry.group);
        if (a == b) continue;
        parent[std::max(a, b)] = std::min(a, b);
        parent.emplace(std::min(a, b), std::min(a, b));
      }
    }
    std::vector<ManifestEntry> entries;
    // Group -> (pixels, index into entries) of its largest file.
    std::map<std::string, std::pair<int64_t, size_t>> group_best;
    for (Candidate& c : candidates_) {
      c.entry.group = find(c.entry.group);
      auto it = group_best.find(c.entry.group);
      if (it != group_best.end()) {
        if (c.pixels > it->second.first) {
          entries[it->second.second] = std::move(c.entry);
          it->second.first = c.pixels;
        }
        continue;
      }
      group_best[c.entry.group] = {c.pixels, entries.size()};
      entries.push_back(std::move(c.entry));
    }
    std::sort(entries.begin(), entries.end(),
              [](const ManifestEntry& a, const ManifestEntry& b) {
                return a.path < b.path;
              });
    return entries;
  }

 private:
  const ManifestOptions& options_;
  ImageHasher hasher_;
  std::set<std::string> seen_md5_;
  std::vector<Candidate> candidates_;
};

bool IsArchiveImageName(absl::string_view inner) {
  std::string ext(inner.substr(std::min(inner.rfind('.'), inner.size())));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp";
}

absl::StatusOr<RccArchive> OpenArchive(const std::string& path,
                                       const RccOptions& options) {
  absl::StatusOr<std::string> bytes = ReadFileToString(
      path,
      static_cast<size_t>(std::max<int64_t>(options.max_archive_bytes, 0)));
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      const std::string package = PackageForPath(path);
      return absl::NotFoundError(absl::StrCat(
          path, " is missing",
          package == "-"
              ? ""
              : absl::StrCat(" (install the Debian package ", package,
                             ": apt-get install ", package, ")")));
    }
    return absl::Status(bytes.status().code(),
                        absl::StrCat(path, ": ", bytes.status().message()));
  }
  absl::StatusOr<RccArchive> archive =
      RccArchive::Open(*std::move(bytes), options);
  if (!archive.ok()) {
    return absl::Status(archive.status().code(),
                        absl::StrCat(path, ": ", archive.status().message()));
  }
  return archive;
}

bool IsArchiveName(const std::filesystem::path& p) {
  return p.extension() == ".rcc";
}

}  // namespace

bool ArchiveMember(absl::string_view path, std::string* archive,
                   std::string* inner) {
  const size_t at = path.find(".rcc:/");
  if (at == absl::string_view::npos) return false;
  *archive = std::string(path.substr(0, at + 4));
  *inner = std::string(path.substr(at + 5));
  return true;
}

absl::StatusOr<std::vector<ManifestEntry>> BuildManifest(
    const std::vector<std::string>& roots, const ManifestOptions& options) {
  std::vector<std::string> files;
  std::vector<std::string> archives;
  for (const std::string& root : roots) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(root, ec) && IsArchiveName(root)) {
      archives.push_back(root);
      continue;
    }
    if (!std::filesystem::is_directory(root, ec)) {
      const std::string package = PackageForPath(root);
      return absl::NotFoundError(absl::StrCat(
          "corpus directory or .rcc archive ", root, " does not exist",
          package == "-"
              ? ""
              : absl::StrCat(": install the Debian package ", package,
                             " (apt-get install ", package, ")")));
    }
    for (auto it = std::filesystem::recursive_directory_iterator(
             root, std::filesystem::directory_options::skip_permission_denied,
             ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      if (IsImageName(it->path())) files.push_back(it->path().string());
      if (IsArchiveName(it->path())) archives.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  std::sort(archives.begin(), archives.end());
  archives.erase(std::unique(archives.begin(), archives.end()), archives.end());

  // Files and archive members in path order ("X.rcc:/..." sorts where the
  // archive's own path would).
  ManifestBuilder builder(options);
  size_t next_file = 0;
  auto add_files_before = [&](const std::string& limit) {
    for (; next_file < files.size() &&
           (limit.empty() || files[next_file] < limit);
         ++next_file) {
      absl::StatusOr<std::string> bytes = ReadFileToString(
          files[next_file], static_cast<size_t>(options.max_file_bytes));
      if (!bytes.ok()) continue;  // Unreadable or over the limit: skipped.
      builder.Add(files[next_file], *bytes, /*archive_member=*/false);
    }
  };
  for (const std::string& archive_path : archives) {
    add_files_before(archive_path);
    ASSIGN_OR_RETURN(RccArchive archive,
                     OpenArchive(archive_path, options.rcc));
    std::string last;
    for (const RccFile& f : archive.files()) {
      if (!IsArchiveImageName(f.path) || f.path == last) continue;
      last = f.path;
      if (f.stored_size > options.max_file_bytes) continue;
      absl::StatusOr<std::string> bytes = archive.Extract(f);
      if (!bytes.ok()) {
        return absl::Status(
            bytes.status().code(),
            absl::StrCat(archive_path, ": ", bytes.status().message()));
      }
      if (static_cast<int64_t>(bytes->size()) > options.max_file_bytes) {
        continue;
      }
      builder.Add(absl::StrCat(archive_path, ":", f.path), *bytes,
                  /*archive_member=*/true);
    }
  }
  add_files_before("");
  std::vector<ManifestEntry> entries = builder.Finish();
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        "no image of at least the minimum side was found in the corpus "
        "directories");
  }
  return entries;
}

std::string FormatManifest(const std::vector<ManifestEntry>& entries) {
  std::string out = absl::StrCat(kManifestHeader, "\n");
  for (const ManifestEntry& e : entries) {
    absl::StrAppend(&out, e.md5, "\t", e.size, "\t", e.group, "\t", e.package,
                    "\t", e.path, "\n");
  }
  return out;
}

absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(
    absl::string_view text, const ManifestOptions& options) {
  std::vector<ManifestEntry> entries;
  std::set<std::string> paths;
  int line_no = 0;
  bool header_seen = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest line ", line_no, ": ", what));
    };
    if (!header_seen) {
      if (line != kManifestHeader) {
        return error(
            absl::StrCat("expected the header '", kManifestHeader, "'"));
      }
      header_seen = true;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, '\t');
    if (cols.size() != 5) {
      return error(
          absl::StrCat("expected 5 tab-separated columns (md5, size, "
                       "group, package, path), got ",
                       cols.size()));
    }
    ManifestEntry e;
    if (cols[0].size() != 32 || !IsHex(cols[0])) {
      return error("md5 must be 32 lower-case hex digits");
    }
    e.md5 = std::string(cols[0]);
    if (!absl::SimpleAtoi(cols[1], &e.size) || e.size < 0) {
      return error(absl::StrCat("bad size '", cols[1], "'"));
    }
    if (e.size > options.max_file_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("manifest line ", line_no, ": size ", e.size,
                       " is over the limit of ", options.max_file_bytes));
    }
    if (cols[2].empty()) return error("empty group");
    if (cols[3].empty()) return error("empty package (use '-')");
    if (cols[4].empty() || cols[4][0] != '/') {
      return error("path must be absolute");
    }
    e.group = std::string(cols[2]);
    e.package = std::string(cols[3]);
    e.path = std::string(cols[4]);
    if (!paths.insert(e.path).second) {
      return error(absl::StrCat("duplicate path ", e.path));
    }
    if (static_cast<int64_t>(entries.size()) >= options.max_entries) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "manifest has more than ", options.max_entries, " entries"));
    }
    entries.push_back(std::move(e));
  }
  if (!header_seen) return absl::InvalidArgumentError("manifest is empty");
  return entries;
}

absl::Status WriteManifestFile(const std::vector<ManifestEntry>& entries,
                               const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  out << FormatManifest(entries);
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ManifestEntry>> ReadManifestFile(
    const std::string& path, const ManifestOptions& options) {
  ASSIGN_OR_RETURN(
      std::string text,
      ReadFileToString(path, static_cast<size_t>(options.max_manifest_bytes)));
  return ParseManifest(text, options);
}

absl::StatusOr<std::string> ReadVerified(const ManifestEntry& entry,
                                         const RccOptions& rcc) {
  std::string archive_path, inner;
  if (ArchiveMember(entry.path, &archive_path, &inner)) {
    ASSIGN_OR_RETURN(RccArchive archive, OpenArchive(archive_path, rcc));
    absl::StatusOr<std::string> bytes = archive.Extract(inner);
    if (!bytes.ok()) {
      return absl::Status(
          bytes.status().code(),
          absl::IsNotFound(bytes.status())
              ? absl::StrCat(archive_path, " has no file ", inner)
              : absl::StrCat(archive_path, ": ", bytes.status().message()));
    }
    return CheckSizeAndMd5(entry, *std::move(bytes));
  }
  std::error_code ec;
  if (!std::filesystem::exists(entry.path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        entry.path, " is missing",
        entry.package == "-"
            ? ""
            : absl::StrCat(" (install the Debian package ", entry.package,
                           ": apt-get install ", entry.package, ")")));
  }
  absl::StatusOr<std::string> bytes =
      ReadFileToString(entry.path, static_cast<size_t>(entry.size));
  if (!bytes.ok()) {
    if (absl::IsResourceExhausted(bytes.status())) {
      return absl::DataLossError(
          absl::StrCat(entry.path, ": size mismatch: manifest ", entry.size,
                       " bytes, the file is larger"));
    }
    return bytes.status();
  }
  return CheckSizeAndMd5(entry, *std::move(bytes));
}

}  // namespace eval
}  // namespace hashmatch
